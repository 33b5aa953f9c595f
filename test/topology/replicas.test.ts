/**
 * Replica safety on the deployment's shape: two processes of every subgraph and two gateways
 * behind round-robin fronts (topology.ts), on real PostgreSQL, Redis and Kafka, one topology
 * for the whole file. Each test leaves it as it found it: what it kills, it starts again.
 */
import { createTestDatabase, testKafka, testRedis, waitFor } from '../../shared/testing/index.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import type { SubgraphName } from '../../platform/services.ts';
import { shopAt } from './shop.ts';
import type { Shop } from './shop.ts';
import { startTopology } from './topology.ts';
import type { LogLine, Topology } from './topology.ts';

const ADMIN_EMAIL = 'admin@example.com';
const SUBGRAPH_NAMES = SUBGRAPHS.map((s) => s.name as SubgraphName);

let topology: Topology;
let shop: Shop;
let startedInMs: number;

beforeAll(async () => {
  const started = Date.now();
  topology = await startTopology({
    replicas: { auth: 2, users: 2, catalog: 2, orders: 2, analytics: 2 },
    gateways: 2,
    database: await createTestDatabase(),
    redis: testRedis(),
    kafka: testKafka(),
    nodeEnv: 'test',
    env: {
      ADMIN_EMAIL,
      // Every client of the tests is one address (the front's).
      GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
      AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: '1000000',
    },
  });
  startedInMs = Date.now() - started;
  shop = shopAt(topology.url, topology.databaseUrl);
});

afterAll(async () => {
  await shop?.close();
  await topology?.stop();
});

/** The message of a JSON log line ('' for a line that is not JSON). */
const msg = (line: LogLine) => {
  const message = line.entry?.['msg'];
  return typeof message === 'string' ? message : '';
};

/** Whether a process has answered a GraphQL request since it last started. */
const servedGraphql = (lines: readonly LogLine[], incarnation: number) =>
  lines.some(
    (line) =>
      line.incarnation === incarnation &&
      msg(line) === 'request completed' &&
      line.entry?.['path'] === '/graphql',
  );

it('two replicas of every subgraph started at once on an empty database migrate it once, and both serve', () =>
  topology.reporting(async () => {
    console.log(
      `topology of ${topology.processes.length} processes ready ${startedInMs} ms after the start`,
    );
    for (const subgraph of SUBGRAPH_NAMES) {
      const replicas = topology.replicas(subgraph);
      const outcomes = replicas.map((replica) => {
        const line = replica
          .logs()
          .find((l) => /^database (migrated|schema is current)/.test(msg(l)));
        return (line?.entry?.['migrationsApplied'] as string[] | undefined) ?? null;
      });
      // One replica applied every migration, the other found the schema current.
      const applied = outcomes.filter((names) => names && names.length > 0);
      expect({
        subgraph,
        migrated: applied.length,
        current: outcomes.filter((n) => n?.length === 0).length,
      }).toEqual({
        subgraph,
        migrated: 1,
        current: 1,
      });
      const { rows } = await shop.db.query<{ name: string; times: number }>(
        `select name, count(*)::int as times from "${subgraph}".schema_migrations group by name order by name`,
      );
      expect(rows).toEqual([...applied[0]!].sort().map((name) => ({ name, times: 1 })));
    }

    for (const replica of topology.processes) {
      const ready = await fetch(replica.readyUrl);
      expect({ replica: replica.name, status: ready.status }).toEqual({
        replica: replica.name,
        status: 200,
      });
    }

    // Through the front, requests reach every replica of every subgraph.
    const admin = await shop.register(ADMIN_EMAIL);
    const reach: Record<SubgraphName, () => Promise<unknown>> = {
      auth: () => shop.register(`someone-${crypto.randomUUID()}@example.com`),
      users: () => shop.data('{ me { id name } }', {}, admin.token),
      catalog: () => shop.data('{ products(first: 1) { edges { node { id } } } }'),
      orders: () => shop.data('{ cart { totalCents } }', {}, admin.token),
      analytics: () => shop.data('{ me { activity { loginCount } } }', {}, admin.token),
    };
    for (const subgraph of SUBGRAPH_NAMES) {
      await waitFor(
        async () => {
          await reach[subgraph]();
          return topology
            .replicas(subgraph)
            .every((replica) => servedGraphql(replica.logs(), replica.incarnation));
        },
        { timeoutMs: 60_000, intervalMs: 0, what: `a request to each ${subgraph} replica` },
      );
    }
  }));
