/**
 * Order saga benchmark (`npm run bench:saga`): at one client, how long after `placeOrder`
 * answers the order is CONFIRMED. The whole platform runs in this process as `npm start` runs
 * it with KAFKA_BROKERS set (every service and the gateway, NODE_ENV=production, each service
 * with its own Kafka client) on real PostgreSQL, Redis and Kafka; one signed-up user adds to
 * the cart and places orders one after another through the gateway's GraphQL, and follows
 * them over graphql-ws (`orderStatusChanged`). See bench/README.md.
 *
 *   node bench/saga.bench.ts [--orders 200] [--warmup 20] [--nodes 1] [--help] ...
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { platformEnvSchema } from '../platform/env.ts';
import { startPlatform } from '../platform/platform.ts';
import { loadConfig, redactUrl } from '../shared/config/index.ts';
import { DEFAULT_RELAY_LINGER_MS } from '../shared/events/index.ts';
import {
  cleanup,
  cleanUpOnSignals,
  interrupted,
  onCleanup,
  progress,
  runBenchmark,
  sleep,
} from './lib/harness.ts';
import { KAFKA_DEFAULTS } from './lib/pipelines.ts';
import {
  adminQuery,
  benchRedisPrefix,
  createBenchDatabase,
  createBenchLogger,
  flagParsers,
  grantAdmin,
  newRunId,
  redisUrl,
  serverUrl,
  startBus,
} from './lib/setup.ts';
import type { Bus } from './lib/setup.ts';
import { fmt, ratio, summarize, table } from './lib/stats.ts';
import type { Summary } from './lib/stats.ts';

const USAGE = `Usage: node bench/saga.bench.ts [options]

  --orders N        orders measured, one after another (200)
  --warmup N        orders placed first and not measured (20; more while the client's
                    subscription has not delivered one yet)
  --items N         cart lines per order (1)
  --think-ms N      a random pause of 0..N ms between orders, so orders do not fall in step
                    with a consumer's fetch cycle (50)
  --timeout-s N     longest wait for one order's CONFIRMED (30)
  --nodes N         Kafka nodes to start (1, as docker-compose.yml runs; 3 for a cluster)
  --base-port N     first Kafka node's client port (49092; its controller listens 10 above;
                    tests use 19092, 19292 and 19392, bench:events 19592, bench:analytics 59092)
  -h, --help

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres; the
benchmark creates and drops its own database there), BENCH_REDIS_URL (default
redis://127.0.0.1:6379; its keys are deleted after), KAFKA_BROKERS (use these brokers instead
of starting Kafka; the run's topics and groups are deleted after), BENCH_LOG_LEVEL
(code-under-test log lines shown on stderr, default warn).`;

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    items: { type: 'string', default: '1' },
    'think-ms': { type: 'string', default: '50' },
    'timeout-s': { type: 'string', default: '30' },
    nodes: { type: 'string', default: '1' },
    'base-port': { type: 'string', default: '49092' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const { int } = flagParsers(USAGE);
const opts = {
  orders: int('orders', values.orders),
  warmup: int('warmup', values.warmup, 0),
  items: int('items', values.items),
  thinkMs: int('think-ms', values['think-ms'], 0),
  timeoutMs: int('timeout-s', values['timeout-s']) * 1000,
  nodes: int('nodes', values.nodes),
  basePort: int('base-port', values['base-port']),
};

const EMAIL = 'saga-bench@example.com';
const PASSWORD = 'correct horse battery staple';
const PRODUCTS = 4;
/** A warm-up longer than this many extra orders means the subscription never works. */
const MAX_EXTRA_WARMUP = 100;
/** How long the subscription may stay silent before the order is polled as well. */
const FEED_GRACE_MS = 3000;
const POLL_MS = 50;

const log = createBenchLogger();
const runId = newRunId();

/** Wall-clock time in ms with sub-ms precision: comparable with PostgreSQL's timestamps. */
const wallNow = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// The client: GraphQL over HTTP, and orderStatusChanged over graphql-ws

