/**
 * The order saga through a 20 s Kafka outage: the whole platform on a one-node Kafka of this
 * file's own, users placing orders through the gateway in a loop, and the node paused
 * (SIGSTOP: connections stay open, nothing answers) for 20 s, then resumed. Orders placed
 * meanwhile stay PENDING (placing needs only PostgreSQL); once the broker answers again the
 * backlog drains. Measured: how long after the resume until every order placed is settled and
 * every outbox is empty, and the longest any order stayed PENDING.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { testLogger, waitFor } from '../../shared/testing/index.ts';
import { OWN_KAFKA_PORT, startOwnKafka } from '../../shared/testing/own-kafka.ts';
import type { KafkaCluster } from '../../shared/testing/own-kafka.ts';
import { startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';
const PAUSE_MS = 20_000;
const USERS = 4;
/** Generous bounds for a busy 2-core CI machine; the figures themselves are printed. */
const DRAIN_BOUND_MS = 20_000;
const PENDING_BOUND_MS = PAUSE_MS + DRAIN_BOUND_MS;

let cluster: KafkaCluster;
let fixture: TestPlatform;
let db: pg.Client;

interface Placed {
  readonly id: string;
  /** When the client started placing it. */
  readonly startedAt: number;
}

beforeAll(async () => {
  cluster = await startOwnKafka({ basePort: OWN_KAFKA_PORT });
  fixture = await startTestPlatform(
    testLogger(),
    { ADMIN_EMAIL },
    { kafkaBrokers: cluster.brokers },
  );
  db = new pg.Client({ connectionString: fixture.database.url });
  await db.connect();
}, 360_000);

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
  await cluster?.stop();
});

async function createProduct(admin: string, stock: number): Promise<string> {
  const { createProduct: product } = await fixture.data<{ createProduct: { id: string } }>(
    'mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }',
    { input: { name: 'Staple', priceCents: 100, currency: 'EUR', stock } },
    admin,
  );
  await fixture.untilSellable(product.id);
  return product.id;
}

/** One order of one unit, through the gateway as a client places it. */
async function placeOrder(token: string, productId: string): Promise<string> {
  await fixture.data(
    'mutation ($id: ID!) { addToCart(productId: $id, quantity: 1) { totalCents } }',
    { id: productId },
    token,
  );
  const { placeOrder } = await fixture.data<{ placeOrder: { id: string } }>(
    'mutation { placeOrder { id } }',
    {},
    token,
  );
  return placeOrder.id;
}

interface OrderState {
  readonly status: string;
  readonly placedAt: number;
  /** When orders applied catalog's answer (its inbox), or null while PENDING. */
  readonly settledAt: number | null;
}

/** Each order's status and the time orders applied the stock answer that settled it. */
async function orderStates(ids: readonly string[]): Promise<Map<string, OrderState>> {
  const { rows } = await db.query<{
    id: string;
    status: string;
    placed_at: Date;
    settled_at: Date | null;
  }>(
    `select o.id, o.status, o.created_at as placed_at, i.processed_at as settled_at
     from orders.orders o
     left join catalog.outbox c
       on c.key = o.id::text and c.value::jsonb ->> 'type' in ('stock.reserved', 'stock.rejected')
     left join orders.inbox i on i.consumer_group = 'orders.saga' and i.event_id = c.event_id::text
     where o.id = any($1::uuid[])`,
    [ids],
  );
  return new Map(
    rows.map((row) => [
      row.id,
      {
        status: row.status,
        placedAt: row.placed_at.getTime(),
        settledAt: row.settled_at ? row.settled_at.getTime() : null,
      },
    ]),
  );
}

/** Outbox rows not yet sent, over every service's schema. */
async function unsentEvents(): Promise<number> {
  const { rows: schemas } = await db.query<{ schema: string }>(
    `select table_schema as schema from information_schema.tables where table_name = 'outbox'`,
  );
  let unsent = 0;
  for (const { schema } of schemas) {
    const { rows } = await db.query<{ count: string }>(
      `select count(*) from "${schema}".outbox where sent_at is null`,
    );
    unsent += Number(rows[0]!.count);
  }
  return unsent;
}

it('drains a 20 s broker pause under order traffic: every order CONFIRMED, each outbox empty, within bounds after the resume', async () => {
  const admin = await fixture.register(ADMIN_EMAIL);
  const productId = await createProduct(admin, 1_000_000);
  const tokens = await Promise.all(
    Array.from({ length: USERS }, (_, i) => fixture.register(`pause-${i}@example.com`)),
  );

  const placed: Placed[] = [];
  let placing = true;
  const traffic = Promise.all(
    tokens.map(async (token) => {
      while (placing) {
        const startedAt = Date.now();
        placed.push({ id: await placeOrder(token, productId), startedAt });
        await sleep(100);
      }
    }),
  );
  try {
    // The saga runs before the pause: orders get confirmed.
    await waitFor(
      async () =>
        [...(await orderStates(placed.map((o) => o.id))).values()].filter(
          (o) => o.status === 'CONFIRMED',
        ).length >= 10,
      { timeoutMs: 30_000, what: '10 orders confirmed before the pause' },
    );

    const node = cluster.nodes[0]!;
    node.pause();
    const pausedAt = Date.now();
    try {
      await sleep(PAUSE_MS); // the outage itself, not a wait for a result
    } finally {
      node.resume();
    }
    const resumedAt = Date.now();
    placing = false;
    await traffic;

    const ids = placed.map((o) => o.id);
    const placedWhilePaused = placed.filter(
      (o) => o.startedAt > pausedAt && o.startedAt < resumedAt,
    );
    const drained = await waitFor(
      async () => {
        const states = await orderStates(ids);
        return (
          states.size === ids.length &&
          [...states.values()].every((o) => o.status !== 'PENDING') &&
          (await unsentEvents()) === 0 &&
          states
        );
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'every order settled and every outbox empty' },
    );
    const drainMs = Date.now() - resumedAt;
    const pendingMs = [...drained.values()].map((o) => o.settledAt! - o.placedAt);
    const longestPendingMs = Math.max(...pendingMs);
    const settledAfterResume = placedWhilePaused.map((o) => drained.get(o.id)!.settledAt!);
    // How soon the saga moves again (Kafka's recovery), apart from how long the backlog takes.
    const firstSettledMs = Math.min(...settledAfterResume) - resumedAt;

    console.log(
      `broker pause: ${placed.length} orders (${placedWhilePaused.length} placed during the ` +
        `${PAUSE_MS / 1000} s pause); the first of those settled ${firstSettledMs} ms after ` +
        `the resume, all drained after ${drainMs} ms; longest PENDING ${longestPendingMs} ms`,
    );
    expect(placedWhilePaused.length).toBeGreaterThan(10);
    expect(firstSettledMs).toBeGreaterThanOrEqual(0); // the pause did stop the saga
    expect([...drained.values()].filter((o) => o.status !== 'CONFIRMED')).toEqual([]);
    expect(drainMs).toBeLessThan(DRAIN_BOUND_MS);
    expect(longestPendingMs).toBeLessThan(PENDING_BOUND_MS);
  } finally {
    placing = false;
    await traffic.catch(() => undefined);
  }
});
