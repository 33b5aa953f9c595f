/**
 * The platform fixture for end-to-end tests: the whole platform in this process against the
 * test PostgreSQL (a database of its own), Redis (a key prefix of its own) and the Kafka test
 * broker (a topic prefix of its own), plus helpers that talk to it as clients do.
 */
import kafkajs from 'kafkajs';
import pg from 'pg';
import { loadConfig } from '../../shared/config/index.ts';
import { createGatewayTokens } from '../../shared/auth/index.ts';
import type { AccessTokenClaims } from '../../shared/auth/index.ts';
import { createEnvelope, dataSchemaUri } from '../../shared/events/index.ts';
import type { EventEnvelope } from '../../shared/events/index.ts';
import {
  createTestDatabase,
  postGraphQL,
  testKafka,
  testLogger,
  testRedis,
  waitFor,
} from '../../shared/testing/index.ts';
import type {
  GraphQLResponse,
  TestDatabase,
  TestKafka,
  TestRedis,
} from '../../shared/testing/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { platformEnvSchema } from '../../platform/env.ts';
import { startPlatform } from '../../platform/platform.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import type { PlatformHandle } from '../../platform/platform.ts';

/** The password of the accounts tests register. */
export const TEST_PASSWORD = 'correct horse battery staple';

/** The secret tests start the platform with, so they can also forge with the right key. */
export const TEST_GATEWAY_SECRET = 'test-gateway-secret-0123456789-abcdefghijklmnop';

