/**
 * Starts the platform's processes from a parsed environment: everything in one process
 * (development, embedded defaults) or the one service named by `SERVICE`. Services start
 * in dependency order and `stop()` stops them in reverse.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { GatewayHandle } from '../gateway/server.ts';
import { startGateway } from '../gateway/server.ts';
import { createInProcessTransport, startKafkaTransport } from '../shared/events/index.ts';
import type { EventTransport } from '../shared/events/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import type {
  InProcessGraphQL,
  InProcessRequest,
  SubgraphHandle,
  SubgraphRuntimeConfig,
} from '../shared/server/index.ts';
import { JWKS_PATH, startAuthSubgraph } from '../subgraphs/auth/main.ts';
import type { AuthSettings } from '../subgraphs/auth/main.ts';
import { startUsersSubgraph } from '../subgraphs/users/main.ts';
import { startCatalogSubgraph } from '../subgraphs/catalog/main.ts';
import { startOrdersSubgraph } from '../subgraphs/orders/main.ts';
import { startAnalyticsSubgraph } from '../subgraphs/analytics/main.ts';
import type { EmbeddedPostgres } from '../shared/db/index.ts';
import { startSharedDatabase } from './embedded-database.ts';
import { FIRST_QUERY } from './first-query.ts';
import type { PlatformEnv } from './env.ts';
import { SUBGRAPHS, serviceByName } from './services.ts';
import type { SubgraphName } from './services.ts';

export interface PlatformHandle {
  readonly gateway?: GatewayHandle;
  readonly subgraphs: ReadonlyMap<SubgraphName, SubgraphHandle>;
  /**
   * Stops a subgraph of this process (draining it: in-flight requests finish, consumers
   * leave their groups, the relay stops) and starts it again on the same port with the
   * same configuration; `subgraphs` then holds the new handle.
   */
  restart(name: SubgraphName): Promise<SubgraphHandle>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  env: PlatformEnv;
  logger: Logger;
  /**
   * The embedded database the services share (everything in one process, no DATABASE_URL),
   * when the caller started it already; otherwise the platform starts it. It stops with the
   * platform either way.
   */
  sharedDatabase?: Promise<EmbeddedPostgres | undefined>;
}

type SubgraphStarter = (options: {
  config: SubgraphRuntimeConfig;
  env: PlatformEnv;
  logger: Logger;
  transport?: EventTransport;
}) => Promise<SubgraphHandle>;

/** Subgraphs that exist; they start in the order of `platform/services.ts`. */
const STARTERS: Record<SubgraphName, SubgraphStarter> = {
  auth: ({ env, ...options }) => startAuthSubgraph({ ...options, settings: authSettings(env) }),
  users: startUsersSubgraph,
  catalog: startCatalogSubgraph,
  orders: startOrdersSubgraph,
  analytics: startAnalyticsSubgraph,
};

export function authSettings(env: PlatformEnv): AuthSettings {
  return {
    tokenIssuer: env.AUTH_TOKEN_ISSUER,
    tokenAudience: env.AUTH_TOKEN_AUDIENCE,
    accessTokenTtlSeconds: env.AUTH_ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: env.AUTH_REFRESH_TOKEN_TTL_SECONDS,
    signingKeyRotationMs: env.AUTH_SIGNING_KEY_ROTATION_DAYS * 24 * 3600 * 1000,
    loginWindowMs: env.AUTH_LOGIN_WINDOW_SECONDS * 1000,
    maxLoginsPerEmail: env.AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL,
    maxLoginsPerIp: env.AUTH_LOGIN_MAX_ATTEMPTS_PER_IP,
    credentialOpsPerIpPerMinute: env.AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE,
    adminEmail: env.ADMIN_EMAIL,
  };
}