interface GraphQLClient {
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  signIn(token: string): void;
}

function graphqlClient(url: string): GraphQLClient {
  let token: string | undefined;
  return {
    signIn(value) {
      token = value;
    },
    async request<T>(query: string, variables: Record<string, unknown> = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown[] };
      if (body.errors || !body.data) {
        throw new Error(`GraphQL ${query.split('{')[0]!.trim()}: ${JSON.stringify(body.errors)}`);
      }
      return body.data;
    },
  };
}

/** The client's view of `orderStatusChanged` for every order (the user is an ADMIN). */
interface StatusFeed {
  /** Resolves once the feed has delivered CONFIRMED for the order (at once if it has). */
  confirmed(orderId: string): Promise<void>;
  /** When the client received CONFIRMED for the order (wall clock, ms). */
  confirmedAt(orderId: string): number | undefined;
  /** Why the feed ended early, if it did. */
  failure(): string | undefined;
  close(): Promise<void>;
}

function followOrders(wsUrl: string, token: string): StatusFeed {
  const receivedAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  let failure: string | undefined;
  /** Set by close(): what the client's own disposal ends is no failure. */
  let closing = false;
  const fail = (reason: string) => {
    if (!closing) failure ??= reason;
  };
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    // A lost connection would lose updates: the run reports it rather than reconnect quietly.
    retryAttempts: 0,
    onNonLazyError: (error) => fail(`graphql-ws: ${String(error)}`),
  });
  client.subscribe<{ orderStatusChanged: { id: string; status: string } }>(
    { query: 'subscription { orderStatusChanged { id status } }' },
    {
      next(result) {
        const at = wallNow();
        const order = result.data?.orderStatusChanged;
        if (!order || order.status !== 'CONFIRMED' || receivedAt.has(order.id)) return;
        receivedAt.set(order.id, at);
        waiters.get(order.id)?.();
        waiters.delete(order.id);
      },
      error: (error) => fail(`orderStatusChanged ended: ${JSON.stringify(error)}`),
      complete: () => fail('orderStatusChanged completed'),
    },
  );
  return {
    confirmed: (orderId) =>
      new Promise((resolve) => {
        if (receivedAt.has(orderId)) resolve();
        else waiters.set(orderId, resolve);
      }),
    confirmedAt: (orderId) => receivedAt.get(orderId),
    failure: () => failure,
    async close() {
      closing = true;
      await client.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Setting up: the platform, one user (an ADMIN, so one subscription follows all its orders),
// products to buy

interface Session {
  readonly gateway: GraphQLClient;
  readonly feed: StatusFeed;
  readonly products: readonly string[];
}

/** Polls `check` every 100 ms until it returns true; throws after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + opts.timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${opts.timeoutMs} ms`);
    if (interrupted()) throw new Error('interrupted');
    await sleep(100);
  }
}

/**
 * Makes the user an ADMIN as production does (npm run users:set-role) and signs in again:
 * the change ended its sessions, and the new token carries the ADMIN role.
 */
async function promoteToAdmin(databaseUrl: string, gateway: GraphQLClient): Promise<string> {
  await grantAdmin(databaseUrl, EMAIL, opts.timeoutMs);
  const { login } = await gateway.request<{ login: { accessToken: string } }>(
    'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
    { e: EMAIL, p: PASSWORD },
  );
  return login.accessToken;
}

async function startSaga(databaseUrl: string, bus: Bus): Promise<Session> {
  progress('starting the platform: every service and the gateway in this process');
  const platform = await startPlatform({
    env: loadConfig(platformEnvSchema, {
      NODE_ENV: 'production',
      PORT: '0',
      // /ready and /metrics on a free operator port rather than production's 9090.
      GATEWAY_OPERATOR_PORT: '0',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: benchRedisPrefix(runId),
      KAFKA_BROKERS: bus.brokers.join(','),
      KAFKA_TOPIC_PREFIX: bus.topicPrefix,
      // Every request comes from one client at one address, faster than a person's pace.
      GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
      // The token also ends the client's WebSocket when it expires: outlive a long run.
      AUTH_ACCESS_TOKEN_TTL_SECONDS: '86400',
    }),
    logger: log.logger,
  });
  onCleanup('stop the platform', () => platform.stop());
  const base = platform.gateway!.url;
  progress(`gateway at ${base}`);
  const gateway = graphqlClient(`${base}/graphql`);

  await gateway.request('mutation ($i: RegisterInput!) { register(input: $i) { expiresIn } }', {
    i: { email: EMAIL, password: PASSWORD, name: 'Saga Bench' },
  });
  progress('signed up; making the user an ADMIN (npm run users:set-role), signing in again');
  const token = await promoteToAdmin(databaseUrl, gateway);
  gateway.signIn(token);
  const feed = followOrders(`${base.replace(/^http/, 'ws')}/graphql`, token);
  onCleanup('close the WebSocket', () => feed.close());

  const products: string[] = [];
  for (let i = 0; i < PRODUCTS; i++) {
    const { createProduct } = await gateway.request<{ createProduct: { id: string } }>(
      'mutation ($i: CreateProductInput!) { createProduct(input: $i) { id } }',
      { i: { name: `Saga ${i}`, priceCents: 500 + i, currency: 'EUR', stock: 1_000_000_000 } },
    );
    products.push(createProduct.id);
  }
  await untilSellable(databaseUrl, products);
  return { gateway, feed, products };
}

/** Orders learns of products by event: waits until its replica has them all on sale. */
function untilSellable(databaseUrl: string, products: readonly string[]): Promise<void> {
  return until('orders to learn of the products', async () => {
    const [row] = await adminQuery<{ n: string }>(
      'select count(*) as n from orders.products where on_sale and id = any($1::uuid[])',
      databaseUrl,
      [products],
    );
    return Number(row?.n) === products.length;
  });
}

// ---------------------------------------------------------------------------------------------
// Placing orders

interface PlacedOrder {
  readonly id: string;
  /** Wall clock (ms): placeOrder sent, and its answer received. */
  readonly requestedAt: number;
  readonly answeredAt: number;
  /** How the client learned of CONFIRMED: its subscription, or (it stayed silent) a poll. */
  readonly via: 'subscription' | 'poll';
}

async function placeOrder(session: Session, index: number): Promise<PlacedOrder> {
  const { gateway, products } = session;
  for (let line = 0; line < opts.items; line++) {
    await gateway.request(
      'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents } }',
      { p: products[(index + line) % products.length] },
    );
  }
  const requestedAt = wallNow();
  const { placeOrder: order } = await gateway.request<{ placeOrder: { id: string } }>(
    'mutation { placeOrder { id } }',
  );
  const answeredAt = wallNow();
  const via = await untilConfirmed(session, order.id);
  return { id: order.id, requestedAt, answeredAt, via };
}

/**
 * Waits for the subscription's CONFIRMED. After FEED_GRACE_MS without it the order is polled
 * too, so one lost update shows in the report instead of ending the run.
 */
async function untilConfirmed(session: Session, orderId: string): Promise<PlacedOrder['via']> {
  const { feed, gateway } = session;
  const started = performance.now();
  let delivered = false;
  const fromFeed = feed.confirmed(orderId).then(() => (delivered = true));
  while (!delivered) {
    const waited = performance.now() - started;
    if (waited > opts.timeoutMs) {
      throw new Error(`order ${orderId} was not CONFIRMED within ${opts.timeoutMs / 1000} s`);
    }
    if (interrupted()) throw new Error('interrupted');
    if (waited > FEED_GRACE_MS) {
      const { order } = await gateway.request<{ order: { status: string } }>(
        'query ($id: ID!) { order(id: $id) { status } }',
        { id: orderId },
      );
      if (order.status === 'CONFIRMED') return delivered ? 'subscription' : 'poll';
      if (order.status !== 'PENDING') throw new Error(`order ${orderId} became ${order.status}`);
    }
    await Promise.race([fromFeed, sleep(waited > FEED_GRACE_MS ? POLL_MS : FEED_GRACE_MS)]);
  }
  return 'subscription';
}

const thinkTime = () => sleep(Math.random() * opts.thinkMs);

/**
 * Warm-up: connections, consumer group joins, JIT. Runs on until the subscription has
 * delivered an order (the gateway's change feed starts at the newest messages once its group
 * has joined: orders confirmed before that are never told).
 */
async function warmUp(session: Session): Promise<void> {
  let delivered = false;
  let placed = 0;
  while (placed < opts.warmup || !delivered) {
    if (placed >= opts.warmup + MAX_EXTRA_WARMUP) {
      throw new Error(
        `the subscription delivered none of ${placed} warm-up orders` +
          (session.feed.failure() ? ` (${session.feed.failure()})` : ''),
      );
    }
    const order = await placeOrder(session, placed++);
    delivered = order.via === 'subscription';
    if (placed % 10 === 0 || placed === opts.warmup) {
      progress(`warm-up: ${placed} orders placed and CONFIRMED`);
    }
    await thinkTime();
  }
}

async function measure(session: Session): Promise<PlacedOrder[]> {
  const orders: PlacedOrder[] = [];
  let lastLine = performance.now();
  for (let i = 0; i < opts.orders; i++) {
    const order = await placeOrder(session, opts.warmup + i);
    orders.push(order);
    if (performance.now() - lastLine >= 1000 || i + 1 === opts.orders) {
      lastLine = performance.now();
      const seen = summarize(orders.map((o) => clientSeen(session.feed, o)));
      progress(
        `measured ${i + 1}/${opts.orders} orders; answer → client sees CONFIRMED ` +
          `p50 ${ms(seen.p50)} ms, max ${ms(seen.max)} ms so far`,
      );
    }
    await thinkTime();
  }
  return orders;
}

/** placeOrder's answer → the client received CONFIRMED over its subscription (NaN: polled). */
function clientSeen(feed: StatusFeed, order: PlacedOrder): number {
  const at = order.via === 'subscription' ? feed.confirmedAt(order.id) : undefined;
  return at === undefined ? NaN : at - order.answeredAt;
}

// ---------------------------------------------------------------------------------------------
// Where the time goes: the timestamps the services record

/**
 * PostgreSQL's clock_timestamp() at each step of one order's saga, in wall-clock ms:
 * outbox rows are written in the transaction that publishes them and stamped `sent_at` right
 * after the broker acknowledged them; an inbox row is the first statement of the consuming
 * transaction.
 */
interface SagaStamps {
  readonly placedWritten: number;
  readonly placedSent: number;
  readonly catalogPicked: number;
  readonly reservedSent: number;
  readonly ordersPicked: number;
  readonly confirmedWritten: number;
  readonly confirmedSent: number;
}

interface OutboxRow {
  order_id: string;
  type: string;
  event_id: string;
  written: number;
  sent: number | null;
}

const outboxRows = (databaseUrl: string, schema: string, orderIds: readonly string[]) =>
  adminQuery<OutboxRow>(
    `select key as order_id, value::jsonb->>'type' as type, value::jsonb->>'id' as event_id,
       extract(epoch from created_at)::float8 * 1000 as written,
       extract(epoch from sent_at)::float8 * 1000 as sent
     from ${schema}.outbox where key = any($1::text[])`,
    databaseUrl,
    [orderIds],
  );

/** Event id → when the group's consuming transaction recorded it. */
async function inboxTimes(
  databaseUrl: string,
  schema: string,
  group: string,
  eventIds: readonly string[],
): Promise<Map<string, number>> {
  const rows = await adminQuery<{ event_id: string; picked: number }>(
    `select event_id, extract(epoch from processed_at)::float8 * 1000 as picked
     from ${schema}.inbox where consumer_group = $1 and event_id = any($2::text[])`,
    databaseUrl,
    [group, eventIds],
  );
  return new Map(rows.map((row) => [row.event_id, row.picked]));
}

async function sagaStamps(
  databaseUrl: string,
  orderIds: readonly string[],
): Promise<Map<string, SagaStamps>> {
  const byType = (rows: OutboxRow[], type: string) =>
    new Map(rows.filter((row) => row.type === type).map((row) => [row.order_id, row]));
  const ordersOutbox = await outboxRows(databaseUrl, 'orders', orderIds);
  const placed = byType(ordersOutbox, 'order.placed');
  const confirmed = byType(ordersOutbox, 'order.confirmed');
  const reserved = byType(await outboxRows(databaseUrl, 'catalog', orderIds), 'stock.reserved');
  const catalogPicked = await inboxTimes(
    databaseUrl,
    'catalog',
    'catalog.stock',
    [...placed.values()].map((row) => row.event_id),
  );
  const ordersPicked = await inboxTimes(
    databaseUrl,
    'orders',
    'orders.saga',
    [...reserved.values()].map((row) => row.event_id),
  );
  const stamps = new Map<string, SagaStamps>();
  for (const id of orderIds) {
    const p = placed.get(id);
    const r = reserved.get(id);
    const c = confirmed.get(id);
    if (!p || !r || !c) continue;
    stamps.set(id, {
      placedWritten: p.written,
      placedSent: p.sent ?? NaN,
      catalogPicked: catalogPicked.get(p.event_id) ?? NaN,
      reservedSent: r.sent ?? NaN,
      ordersPicked: ordersPicked.get(r.event_id) ?? NaN,
      confirmedWritten: c.written,
      confirmedSent: c.sent ?? NaN,
    });
  }
  return stamps;
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (value: number) => fmt(value, value < 100 ? 1 : 0);

function summaryRow(label: string, summary: Summary): string[] {
  return [
    label,
    fmt(summary.count),
    ms(summary.p50),
    ms(summary.p90),
    ms(summary.p99),
    ms(summary.max),
  ];
}

const HEADER = ['measure', 'orders', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];

interface Outcome {
  readonly serverVersion: string;
  readonly bus: Bus;
  readonly orders: readonly PlacedOrder[];
  readonly feed: StatusFeed;
  readonly stamps: ReadonlyMap<string, SagaStamps>;
}

function report({ serverVersion, bus, orders, feed, stamps }: Outcome): void {
  const out: string[] = [];
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  /** One measure over every order that has the stamps it needs. */
  const over = (measure: (order: PlacedOrder, s: SagaStamps) => number) =>
    summarize(
      orders.map((order) => {
        const s = stamps.get(order.id);
        return s ? measure(order, s) : NaN;
      }),
    );
  const seen = (order: PlacedOrder) => clientSeen(feed, order);
  const headline = {
    committed: over((order, s) => s.confirmedWritten - order.answeredAt),
    seen: summarize(orders.map(seen)),
    roundTrip: summarize(orders.map((order) => order.answeredAt - order.requestedAt)),
  };

  out.push('');
  out.push('== eventgraph order saga benchmark: placeOrder answered → CONFIRMED, one client ==');
  out.push(
    `machine: ${os.cpus().length} CPUs, load ${load}, node ${process.version}, PostgreSQL ` +
      `${serverVersion} at ${redactUrl(serverUrl)}, Redis at ${redactUrl(redisUrl)}`,
  );
  out.push(`bus: ${bus.description}`);
  out.push(
    'platform: every service and the gateway in this process, as `npm start` with KAFKA_BROKERS ' +
      '(NODE_ENV=production, each service its own Kafka client), production defaults: relay ' +
      `woken by its commits, lingerMs ${DEFAULT_RELAY_LINGER_MS}; consumers maxWaitTimeMs ${KAFKA_DEFAULTS.maxWaitTimeMs}, ` +
      `partitionsConsumedConcurrently ${KAFKA_DEFAULTS.partitionsConsumedConcurrently}; 3 partitions per topic`,
  );
  out.push(
    `client: one user (an ADMIN: one orderStatusChanged subscription follows all its orders), ` +
      `${opts.orders} orders of ${opts.items} item(s) measured after ${opts.warmup} warm-up, ` +
      `one at a time (the next after CONFIRMED and a 0–${opts.thinkMs} ms pause)`,
  );
  out.push('');
  out.push(
    table([
      HEADER,
      summaryRow(
        'answer → CONFIRMED committed (orders writes order.confirmed)',
        headline.committed,
      ),
      summaryRow('answer → client sees CONFIRMED (orderStatusChanged, graphql-ws)', headline.seen),
      summaryRow('placeOrder round trip (request → answer), for scale', headline.roundTrip),
    ]),
  );
  const polled = orders.filter((order) => order.via === 'poll').length;
  if (polled > 0 || feed.failure()) {
    out.push(
      `subscription: ${polled} of ${orders.length} CONFIRMED updates never arrived (those orders were ` +
        `polled and are left out of its row)${feed.failure() ? `; ${feed.failure()}` : ''}`,
    );
  }
  out.push(
    `stamps: ${stamps.size} of ${orders.length} orders have every saga timestamp in the database`,
  );

  out.push('');
  out.push('Where the time goes, step by step (PostgreSQL clock_timestamp() of the services):');
  out.push(
    table([
      HEADER,
      summaryRow(
        'orders: order.placed written → placeOrder answered',
        over((order, s) => order.answeredAt - s.placedWritten),
      ),
      summaryRow(
        '1 orders relay: order.placed written → sent (broker acked)',
        over((_, s) => s.placedSent - s.placedWritten),
      ),
      summaryRow(
        '2 Kafka → catalog.stock picks it up',
        over((_, s) => s.catalogPicked - s.placedSent),
      ),
      summaryRow(
        '3 catalog: reserve, commit, relay → stock.reserved sent',
        over((_, s) => s.reservedSent - s.catalogPicked),
      ),
      summaryRow(
        '4 Kafka → orders.saga picks it up',
        over((_, s) => s.ordersPicked - s.reservedSent),
      ),
      summaryRow(
        '5 orders: settle → order.confirmed written',
        over((_, s) => s.confirmedWritten - s.ordersPicked),
      ),
      summaryRow(
        '6 orders relay: order.confirmed written → sent',
        over((_, s) => s.confirmedSent - s.confirmedWritten),
      ),
      summaryRow(
        '7 Kafka → gateway change feed → order(id) → client',
        over((order, s) => seen(order) + order.answeredAt - s.confirmedSent),
      ),
      summaryRow(
        'all: order.placed written → client sees CONFIRMED',
        over((order, s) => seen(order) + order.answeredAt - s.placedWritten),
      ),
    ]),
  );
  out.push(
    '"sent" is stamped by the relay\'s UPDATE after the broker acknowledged the send, so a consumer',
  );
  out.push(
    'may pick the event up before it (a step near 0 or below); consecutive steps add up exactly, their',
  );
  out.push('percentiles do not. Client, platform and stamps share one machine clock.');
  const notable = log.notable();
  if (notable) out.push(`log lines of the code under test: ${notable}`);
  out.push('');
  out.push(
    `result: placed → CONFIRMED p50 ${ms(headline.committed.p50)} ms committed, ` +
      `${ms(headline.seen.p50)} ms seen by the client (p99 ${ms(headline.committed.p99)} / ` +
      `${ms(headline.seen.p99)} ms); seen ÷ committed p50 ${ratio(headline.seen.p50, headline.committed.p50)}`,
  );
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  cleanUpOnSignals();
  const startedAt = performance.now();
  const database = await createBenchDatabase(runId);
  const bus = await startBus({ runId, nodes: opts.nodes, basePort: opts.basePort });
  const session = await startSaga(database.url, bus);
  progress(`warm-up: ${opts.warmup} orders (consumer groups join, connections open)`);
  await warmUp(session);
  progress(`measuring ${opts.orders} orders, one at a time`);
  const orders = await measure(session);
  const stamps = await sagaStamps(
    database.url,
    orders.map((order) => order.id),
  );
  await cleanup();
  report({ serverVersion: database.serverVersion, bus, orders, feed: session.feed, stamps });
  progress(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  return 0;
}

runBenchmark(main);
