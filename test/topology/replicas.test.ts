/**
 * Replica safety on the deployment's shape: two processes of every subgraph and two gateways
 * behind round-robin fronts (topology.ts), on real PostgreSQL, Redis and Kafka, one topology
 * for the whole file. Each test leaves it as it found it: what it kills, it starts again.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { createEnvelope, dataSchemaUri } from '../../shared/events/index.ts';
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
      auth: () => shop.register(`someone-${randomUUID()}@example.com`),
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

      const buyer = await shop.register(`buyer-${randomUUID()}@example.com`);
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

/**
 * Writes `count` logins of a user to auth's outbox in one transaction, as auth's own publish
 * writes them (the outbox's insert trigger wakes the relays at commit): a backlog the relay
 * drains in batches of 500.
 */
async function publishLogins(userId: string, count: number): Promise<void> {
  const rows = Array.from({ length: count }, () => {
    const event = createEnvelope(
      'auth',
      {
        type: 'user.logged_in',
        subject: userId,
        data: { userId, sessionId: randomUUID(), loggedInAt: new Date().toISOString() },
      },
      dataSchemaUri('user.logged_in', 1),
    );
    return {
      id: event.id,
      key: event.subject,
      value: JSON.stringify(event),
      headers: {
        'content-type': 'application/cloudevents+json; charset=UTF-8',
        ce_id: event.id,
        ce_type: event.type,
        ce_source: event.source,
        ce_subject: event.subject,
      },
    };
  });
  await shop.db.query(
    `insert into auth.outbox (event_id, topic, key, value, headers)
     select (e->>'id')::uuid, 'auth.events', e->>'key', e->>'value', e->'headers'
     from jsonb_array_elements($1::jsonb) as e`,
    [JSON.stringify(rows)],
  );
}

/** The process whose PostgreSQL session holds auth's relay lock now (it is sending a batch). */
async function relayHolder(): Promise<string | undefined> {
  const { rows } = await shop.db.query<{ application_name: string }>(
    `select a.application_name
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.database = (
              select oid from pg_database where datname = current_database())
        and ((l.classid::bigint << 32) | l.objid::bigint)
            = hashtextextended('eventgraph-outbox-relay:auth', 0)`,
  );
  return rows[0]?.application_name;
}

it("the outbox relay's leadership moves when its holder is killed -9 mid-batch: every event arrives, each applied once", () =>
  topology.reporting(async () => {
    const user = await shop.register(`relay-${randomUUID()}@example.com`);
    const topic = `${topology.kafka.topicPrefix}auth.events`;
    const kafka = new kafkajs.Kafka({
      brokers: [...topology.kafka.brokers],
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();
    await kafka.connect();
    try {
      const inKafka = async () =>
        (await kafka.fetchTopicOffsets(topic)).reduce(
          (sum, p) => sum + Number(p.high) - Number(p.low),
          0,
        );
      const outbox = async () =>
        (
          await shop.db.query<{ sent: number; unsent: number }>(
            `select count(*) filter (where sent_at is not null)::int as sent,
                    count(*) filter (where sent_at is null)::int as unsent
               from auth.outbox`,
          )
        ).rows[0]!;

      let published = 0;
      const publish = async (count: number) => {
        await publishLogins(user.id, count);
        published += count;
      };
      await publish(5000);
      // The holder is frozen and looked at: it is killed once it has sent its batch to Kafka
      // and not yet marked it sent (the messages are there, the marks are not), else thawed.
      const caught = await waitFor(
        async () => {
          const holder = await relayHolder();
          if (!holder) {
            if ((await outbox()).unsent === 0) await publish(1000);
            return false;
          }
          const suspect = topology.process(holder);
          suspect.pause();
          let killed = false;
          try {
            const [messages, rows, still] = await Promise.all([inKafka(), outbox(), relayHolder()]);
            if (still !== holder || messages <= rows.sent) return false;
            await suspect.kill();
            killed = true;
            return { victim: suspect, unmarked: messages - rows.sent, unsent: rows.unsent };
          } finally {
            if (!killed) suspect.resume();
          }
        },
        {
          timeoutMs: 120_000,
          intervalMs: 1,
          what: 'a relay caught between its send and its marks',
        },
      );
      const {
        rows: [killedAt],
      } = await shop.db.query<{ at: Date }>('select clock_timestamp() as at');
      const before = published;
      await publish(500);
      const survivor = topology.replicas('auth').find((replica) => replica.running)!;

      const drained = await waitFor(
        async () => {
          const { rows } = await shop.db.query<{ unsent: number; resumed: Date; last: Date }>(
            `select count(*) filter (where sent_at is null)::int as unsent,
                    min(sent_at) filter (where sent_at > $1) as resumed, max(sent_at) as last
               from auth.outbox`,
            [killedAt!.at],
          );
          return rows[0]!.unsent === 0 && rows[0]!;
        },
        { timeoutMs: 90_000, intervalMs: 100, what: 'the survivor to send the whole outbox' },
      );
      const loginCount = async () =>
        (
          await shop.data<{ me: { activity: { loginCount: number } } }>(
            '{ me { activity { loginCount } } }',
            {},
            user.token,
          )
        ).me.activity.loginCount;
      await waitFor(async () => (await loginCount()) >= published, {
        timeoutMs: 90_000,
        intervalMs: 200,
        what: `analytics to count ${published} logins`,
      });
      // Nothing left that could still count a copy: analytics has read auth.events to its end.
      const copies = await inKafka();
      const ends = await kafka.fetchTopicOffsets(topic);
      await waitFor(
        async () => {
          const [committed] = await kafka.fetchOffsets({
            groupId: `${topology.kafka.topicPrefix}analytics.ingest`,
            topics: [topic],
          });
          // -1: nothing committed, as on a partition that never had a message.
          return committed!.partitions.every(
            (p) =>
              Math.max(0, Number(p.offset)) ===
              Number(ends.find((e) => e.partition === p.partition)!.high),
          );
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'analytics to read auth.events to its end' },
      );
      const events = (await outbox()).sent;
      const { eventCounts } = await shop.data<{ eventCounts: { type: string; count: number }[] }>(
        '{ eventCounts(type: "user.logged_in") { type count } }',
        {},
        admin,
      );

      // The batch the kill interrupted went to Kafka twice; every login counted once.
      expect(copies - events).toBe(caught.unmarked);
      expect(await loginCount()).toBe(published);
      expect(eventCounts).toEqual([{ type: 'user.logged_in', count: published }]);
      console.log(
        `outbox relay: ${caught.victim.name} was killed -9 holding auth's relay lock, its batch ` +
          `of ${caught.unmarked} in Kafka and not marked sent (${caught.unsent} of ${before} ` +
          `events unsent); ${survivor.name} sent again ` +
          `${drained.resumed.getTime() - killedAt!.at.getTime()} ms later and the whole outbox ` +
          `(500 more published after the kill) ` +
          `${drained.last.getTime() - killedAt!.at.getTime()} ms after the kill; Kafka holds ` +
          `${copies} messages for ${events} events; analytics counted ${published} logins, ` +
          `each once`,
      );
      await caught.victim.start();
    } finally {
      await kafka.disconnect();
    }
  }));