export async function startPlatform(options: PlatformOptions): Promise<PlatformHandle> {
  const { env, logger } = options;
  const stoppers: { name: string; stop: () => Promise<void> }[] = [];
  const subgraphs = new Map<SubgraphName, SubgraphHandle>();
  /** How to start each subgraph of this process again, on a given port. */
  const restarters = new Map<SubgraphName, (port: number) => Promise<SubgraphHandle>>();
  let gateway: GatewayHandle | undefined;
  const stop = async () => {
    for (const { name, stop: stopOne } of stoppers.reverse()) {
      await stopOne().catch((error: unknown) => logger.error({ err: error, name }, 'stop failed'));
    }
  };

  // Separate processes share GATEWAY_TOKEN_SECRET (required then); one process makes its own.
  const gatewayTokenSecret = env.GATEWAY_TOKEN_SECRET ?? randomBytes(48).toString('base64url');
  // The one-process platform's embedded database, when it shares one (set below).
  let sharedDatabaseUrl: string | undefined;
  const subgraphConfig = (name: SubgraphName, port: number): SubgraphRuntimeConfig => ({
    host: env.HOST,
    port,
    nodeEnv: env.NODE_ENV,
    gatewayTokenSecret,
    dataDir: env.DATA_DIR,
    databaseUrl: env.DATABASE_URL ?? sharedDatabaseUrl,
    databaseIsEmbedded: !env.DATABASE_URL && sharedDatabaseUrl !== undefined,
    databasePoolMax: env.DATABASE_POOL_MAX,
    redisUrl: env.REDIS_URL,
    kafkaBrokers: env.KAFKA_BROKERS,
    kafkaTopicPrefix: env.KAFKA_TOPIC_PREFIX,
    kafkaSessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT_MS,
    kafkaPartitions: env.KAFKA_TOPIC_PARTITIONS,
    kafkaCompression: env.KAFKA_COMPRESSION,
    cachePrefix: `${env.REDIS_KEY_PREFIX}${name}:`,
  });

  const startSubgraph = async (
    name: SubgraphName,
    start: (port: number) => Promise<SubgraphHandle>,
    port: number,
  ) => {
    subgraphs.set(name, await start(port));
    restarters.set(name, start);
    // The handle current at stop time (a restart replaces it).
    stoppers.push({ name, stop: () => subgraphs.get(name)!.stop() });
  };

  const runGateway = async (
    endpoints: { name: string; url: string }[],
    sharedTransport: EventTransport | undefined,
    inProcessSubgraphs?: ReadonlyMap<string, InProcessGraphQL>,
  ) => {
    const auth = endpoints.find((endpoint) => endpoint.name === 'auth');
    if (!auth) throw new Error('the gateway needs the auth subgraph (AUTH_URL)');
    // Subscriptions need the domain events: the process's bus, or a Kafka client of its own.
    let transport = sharedTransport;
    if (!transport && env.KAFKA_BROKERS) {
      const own = await startKafkaTransport({
        brokers: env.KAFKA_BROKERS,
        clientId: 'eventgraph-gateway',
        topicPrefix: env.KAFKA_TOPIC_PREFIX,
        logger,
        sessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT_MS,
        defaultPartitions: env.KAFKA_TOPIC_PARTITIONS,
      });
      transport = own;
      stoppers.push({ name: 'gateway event transport', stop: () => own.stop() });
    }
    const started = await startGateway({
      ...(transport ? { transport } : {}),
      config: {
        host: env.HOST,
        port: env.PORT ?? 4000,
        operatorPort:
          env.GATEWAY_OPERATOR_PORT ?? (env.NODE_ENV === 'production' ? 9090 : undefined),
        supergraph:
          env.SUPERGRAPH_SOURCE === 'compose'
            ? { kind: 'compose' }
            : { kind: 'file', path: path.resolve(env.SUPERGRAPH_PATH) },
        subgraphs: endpoints,
        ...(inProcessSubgraphs ? { inProcessSubgraphs } : {}),
        introspection: env.GATEWAY_INTROSPECTION ?? env.NODE_ENV !== 'production',
        sandbox: env.GATEWAY_SANDBOX ?? env.NODE_ENV !== 'production',
        sandboxDocument: FIRST_QUERY,
        gatewayTokenSecret,
        accessTokens: {
          jwksUrl: new URL(JWKS_PATH, auth.url),
          issuer: env.AUTH_TOKEN_ISSUER,
          audience: env.AUTH_TOKEN_AUDIENCE,
          maxAgeSeconds: env.AUTH_ACCESS_TOKEN_TTL_SECONDS,
        },
        redisUrl: env.REDIS_URL,
        revocationPrefix: `${env.REDIS_KEY_PREFIX}auth:`,
        cachePrefix: `${env.REDIS_KEY_PREFIX}gateway:`,
        deduplicateQueries: env.GATEWAY_DEDUPLICATE_QUERIES,
        limits: {
          maxDepth: env.GATEWAY_MAX_DEPTH,
          maxAliases: env.GATEWAY_MAX_ALIASES,
          maxCost: env.GATEWAY_MAX_COST,
          maxTokens: env.GATEWAY_MAX_TOKENS,
          maxBodyBytes: env.GATEWAY_MAX_BODY_BYTES,
          maxBatch: env.GATEWAY_MAX_BATCH,
          maxConcurrentRequests: env.GATEWAY_MAX_CONCURRENT_REQUESTS,
          maxQueuedRequests: env.GATEWAY_MAX_QUEUED_REQUESTS,
          subgraphTimeoutMs: env.GATEWAY_SUBGRAPH_TIMEOUT_MS,
          subgraphConnections: env.GATEWAY_SUBGRAPH_CONNECTIONS,
          rateLimitPerMinute: env.GATEWAY_RATE_LIMIT_PER_MINUTE,
          corsOrigins: env.GATEWAY_CORS_ORIGINS ?? [],
          hsts: env.NODE_ENV === 'production',
        },
        trustedProxies: env.GATEWAY_TRUSTED_PROXIES ?? [],
        responseCache: env.GATEWAY_RESPONSE_CACHE,
        trustedDocumentsPath: env.GATEWAY_TRUSTED_DOCUMENTS
          ? path.resolve(env.GATEWAY_TRUSTED_DOCUMENTS)
          : undefined,
      },
      logger,
    });
    stoppers.push({ name: 'gateway', stop: () => started.stop() });
    return started;
  };

  try {
    if (env.SERVICE && env.SERVICE !== 'gateway') {
      const descriptor = serviceByName(env.SERVICE)!;
      const starter = STARTERS[env.SERVICE];
      const name = env.SERVICE;
      await startSubgraph(
        name,
        (port) => starter({ config: subgraphConfig(name, port), env, logger }),
        env.PORT ?? descriptor.port,
      );
    } else if (env.SERVICE === 'gateway') {
      gateway = await runGateway(
        subgraphNames().map((name) => ({
          name,
          url: env[`${name.toUpperCase()}_URL` as 'USERS_URL']!,
        })),
        undefined,
      );
    } else {
      // Everything in one process: one in-process transport shared by all, unless Kafka is set.
      let transport: EventTransport | undefined;
      if (!env.KAFKA_BROKERS) {
        const shared = createInProcessTransport({
          logger,
          defaultPartitions: env.KAFKA_TOPIC_PARTITIONS,
        });
        transport = shared;
        stoppers.push({ name: 'event transport', stop: () => shared.stop() });
      }
      if (!env.DATABASE_URL) {
        const shared = await (options.sharedDatabase ??
          startSharedDatabase(env.DATA_DIR, logger).database);
        if (shared) {
          sharedDatabaseUrl = shared.url;
          stoppers.push({ name: 'embedded database', stop: () => shared.stop() });
        }
      }
      for (const name of subgraphNames()) {
        const starter = STARTERS[name];
        await startSubgraph(
          name,
          (port) =>
            starter({
              // Subgraphs are internal in one-process mode: loopback, free ports, reached via the gateway.
              config: { ...subgraphConfig(name, port), host: '127.0.0.1' },
              env,
              logger,
              ...(transport ? { transport } : {}),
            }),
          0,
        );
      }
      // The gateway hands its fetches to this process's subgraphs without a socket (to the
      // handle current at the time: a restart replaces it).
      gateway = await runGateway(
        [...subgraphs.values()].map((s) => ({ name: s.name, url: `${s.url}/graphql` })),
        transport,
        new Map(
          [...subgraphs.keys()].map((name) => [
            name,
            (request: InProcessRequest) => subgraphs.get(name)!.graphql(request),
          ]),
        ),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const restart = async (name: SubgraphName) => {
    const current = subgraphs.get(name);
    const start = restarters.get(name);
    if (!current || !start) throw new Error(`no ${name} subgraph runs in this process`);
    await current.stop();
    const next = await start(current.port);
    subgraphs.set(name, next);
    return next;
  };
  return { ...(gateway ? { gateway } : {}), subgraphs, restart, stop };
}

function subgraphNames(): SubgraphName[] {
  return SUBGRAPHS.map((s) => s.name as SubgraphName);
}