export interface TestPlatform {
  readonly platform: PlatformHandle;
  readonly gatewayUrl: string;
  readonly database: TestDatabase;
  readonly redis: TestRedis;
  readonly kafka: TestKafka;
  /** A GraphQL request through the gateway, with `Bearer accessToken` when given. */
  gql<TData = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    accessToken?: string,
  ): Promise<GraphQLResponse<TData>>;
  /** A GraphQL request straight to a subgraph, carrying a gateway token signed for `claims`. */
  subgraphGql<TData = Record<string, unknown>>(
    subgraph: string,
    query: string,
    variables?: Record<string, unknown>,
    claims?: AccessTokenClaims | null,
  ): Promise<GraphQLResponse<TData>>;
  /** A GraphQL request through the gateway that must succeed (no errors); its data. */
  data<TData = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    accessToken?: string,
  ): Promise<TData>;
  /** Registers an account (password TEST_PASSWORD); its access token. */
  register(email: string, name?: string): Promise<string>;
  /** Waits until orders can sell a product (it learns of products by event). */
  untilSellable(productId: string): Promise<void>;
  /** Puts envelopes on `<prefix><topic>` as their publisher would (key: the subject). */
  produce(topic: string, events: readonly EventEnvelope[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestPlatform(
  logger: Logger,
  env: Record<string, string> = {},
  /**
   * `kafka: false` runs the platform on its in-process event bus instead; `kafkaBrokers`
   * on a Kafka of the test's own (one it kills or pauses) instead of the run's.
   */
  options: { kafka?: boolean; kafkaBrokers?: readonly string[] } = {},
): Promise<TestPlatform> {
  const database = await createTestDatabase();
  const redis = testRedis();
  const runKafka = testKafka();
  const kafka = options.kafkaBrokers
    ? { ...runKafka, brokers: [...options.kafkaBrokers] }
    : runKafka;
  let platform: PlatformHandle;
  try {
    platform = await startPlatform({
      env: loadConfig(platformEnvSchema, {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        PORT: '0',
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: redis.prefix,
        ...(options.kafka === false
          ? {}
          : {
              KAFKA_BROKERS: kafka.brokers.join(','),
              KAFKA_TOPIC_PREFIX: kafka.topicPrefix,
              KAFKA_SESSION_TIMEOUT_MS: '6000',
            }),
        GATEWAY_TOKEN_SECRET: TEST_GATEWAY_SECRET,
        // Every test client is one address; tests of the rate limit set their own.
        GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
        AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: '1000000',
        // Production moves /ready and /metrics to an operator port (9090): any free one here.
        ...(env['NODE_ENV'] === 'production' ? { GATEWAY_OPERATOR_PORT: '0' } : {}),
        ...env,
      }),
      logger,
    });
  } catch (error) {
    await database.drop();
    throw error;
  }
  const gatewayUrl = platform.gateway!.url;
  const gatewayTokens = createGatewayTokens({ secret: TEST_GATEWAY_SECRET });
  const gql = <TData>(
    query: string,
    variables?: Record<string, unknown>,
    accessToken?: string,
  ): Promise<GraphQLResponse<TData>> =>
    postGraphQL<TData>(
      `${gatewayUrl}/graphql`,
      query,
      variables,
      accessToken ? { authorization: `Bearer ${accessToken}` } : {},
    );
  const data = async <TData>(
    query: string,
    variables?: Record<string, unknown>,
    accessToken?: string,
  ): Promise<TData> => {
    const response = await gql<TData>(query, variables, accessToken);
    expect(response.body.errors).toBeUndefined();
    return response.body.data!;
  };
  return {
    platform,
    gatewayUrl,
    database,
    redis,
    kafka,
    gql,
    data,
    async register(email, name = email.split('@')[0]!) {
      const { register } = await data<{ register: { accessToken: string } }>(
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
        { input: { email, password: TEST_PASSWORD, name } },
      );
      return register.accessToken;
    },
    async untilSellable(productId) {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await waitFor(
          async () =>
            (
              await client.query('select 1 from orders.products where id = $1 and on_sale', [
                productId,
              ])
            ).rowCount === 1,
          { timeoutMs: 10_000, what: `orders to learn of product ${productId}` },
        );
      } finally {
        await client.end();
      }
    },
    async subgraphGql(subgraph, query, variables, claims = null) {
      const handle = platform.subgraphs.get(subgraph as 'users');
      if (!handle) throw new Error(`no ${subgraph} subgraph in this platform`);
      return postGraphQL(`${handle.url}/graphql`, query, variables, {
        'x-eventgraph-gateway-token': await gatewayTokens.sign({ claims, clientIp: null }),
      });
    },
    async produce(topic, events) {
      const producer = new kafkajs.Kafka({
        brokers: kafka.brokers,
        logLevel: kafkajs.logLevel.NOTHING,
      }).producer();
      await producer.connect();
      try {
        await producer.send({
          topic: `${kafka.topicPrefix}${topic}`,
          messages: events.map((event) => ({
            key: event.subject,
            value: JSON.stringify(event),
          })),
        });
      } finally {
        await producer.disconnect();
      }
    },
    async stop() {
      await platform.stop();
      await database.drop();
    },
  };
}

/** The `extensions.code` of each error of a response, in order. */
export function codes(response: GraphQLResponse): unknown[] {
  return (response.body.errors ?? []).map((error) => error.extensions?.['code']);
}

/** A JWT's header (0) or payload (1), decoded without any verification. */
export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

/** An access token's claims, decoded without verification. */
export function claimsOf(accessToken: string): AccessTokenClaims {
  return decodePart(accessToken, 1) as unknown as AccessTokenClaims;
}

/** A `user.registered` envelope as auth publishes it, for tests that play auth on Kafka. */
export function userRegisteredEvent(user: {
  id: string;
  email: string;
  name: string;
  registeredAt: string;
}): EventEnvelope {
  return createEnvelope(
    'auth',
    {
      type: 'user.registered',
      subject: user.id,
      data: {
        userId: user.id,
        email: user.email,
        name: user.name,
        role: 'USER',
        registeredAt: user.registeredAt,
      },
    },
    dataSchemaUri('user.registered', 1),
  );
}

/**
 * The gateway alone (`SERVICE=gateway`) on a free port, its own Redis prefix, with every built
 * subgraph's URL pointing where nothing listens: for tests answered by the gateway itself.
 */
export function startLoneGateway(env: Record<string, string> = {}): Promise<PlatformHandle> {
  const redis = testRedis();
  return startPlatform({
    env: loadConfig(platformEnvSchema, {
      SERVICE: 'gateway',
      PORT: '0',
      LOG_LEVEL: 'silent',
      GATEWAY_TOKEN_SECRET: TEST_GATEWAY_SECRET,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      ...(env['NODE_ENV'] === 'production' ? { GATEWAY_OPERATOR_PORT: '0' } : {}),
      ...Object.fromEntries(
        SUBGRAPHS.map((s) => [`${s.name.toUpperCase()}_URL`, 'http://127.0.0.1:9/graphql']),
      ),
      ...env,
    }),
    logger: testLogger(),
  });
}
