/**
 * Replica safety on the deployment's shape: two processes of every subgraph and two gateways
 * behind round-robin fronts (topology.ts), on real PostgreSQL, Redis and Kafka, one topology
 * for the whole file. Each test leaves it as it found it: what it kills, it starts again.
 */
import { createTestDatabase, testKafka, testRedis, waitFor } from '../../shared/testing/index.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import type { SubgraphName } from '../../platform/services.ts';
import { consumerGroups } from './consumer-groups.ts';
import type { GroupState } from './consumer-groups.ts';
import { shopAt } from './shop.ts';
import type { Shop } from './shop.ts';
import { startTopology } from './topology.ts';
import type { LogLine, Topology } from './topology.ts';

const ADMIN_EMAIL = 'admin@example.com';
const SUBGRAPH_NAMES = SUBGRAPHS.map((s) => s.name as SubgraphName);

let topology: Topology;
let shop: Shop;
let startedInMs: number;
/** The ADMIN's access token (ADMIN_EMAIL, registered first). */
let admin: string;

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
  admin = (await shop.register(ADMIN_EMAIL)).token;
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
    const reach: Record<SubgraphName, () => Promise<unknown>> = {
      auth: () => shop.register(`someone-${crypto.randomUUID()}@example.com`),
      users: () => shop.data('{ me { id name } }', {}, admin),
      catalog: () => shop.data('{ products(first: 1) { edges { node { id } } } }'),
      orders: () => shop.data('{ cart { totalCents } }', {}, admin),
      analytics: () => shop.data('{ me { activity { loginCount } } }', {}, admin),
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

/** The subgraphs' consumer groups (each gateway's change feed is a group of one). */
const ofSubgraphs = (group: string) => !group.startsWith('gateway.');

/** Every group rebalanced and of `members` members, each holding partitions. */
const spreadOver = (groups: ReadonlyMap<string, GroupState>, members: number) =>
  [...groups.values()].every(
    (group) =>
      group.state === 'Stable' &&
      group.members.length === members &&
      group.members.every((member) => member.partitions > 0),
  );

it('consumer groups split partitions between replicas; a kill -9 moves them all to the survivor, and events keep being processed', () =>
  topology.reporting(async () => {
    const groups = await consumerGroups(topology.kafka.brokers, topology.kafka.topicPrefix);
    try {
      const all = await waitFor(
        async () => {
          const found = await groups.describe(ofSubgraphs);
          const everySubgraph = SUBGRAPH_NAMES.every((subgraph) =>
            [...found.keys()].some((group) => group.startsWith(`${subgraph}.`)),
          );
          return everySubgraph && spreadOver(found, 2) && found;
        },
        {
          timeoutMs: 60_000,
          intervalMs: 200,
          what: 'every group to hold partitions in both replicas',
        },
      );
      const ofCatalog = (group: string) => group.startsWith('catalog.');
      /** Partitions of each catalog group, all of which the survivor must take. */
      const held = new Map(
        [...all]
          .filter(([group]) => ofCatalog(group))
          .map(([group, state]) => [
            group,
            state.members.reduce((sum, m) => sum + m.partitions, 0),
          ]),
      );

      const buyer = await shop.register(`buyer-${crypto.randomUUID()}@example.com`);
      const stock = 100;
      const product = await shop.createProduct(admin, {
        name: 'Rebalance',
        priceCents: 500,
        stock,
      });
      const victim = topology.process('catalog-2');
      await victim.kill();
      const killedAt = Date.now();
      // Orders whose order.placed lands in the dead member's partitions wait for the rebalance.
      const placed: string[] = [];
      for (let i = 0; i < 6; i++) placed.push(await shop.placeOrder(buyer.token, product, 1));

      await waitFor(
        async () => {
          const now = await groups.describe(ofCatalog);
          return (
            now.size === held.size &&
            [...now].every(
              ([group, state]) =>
                state.state === 'Stable' &&
                state.members.length === 1 &&
                state.members[0]!.partitions === held.get(group),
            )
          );
        },
        {
          timeoutMs: 90_000,
          intervalMs: 100,
          what: 'the survivor to hold every catalog partition',
        },
      );
      const rebalancedMs = Date.now() - killedAt;
      const confirmed = async (ids: readonly string[]) => {
        const statuses = await shop.statuses(ids);
        return ids.every((id) => statuses.get(id) === 'CONFIRMED');
      };
      await waitFor(() => confirmed(placed), {
        timeoutMs: 90_000,
        intervalMs: 100,
        what: 'the orders placed during the rebalance to be confirmed',
      });
      const placedDuringMs = Date.now() - killedAt;
      const after = await shop.placeOrder(buyer.token, product, 1);
      const afterStarted = Date.now();
      await waitFor(() => confirmed([after]), {
        timeoutMs: 30_000,
        intervalMs: 50,
        what: 'an order placed after the rebalance to be confirmed',
      });
      const afterMs = Date.now() - afterStarted;
      const { product: left } = await shop.data<{ product: { stock: number } }>(
        'query ($id: ID!) { product(id: $id) { stock } }',
        { id: product },
      );
      // Seven orders of one unit: stock went down seven times, not more, not less.
      expect(left.stock).toBe(stock - 7);

      const restarting = Date.now();
      await victim.start();
      const restartMs = Date.now() - restarting;
      const restartedAt = Date.now();
      await waitFor(async () => spreadOver(await groups.describe(ofCatalog), 2), {
        timeoutMs: 90_000,
        intervalMs: 200,
        what: 'the restarted replica to hold partitions again',
      });
      const resplitMs = Date.now() - restartedAt;
      console.log(
        `consumer groups: ${all.size} groups of 2 members each holding partitions; after kill -9 ` +
          `of catalog-2 the survivor held all ${[...held.values()].join('+')} catalog partitions ` +
          `after ${rebalancedMs} ms (session timeout 6000 ms), the 6 orders placed meanwhile ` +
          `were confirmed ${placedDuringMs} ms after the kill, one placed after the rebalance in ` +
          `${afterMs} ms; restarted, catalog-2 was ready in ${restartMs} ms and held partitions ` +
          `again ${resplitMs} ms later`,
      );
    } finally {
      await groups.close();
    }
  }));
