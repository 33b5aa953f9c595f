/**
 * The walking skeleton end to end on real servers: the platform (gateway + users) against
 * PostgreSQL, Redis and Kafka, exercised through HTTP as clients
 * and operators use it.
 */
import kafkajs from 'kafkajs';
import { captureLogs, postGraphQL, waitFor } from '../../shared/testing/index.ts';
import { startTestPlatform, userRegisteredEvent } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

let fixture: TestPlatform;
let gatewayUrl: string;
let usersUrl: string;
const logs = captureLogs();

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger);
  gatewayUrl = fixture.gatewayUrl;
  usersUrl = fixture.platform.subgraphs.get('users')!.url;
});

afterAll(async () => {
  await fixture?.stop();
});

describe('gateway over the users subgraph', () => {
  it('answers a query through the composed graph', async () => {
    const response = await postGraphQL(`${gatewayUrl}/graphql`, '{ __typename }');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('returns null for `me` when the caller is anonymous', async () => {
    const response = await postGraphQL(`${gatewayUrl}/graphql`, '{ me { id name } }');
    expect(response.body).toEqual({ data: { me: null } });
  });

  it('refuses `user(id)` to anonymous callers with UNAUTHENTICATED, before any subgraph runs', async () => {
    const response = await postGraphQL(
      `${gatewayUrl}/graphql`,
      'query ($id: ID!) { user(id: $id) { id } }',
      { id: '0194a3c0-0000-7000-8000-000000000001' },
    );
    expect(response.body).toEqual({
      errors: [
        {
          message: 'You must be signed in to read Query.user',
          path: ['user'],
          extensions: { code: 'UNAUTHENTICATED' },
        },
      ],
    });
  });

  it('reports invalid operations as client errors, not internal ones', async () => {
    const response = await postGraphQL(`${gatewayUrl}/graphql`, '{ noSuchField }');
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(
      logs.lines.filter((line) => line['msg'] === 'internal error in GraphQL operation'),
    ).toEqual([]);
  });

  it('carries the request id from the gateway to the subgraph and back', async () => {
    const requestId = 'test-request-0001';
    const response = await postGraphQL(`${gatewayUrl}/graphql`, '{ me { id } }', undefined, {
      'x-request-id': requestId,
    });
    expect(response.headers.get('x-request-id')).toBe(requestId);
    const servicesThatSawIt = logs.lines
      .filter((line) => line['requestId'] === requestId && line['msg'] === 'request completed')
      .map((line) => line['service']);
    expect(servicesThatSawIt.sort()).toEqual(['gateway', 'users']);
  });
});

describe('operations endpoints', () => {
  it.each([['gateway'], ['users']])('%s answers /health, /ready and /metrics', async (which) => {
    const base = which === 'gateway' ? gatewayUrl : usersUrl;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain(`http_request_duration_seconds_count{`);
  });

  it("checks the users subgraph's database, cache and broker for readiness", async () => {
    const ready = (await (await fetch(`${usersUrl}/ready`)).json()) as { checks: unknown };
    expect(ready.checks).toEqual({ database: 'ok', cache: 'ok', events: 'ok' });
  });
});

describe('events into the users subgraph', () => {
  it('creates profiles from user.registered events on Kafka; a redelivery changes nothing', async () => {
    const userId = '0194a3c0-0000-7000-8000-0000000000aa';
    const laterUserId = '0194a3c0-0000-7000-8000-0000000000bb';
    const registered = (id: string, name: string) =>
      userRegisteredEvent({
        id,
        email: `${name.toLowerCase()}@example.com`,
        name,
        registeredAt: '2026-11-22T10:00:00.000Z',
      });
    const first = registered(userId, 'Ada');
    const producer = new kafkajs.Kafka({
      brokers: fixture.kafka.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    }).producer();
    await producer.connect();
    try {
      const message = { key: userId, value: JSON.stringify(first) };
      // The same event twice (the second must change nothing and block nothing), then another.
      const later = { key: userId, value: JSON.stringify(registered(laterUserId, 'Grace')) };
      await producer.send({
        topic: `${fixture.kafka.topicPrefix}auth.events`,
        messages: [message, message, later],
      });
    } finally {
      await producer.disconnect();
    }

    const query = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id email name role createdAt } } }`;
    const entities = await waitFor(
      async () => {
        const response = await fixture.subgraphGql<{ _entities: unknown[] }>('users', query, {
          reps: [
            { __typename: 'User', id: userId },
            { __typename: 'User', id: laterUserId },
          ],
        });
        const found = response.body.data?._entities;
        return found?.every(Boolean) ? found : undefined;
      },
      { timeoutMs: 30_000, what: 'both profiles to appear' },
    );
    expect(entities).toEqual([
      {
        id: userId,
        email: 'ada@example.com',
        name: 'Ada',
        role: 'USER',
        createdAt: '2026-11-22T10:00:00.000Z',
      },
      {
        id: laterUserId,
        email: 'grace@example.com',
        name: 'Grace',
        role: 'USER',
        createdAt: '2026-11-22T10:00:00.000Z',
      },
    ]);
  });
});
