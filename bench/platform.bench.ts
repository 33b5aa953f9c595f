/**
 * `npm run bench:platform`: a mixed workload of distinct signed-in users against the platform
 * as `npm start` runs it in production (every service and the gateway in one child process,
 * NODE_ENV=production, real PostgreSQL, Redis and Kafka), in closed loops at rising client
 * counts, or with `--rate` in an open loop at a fixed arrival rate. Per step: per operation kind p50/p99 and ops/s, errors, the platform's CPU ms per
 * operation (and its database backends'), SQL round trips and transactions per operation,
 * placed → CONFIRMED of the step's orders, and the saga's consumer lag. With `--baseline <rev>`
 * the same steps also run against that revision (a temporary git worktree); with `--layouts`
 * against several deployment layouts of this tree (one process, a process per service, two
 * replicas of each: deployments.ts). The targets take turns step by step, and the report adds
 * ratios between them. See bench/README.md.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { redactUrl } from '../shared/config/index.ts';
import {
  cleanup,
  cleanUpOnSignals,
  interrupted,
  progress,
  runBenchmark,
  sleep,
} from './lib/harness.ts';
import {
  cpuByKind,
  FRONTS_KIND,
  KINDS_IN_ORDER,
  LAYOUT_NAMES,
  peakRss,
  sqlQueries,
  startDeployment,
} from './lib/deployments.ts';
import type { Deployment, LayoutName } from './lib/deployments.ts';
import {
  backendCpuBetween,
  currentTree,
  databaseCounters,
  lagProbe,
  processPeakRss,
  worktreeAt,
  profilePlatformProcesses,
} from './lib/platform-process.ts';
import type { LagProbe, SourceTree } from './lib/platform-process.ts';
import {
  adminQuery,
  benchRedisPrefix,
  createBenchDatabase,
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

const USAGE = `Usage: npm run bench:platform -- [options]

  --clients LIST    client counts, one closed-loop step each, in order (1,10,30,60)
  --rate N          open loop instead: operations arrive at N a second (Poisson arrivals),
                    each taken by an idle one of the step's clients; one that finds none idle
                    waits, and its latency counts from its arrival (default: closed loops)
  --seconds N       measured seconds per step (15)
  --warmup N        unmeasured seconds at the step's client count before it (3)
  --initial-warmup N  unmeasured seconds each platform runs at up to 10 clients before the
                    first step, in turns of 10 s (30): the broker's JVM compiles its hot code
                    in its first minute under load, which would fall on whichever runs first
  --baseline REV    also run every step against git revision REV (checked out in a temporary
                    git worktree; node_modules linked, or npm ci when its lock file
                    differs), alternating with the current tree step
                    by step, and report candidate/baseline ratios (default: none)
  --baseline-first  start the baseline's platform before the candidate's (the one started
                    first has measured costlier; run both orders to bracket it)
  --layouts LIST    deployment layouts of this tree to run every step against, in turns, each
                    reported against the first listed (default: one alone; not with --baseline,
                    which compares trees in the one layout):
                      one        npm start: every service and the gateway in one process
                      services   a process per service (the gateway and five subgraphs)
                      replicas2  two processes of every subgraph and two gateways
                    services and replicas2 run through test/topology's round-robin fronts, in
                    a process of their own whose CPU is reported apart
  --mix LIST        the mix, as kind=weight pairs, weights in percent summing to 100
                    (products=30,product=20,me+cart=20,order=20,own order=10); one kind alone
                    (--mix products=100) gives what that operation costs
  --products N      products the ADMIN creates in setup, stock 1,000,000,000 each (50)
  --nodes N         Kafka nodes to start (1)
  --base-port N     first Kafka node's client port (39092; its controller listens 10 above)
  --cpu-prof DIR    write a V8 CPU profile of every platform process (node --cpu-prof) into
                    DIR when it stops, to open in Chrome DevTools
  -h, --help

Mix per client iteration (--mix): 30% products(first: 20), 20% product(id), 20% me + cart,
20% order (addToCart then placeOrder, one step), 10% own order (order(id) or orders list).

Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL, KAFKA_BROKERS, as the other benchmarks.
Exit code 1 when any operation failed (each distinct error is printed).`;

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,10,30,60' },
    rate: { type: 'string' },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    'initial-warmup': { type: 'string', default: '30' },
    baseline: { type: 'string' },
    'baseline-first': { type: 'boolean', default: false },
    layouts: { type: 'string' },
    mix: { type: 'string' },
    products: { type: 'string', default: '50' },
    nodes: { type: 'string', default: '1' },
    'base-port': { type: 'string', default: '39092' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const { fail, int, oneOf } = flagParsers(USAGE);
const clientSteps = values.clients.split(',').map((c) => int('clients', c.trim()));
const layouts = values.layouts
  ?.split(',')
  .map((layout) => oneOf('layouts', layout.trim(), LAYOUT_NAMES));
if (layouts && values.baseline) {
  fail(
    '--baseline and --layouts do not combine: --baseline compares two trees in the one-process ' +
      'layout, --layouts compares layouts of this tree (the multi-process ones run only this ' +
      'checkout). Give one or the other.',
  );
}
if (values['baseline-first'] && !values.baseline) {
  fail('--baseline-first needs --baseline: it sets which of the two platforms starts first.');
}
if (layouts && new Set(layouts).size !== layouts.length) {
  fail(`--layouts names a layout twice: ${values.layouts}`);
}
const opts = {
  clients: clientSteps,
  seconds: int('seconds', values.seconds),
  warmup: int('warmup', values.warmup, 0),
  initialWarmup: int('initial-warmup', values['initial-warmup'], 0),
  rate: values.rate === undefined ? undefined : int('rate', values.rate),
  baseline: values.baseline,
  baselineFirst: values['baseline-first'],
  layouts,
  products: int('products', values.products),
  nodes: int('nodes', values.nodes),
  basePort: int('base-port', values['base-port']),
};
const MAX_CLIENTS = Math.max(...opts.clients);
if (values['cpu-prof']) profilePlatformProcesses(values['cpu-prof']);

const SECRET = 'bench-platform-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const PASSWORD = 'correct horse battery staple';
/** The saga's consumer groups (and analytics'), whose lag is sampled. */
const LAG_GROUPS = ['catalog.stock', 'orders.saga', 'analytics.ingest'] as const;
const CONFIRM_TIMEOUT_MS = 60_000;
const SETTLE_TIMEOUT_MS = 60_000;
/** The platforms' initial warm-up (`--initial-warmup`) goes in turns of this long. */
const INITIAL_WARMUP_TURN_S = 10;

const KINDS = ['products', 'product', 'me+cart', 'order', 'own order'] as const;
type Kind = (typeof KINDS)[number];
const DEFAULT_MIX: readonly [Kind, number][] = [
  ['products', 30],
  ['product', 20],
  ['me+cart', 20],
  ['order', 20],
  ['own order', 10],
];
const MIX = values.mix === undefined ? DEFAULT_MIX : mixOf(values.mix);

/** `--mix`: kind=weight pairs, each kind once, weights summing to 100. */
function mixOf(list: string): [Kind, number][] {
  const mix = list.split(',').map((pair): [Kind, number] => {
    const [kind = '', weight = ''] = pair.split('=').map((part) => part.trim());
    return [oneOf('mix', kind, KINDS), int('mix', weight, 1)];
  });
  if (new Set(mix.map(([kind]) => kind)).size !== mix.length)
    fail(`--mix names a kind twice: ${list}`);
  const sum = mix.reduce((total, [, weight]) => total + weight, 0);
  if (sum !== 100) fail(`--mix weights must sum to 100, not ${sum}: ${list}`);
  return mix;
}

const runId = newRunId();
/** Wall-clock ms with sub-ms precision: comparable with PostgreSQL's clock_timestamp(). */
const wallNow = (): number => performance.timeOrigin + performance.now();

const Q = {
  register: 'mutation ($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }',
  login: 'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
  createProduct: 'mutation ($i: CreateProductInput!) { createProduct(input: $i) { id } }',
  products:
    'query { products(first: 20) { edges { cursor node { id name priceCents currency stock } } pageInfo { hasNextPage endCursor } } }',
  product:
    'query ($id: ID!) { product(id: $id) { id name description priceCents currency stock updatedAt } }',
  meCart:
    'query { me { id name email role } cart { items { quantity unitPriceCents product { id name priceCents } } totalCents currency } }',
  addToCart: 'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents currency } }',
  placeOrder: 'mutation { placeOrder { id status totalCents currency } }',
  order:
    'query ($id: ID!) { order(id: $id) { id status totalCents currency createdAt items { quantity unitPriceCents product { id name } } } }',
  orders:
    'query { me { orders(first: 10) { edges { node { id status totalCents createdAt } } pageInfo { hasNextPage } } } }',
};

// ---------------------------------------------------------------------------------------------
// GraphQL over one keep-alive pool per platform

class GraphQLError extends Error {}

interface Gateway {
  readonly pool: Pool;
  request<T>(query: string, variables?: object, token?: string): Promise<T>;
}

function gatewayClient(url: string, connections: number): Gateway {
  const pool = new Pool(url, { connections, keepAliveTimeout: 60_000 });
  return {
    pool,
    async request<T>(query: string, variables: object = {}, token?: string) {
      const { statusCode, body } = await pool.request({
        path: '/graphql',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const text = await body.text();
      let parsed: { data?: T; errors?: { message?: string; extensions?: { code?: string } }[] };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        throw new GraphQLError(`HTTP ${statusCode}: ${text.slice(0, 200)}`);
      }
      if (parsed.errors?.length || !parsed.data || statusCode !== 200) {
        const first = parsed.errors?.[0];
        throw new GraphQLError(
          `HTTP ${statusCode} ${first?.extensions?.code ?? ''} ${first?.message ?? text.slice(0, 200)}`.trim(),
        );
      }
      return parsed.data;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A platform under test: its process, database, users and products

interface User {
  readonly email: string;
  readonly token: string;
  /** Orders this user placed (any step), newest last. */
  readonly orders: string[];
}

/** What to start: a tree in a layout, under a label. */
interface TargetSpec {
  /** 'candidate' (this tree) or 'baseline' (`--baseline`), or the layout's name (`--layouts`). */
  readonly label: string;
  /** Names the target's database and Redis prefix (`<run><suffix>`). */
  readonly suffix: string;
  readonly layout: LayoutName;
  readonly tree: SourceTree;
}

interface Target extends TargetSpec {
  readonly deployment: Deployment;
  readonly gateway: Gateway;
  readonly database: { name: string; url: string };
  readonly lag: LagProbe;
  readonly users: User[];
  readonly products: string[];
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    if (interrupted()) throw new Error('interrupted');
    await sleep(100);
  }
}

/** Runs `fn` over `items` with at most `concurrency` at a time. */
async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

async function startTarget(spec: TargetSpec, bus: Bus): Promise<Target> {
  const { label, suffix, layout, tree } = spec;
  const database = await createBenchDatabase(`${runId}${suffix}`);
  const topicPrefix = `${bus.topicPrefix}${label}.`;
  progress(`starting the ${label} platform (${tree.description}), layout ${layout}`);
  const deployment = await startDeployment({
    name: label,
    layout,
    tree,
    databaseUrl: database.url,
    redis: { url: redisUrl, prefix: benchRedisPrefix(`${runId}${suffix}`) },
    kafka: { brokers: bus.brokers, topicPrefix },
    settings: {
      LOG_LEVEL: 'warn',
      GATEWAY_TOKEN_SECRET: SECRET,
      // Every client comes from one address at a machine's pace, not a person's.
      GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
      AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: '100000',
      AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: '100000',
      // Outlive a long run.
      AUTH_ACCESS_TOKEN_TTL_SECONDS: '86400',
    },
  });
  progress(`${label} platform serves at ${deployment.url}: ${deployment.description}`);
  const gateway = gatewayClient(deployment.url, MAX_CLIENTS + 4);

  // Setup, not measured: an ADMIN creates the products, then the users sign up.
  const adminEmail = `admin-${runId}@example.com`;
  await gateway.request(Q.register, {
    i: { email: adminEmail, password: PASSWORD, name: 'Bench Admin' },
  });
  await grantAdmin(database.url, adminEmail);
  const { login } = await gateway.request<{ login: { accessToken: string } }>(Q.login, {
    e: adminEmail,
    p: PASSWORD,
  });
  const products: string[] = [];
  for (let i = 0; i < opts.products; i++) {
    const { createProduct } = await gateway.request<{ createProduct: { id: string } }>(
      Q.createProduct,
      {
        i: {
          name: `Bench product ${i}`,
          description: `A well-made thing, number ${i}, ready to ship.`,
          priceCents: 199 + i * 37,
          currency: 'EUR',
          stock: 1_000_000_000,
        },
      },
      login.accessToken,
    );
    products.push(createProduct.id);
  }
  progress(`${label}: ${products.length} products created; registering ${MAX_CLIENTS} users`);
  const users: User[] = [];
  await forEachLimit(
    Array.from({ length: MAX_CLIENTS }, (_, i) => i),
    4,
    async (i) => {
      const email = `user${i}-${runId}@example.com`;
      const { register } = await gateway.request<{ register: { accessToken: string } }>(
        Q.register,
        { i: { email, password: PASSWORD, name: `Bench User ${i}` } },
      );
      users[i] = { email, token: register.accessToken, orders: [] };
    },
  );
  // Users and orders learn of accounts and products by event.
  await until(`${label}: users to learn of the accounts`, async () => {
    const [row] = await adminQuery<{ n: string }>(
      `select count(*) as n from users.users where email like $1`,
      database.url,
      [`%-${runId}@example.com`],
    );
    return Number(row?.n) >= MAX_CLIENTS + 1;
  });
  await until(`${label}: orders to learn of the products`, async () => {
    const [row] = await adminQuery<{ n: string }>(
      'select count(*) as n from orders.products where on_sale and id = any($1::uuid[])',
      database.url,
      [products],
    );
    return Number(row?.n) === products.length;
  });
  const lag = await lagProbe(bus.brokers, topicPrefix, LAG_GROUPS);
  progress(`${label}: ${users.length} users signed in`);
  return { ...spec, deployment, gateway, database, lag, users, products };
}

// ---------------------------------------------------------------------------------------------
// The closed loop

interface PlacedOrder {
  readonly id: string;
  /** Wall clock when placeOrder's answer arrived. */
  readonly answeredAt: number;
}

interface StepResult {
  readonly target: string;
  readonly clients: number;
  readonly seconds: number;
  readonly latencies: Map<Kind, number[]>;
  readonly errors: Map<Kind, number>;
  readonly messages: Map<string, number>;
  /** Open loop: arrivals still waiting for an idle client when the step ended. */
  notStarted: number;
  readonly orders: PlacedOrder[];
  /** CPU ms of the platform's processes, summed, and by kind of process (fronts included). */
  cpuMs: number;
  cpuByKind: Map<string, number>;
  /** CPU ms of the round-robin fronts' process (NaN in the one-process layout). */
  pgCpuMs: number;
  sqlQueries: number;
  /**
   * The same from the step's start until its orders are CONFIRMED and every consumer group has
   * caught up: what the step's operations cost, the saga's backlog included.
   */
  drainedCpuMs: number;
  drainedSqlQueries: number;
  xacts: number;
  /** Orders CONFIRMED (their order.confirmed written) of the step, and answer → that moment. */
  confirmed: Summary;
  unconfirmed: number;
  /** Most lag seen per group during the step, and at its end. */
  readonly lagMax: Map<string, number>;
  lagEnd: Map<string, number>;
  /** Each other target's CPU ms during the step, fronts included (idle: background work). */
  idleCpuMs: Map<string, number>;
}

function pickKind(): Kind {
  let roll = Math.random() * 100;
  for (const [kind, weight] of MIX) {
    roll -= weight;
    if (roll < 0) return kind;
  }
  return 'products';
}

const pickOf = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** One operation of the kind; returns the order placed, if it placed one. */
async function operate(target: Target, user: User, kind: Kind): Promise<PlacedOrder | undefined> {
  const { gateway, products } = target;
  switch (kind) {
    case 'products':
      await gateway.request(Q.products, {}, user.token);
      return undefined;
    case 'product':
      await gateway.request(Q.product, { id: pickOf(products) }, user.token);
      return undefined;
    case 'me+cart':
      await gateway.request(Q.meCart, {}, user.token);
      return undefined;
    case 'order': {
      await gateway.request(Q.addToCart, { p: pickOf(products) }, user.token);
      const { placeOrder } = await gateway.request<{ placeOrder: { id: string } }>(
        Q.placeOrder,
        {},
        user.token,
      );
      const answeredAt = wallNow();
      user.orders.push(placeOrder.id);
      return { id: placeOrder.id, answeredAt };
    }
    case 'own order':
      if (user.orders.length > 0 && Math.random() < 0.5) {
        await gateway.request(Q.order, { id: pickOf(user.orders) }, user.token);
      } else {
        await gateway.request(Q.orders, {}, user.token);
      }
      return undefined;
  }
}

/** One operation, recorded (when `record` is given) with its latency from `since`. */
async function attempt(
  target: Target,
  user: User,
  since: number,
  record: StepResult | undefined,
): Promise<void> {
  const kind = pickKind();
  try {
    const order = await operate(target, user, kind);
    if (!record) return;
    record.latencies.get(kind)!.push(performance.now() - since);
    if (order) record.orders.push(order);
  } catch (error) {
    if (interrupted()) return;
    if (!record) throw error;
    record.errors.set(kind, (record.errors.get(kind) ?? 0) + 1);
    const message = `${kind}: ${(error as Error).message}`;
    record.messages.set(message, (record.messages.get(message) ?? 0) + 1);
  }
}

/**
 * `clients` users for `seconds`, in closed loops (each its next operation when the last one
 * answered) or, with `--rate`, in an open loop; records only when `record` is given.
 */
async function loop(
  target: Target,
  clients: number,
  seconds: number,
  record?: StepResult,
  onTick?: () => void,
): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const users = target.users.slice(0, clients);
  const ticker = onTick ? setInterval(onTick, 2000) : undefined;
  try {
    if (opts.rate === undefined) {
      await Promise.all(
        users.map(async (user) => {
          while (performance.now() < end && !interrupted()) {
            await attempt(target, user, performance.now(), record);
          }
        }),
      );
    } else {
      await openLoop(target, users, opts.rate, end, record);
    }
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Operations arrive at `rate` a second (exponential gaps: Poisson arrivals) until `end`,
 * whatever the answers do. Each is taken by an idle user; one that finds every user busy
 * queues, and its latency counts from its arrival, so a platform that falls behind the rate
 * shows it in the latencies (no coordinated omission). Arrivals still queued at `end` never
 * start: they are counted as errors ("not started"), since the platform did not keep up.
 */
async function openLoop(
  target: Target,
  users: readonly User[],
  rate: number,
  end: number,
  record: StepResult | undefined,
): Promise<void> {
  const idle = [...users];
  const arrivals: number[] = [];
  const running = new Set<Promise<void>>();
  let next = performance.now();
  const dispatch = () => {
    while (idle.length > 0 && arrivals.length > 0) {
      const user = idle.pop()!;
      const arrival = arrivals.shift()!;
      const op: Promise<void> = attempt(target, user, arrival, record).finally(() => {
        running.delete(op);
        idle.push(user);
        dispatch();
      });
      running.add(op);
    }
  };
  while (!interrupted()) {
    const now = performance.now();
    while (next <= now && next < end) {
      arrivals.push(next);
      next += (-Math.log(1 - Math.random()) / rate) * 1000;
    }
    dispatch();
    if (next >= end) break;
    // Sleep until the next arrival (timers are coarse: a few arrivals may share a wake-up).
    await sleep(Math.max(0, next - performance.now()));
  }
  if (record && arrivals.length > 0) {
    record.notStarted = arrivals.length;
    record.messages.set(
      `not started: arrivals that found every client busy until the step ended (the platform fell behind ${rate}/s)`,
      arrivals.length,
    );
  }
  arrivals.length = 0;
  await Promise.all(running);
}

/**
 * Waits until every consumer group of the platform has caught up (the previous step's or the
 * set-up's events all consumed), so a step does not pay for the one before.
 */
async function settle(target: Target): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  let lag = await target.lag.total();
  while (lag > 0 && performance.now() < deadline && !interrupted()) {
    await sleep(250);
    lag = await target.lag.total();
  }
  if (lag > 0)
    progress(`${target.label}: consumers still ${lag} messages behind; measuring anyway`);
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

/** CPU ms so far of a target's processes: the platform's summed, and by kind (the fronts' too). */
function cpuOf(target: Target): { platform: number; byKind: Map<string, number> } {
  const byKind = cpuByKind(target.deployment);
  const platform = sum([...byKind].filter(([kind]) => kind !== FRONTS_KIND).map(([, ms]) => ms));
  return { platform, byKind };
}

/** `after - before`, kind by kind. */
const cpuSince = (before: Map<string, number>, after: Map<string, number>) =>
  new Map([...after].map(([kind, ms]) => [kind, ms - (before.get(kind) ?? NaN)]));

/** CPU ms so far of every process of each target, fronts included. */
const totalCpuMs = (targets: readonly Target[]) =>
  new Map(targets.map((target) => [target.label, sum(cpuByKind(target.deployment).values())]));

async function step(
  target: Target,
  clients: number,
  others: readonly Target[],
): Promise<StepResult> {
  const { label, deployment } = target;
  await settle(target);
  if (opts.warmup > 0) {
    progress(`${label}, ${clients} client(s): warm-up ${opts.warmup} s`);
    await loop(target, clients, opts.warmup);
  }
  const result: StepResult = {
    target: label,
    clients,
    seconds: opts.seconds,
    latencies: new Map(KINDS.map((kind) => [kind, []])),
    errors: new Map(),
    messages: new Map(),
    notStarted: 0,
    orders: [],
    cpuMs: NaN,
    cpuByKind: new Map(),
    pgCpuMs: NaN,
    sqlQueries: NaN,
    drainedCpuMs: NaN,
    drainedSqlQueries: NaN,
    xacts: NaN,
    confirmed: summarize([]),
    unconfirmed: 0,
    lagMax: new Map(),
    lagEnd: new Map(),
    idleCpuMs: new Map(),
  };
  const dbBefore = await databaseCounters(serverUrl, target.database.name);
  const sqlBefore = await sqlQueries(deployment);
  const cpuBefore = cpuOf(target);
  const othersBefore = totalCpuMs(others);
  const startedAt = performance.now();
  let sampling = false;
  const sampleLag = async () => {
    if (sampling) return;
    sampling = true;
    try {
      const lag = await target.lag.sample();
      for (const [group, n] of lag)
        result.lagMax.set(group, Math.max(result.lagMax.get(group) ?? 0, n));
      return lag;
    } catch {
      return undefined;
    } finally {
      sampling = false;
    }
  };
  // What each progress line adds: the latencies of operations answered since the last one.
  const seen = new Map(KINDS.map((kind) => [kind, 0]));
  const sinceLastTick = () =>
    summarize(
      KINDS.flatMap((kind) => {
        const values = result.latencies.get(kind)!;
        const fresh = values.slice(seen.get(kind));
        seen.set(kind, values.length);
        return fresh;
      }),
    );
  await loop(target, clients, opts.seconds, result, () => {
    const recent = sinceLastTick();
    void sampleLag().then((lag) => {
      const elapsed = (performance.now() - startedAt) / 1000;
      let ops = 0;
      for (const values of result.latencies.values()) ops += values.length;
      const errors = errorsOf(result);
      progress(
        `${label}, ${clients} client(s): ${elapsed.toFixed(0)}/${opts.seconds} s, ${fmt(ops)} ops ` +
          `(${fmt(ops / elapsed)}/s), last 2 s p50/p99 ${ms(recent.p50)}/${ms(recent.p99)} ms, ` +
          `${errors} errors, ${result.orders.length} orders` +
          (lag ? `, lag ${[...lag].map(([g, n]) => `${g} ${n}`).join(' / ')}` : ''),
      );
    });
  });
  const elapsed = (performance.now() - startedAt) / 1000;
  const cpuAfter = cpuOf(target);
  result.cpuMs = cpuAfter.platform - cpuBefore.platform;
  result.cpuByKind = cpuSince(cpuBefore.byKind, cpuAfter.byKind);
  result.idleCpuMs = cpuSince(othersBefore, totalCpuMs(others));
  result.sqlQueries = (await sqlQueries(deployment)) - sqlBefore;
  // pg_stat_database's counters are flushed by each backend at most once a second.
  await sleep(1100);
  const dbAfter = await databaseCounters(serverUrl, target.database.name);
  result.xacts = dbAfter.xacts - dbBefore.xacts;
  result.pgCpuMs = backendCpuBetween(dbBefore, dbAfter);
  (result as { seconds: number }).seconds = elapsed;
  result.lagEnd = (await sampleLag()) ?? new Map<string, number>();
  await measureConfirmations(target, result);
  await settle(target);
  result.drainedCpuMs = cpuOf(target).platform - cpuBefore.platform;
  result.drainedSqlQueries = (await sqlQueries(deployment)) - sqlBefore;
  return result;
}

/** Waits until the step's orders are CONFIRMED (or the timeout), then times them. */
async function measureConfirmations(target: Target, result: StepResult): Promise<void> {
  const ids = result.orders.map((order) => order.id);
  if (ids.length === 0) return;
  const confirmedAt = async () =>
    new Map(
      (
        await adminQuery<{ id: string; at: number }>(
          `select key as id, extract(epoch from created_at)::float8 * 1000 as at
           from orders.outbox where key = any($1::text[]) and value::jsonb->>'type' = 'order.confirmed'`,
          target.database.url,
          [ids],
        )
      ).map((row) => [row.id, row.at]),
    );
  let at = await confirmedAt();
  const deadline = performance.now() + CONFIRM_TIMEOUT_MS;
  while (at.size < ids.length && performance.now() < deadline && !interrupted()) {
    await sleep(250);
    at = await confirmedAt();
  }
  result.unconfirmed = ids.length - at.size;
  result.confirmed = summarize(
    result.orders.map((order) => (at.get(order.id) ?? NaN) - order.answeredAt),
  );
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (value: number) => fmt(value, value < 100 ? 1 : 0);
const opsOf = (r: StepResult) => [...r.latencies.values()].reduce((n, v) => n + v.length, 0);
const errorsOf = (r: StepResult) => sum(r.errors.values()) + r.notStarted;
const allLatencies = (r: StepResult) => summarize([...r.latencies.values()].flat());
const perOp = (value: number, r: StepResult) => value / Math.max(1, opsOf(r));
const lagText = (lag: Map<string, number>) =>
  LAG_GROUPS.map((group) => (lag.has(group) ? fmt(lag.get(group)) : '-')).join('/');

/** The per-operation figures of a step: a column each in the summary and in the ratios. */
const PER_OP: readonly { label: string; of: (r: StepResult) => number; digits: number }[] = [
  { label: 'CPU ms/op', of: (r) => r.cpuMs, digits: 2 },
  { label: 'fronts CPU/op', of: (r) => r.cpuByKind.get(FRONTS_KIND) ?? NaN, digits: 2 },
  { label: 'PG CPU ms/op', of: (r) => r.pgCpuMs, digits: 2 },
  { label: 'SQL/op', of: (r) => r.sqlQueries, digits: 1 },
  { label: 'xact/op', of: (r) => r.xacts, digits: 1 },
  { label: 'drained CPU/op', of: (r) => r.drainedCpuMs, digits: 2 },
  { label: 'drained SQL/op', of: (r) => r.drainedSqlQueries, digits: 1 },
];

/** The per-operation figures some step has (fronts only in the multi-process layouts). */
const figuresOf = (results: readonly StepResult[]) =>
  PER_OP.filter((figure) => results.some((r) => Number.isFinite(figure.of(r))));

function summaryRows(results: readonly StepResult[]): string[][] {
  const figures = figuresOf(results);
  return [
    [
      'target',
      'clients',
      'ops',
      'ops/s',
      'p50 ms',
      'p99 ms',
      'errors',
      ...figures.map((figure) => figure.label),
      'orders',
      'confirm p50',
      'confirm p99',
      'lag max c/o/a',
    ],
    ...results.map((r) => {
      const all = allLatencies(r);
      return [
        r.target,
        String(r.clients),
        fmt(opsOf(r)),
        fmt(opsOf(r) / r.seconds, 1),
        ms(all.p50),
        ms(all.p99),
        String(errorsOf(r)),
        ...figures.map((figure) => fmt(perOp(figure.of(r), r), figure.digits)),
        `${fmt(r.orders.length)}${r.unconfirmed ? ` (${r.unconfirmed} not CONFIRMED)` : ''}`,
        ms(r.confirmed.p50),
        ms(r.confirmed.p99),
        lagText(r.lagMax),
      ];
    }),
  ];
}

function kindRows(results: readonly StepResult[]): string[][] {
  const rows = [
    ['target', 'clients', 'operation', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'errors'],
  ];
  for (const r of results) {
    for (const kind of KINDS) {
      const s = summarize(r.latencies.get(kind)!);
      rows.push([
        r.target,
        String(r.clients),
        kind,
        fmt(s.count),
        fmt(s.count / r.seconds, 1),
        ms(s.p50),
        ms(s.p99),
        ms(s.max),
        String(r.errors.get(kind) ?? 0),
      ]);
    }
  }
  return rows;
}

/** CPU ms/op of each kind of process (replicas summed) and of all the target's processes. */
function cpuKindRows(results: readonly StepResult[]): string[][] {
  const kinds = KINDS_IN_ORDER.filter((kind) => results.some((r) => r.cpuByKind.has(kind)));
  const rows = [['target', 'clients', ...kinds, 'all']];
  for (const r of results) {
    rows.push([
      r.target,
      String(r.clients),
      ...kinds.map((kind) => fmt(perOp(r.cpuByKind.get(kind) ?? NaN, r), 2)),
      fmt(perOp(sum(r.cpuByKind.values()), r), 2),
    ]);
  }
  return rows;
}

/** Pairs of target labels to compare, `[a, b]` read as a / b. */
type Comparison = readonly [string, string];

function ratioRows(results: readonly StepResult[], comparisons: readonly Comparison[]): string[][] {
  const figures = figuresOf(results);
  const rows = [
    [
      'ratio',
      'clients',
      'ops/s',
      'p50',
      'p99',
      ...figures.map((figure) => figure.label),
      'confirm p50',
      'confirm p99',
      ...KINDS.map((kind) => `${kind} p50`),
    ],
  ];
  for (const [a, b] of comparisons) {
    // Step by step, in order: a client count may come twice (`--clients 30,60,30,60`).
    const ofA = results.filter((r) => r.target === a);
    const ofB = results.filter((r) => r.target === b);
    for (let step = 0; step < Math.min(ofA.length, ofB.length); step++) {
      const [c, d] = [ofA[step]!, ofB[step]!];
      const [ca, da] = [allLatencies(c), allLatencies(d)];
      rows.push([
        `${a} / ${b}`,
        String(c.clients),
        ratio(opsOf(c) / c.seconds, opsOf(d) / d.seconds),
        ratio(ca.p50, da.p50),
        ratio(ca.p99, da.p99),
        ...figures.map((figure) => ratio(perOp(figure.of(c), c), perOp(figure.of(d), d))),
        ratio(c.confirmed.p50, d.confirmed.p50),
        ratio(c.confirmed.p99, d.confirmed.p99),
        ...KINDS.map((kind) =>
          ratio(summarize(c.latencies.get(kind)!).p50, summarize(d.latencies.get(kind)!).p50),
        ),
      ]);
    }
  }
  return rows;
}

/** Each target's CPU while another was measured, in % of a core, averaged over those steps. */
function idleText(targets: readonly Target[], results: readonly StepResult[]): string {
  const percent = (values: number[]) => fmt(sum(values) / values.length / 10, 1);
  const each = targets.map((target) => {
    const steps = results.filter((r) => r.idleCpuMs.has(target.label));
    return `${target.label} ${percent(steps.map((r) => r.idleCpuMs.get(target.label)! / r.seconds))}%`;
  });
  const together = percent(results.map((r) => sum(r.idleCpuMs.values()) / r.seconds));
  return (
    `idle, while another target was measured (relays, consumers; fronts where there are): ${each.join(', ')} ` +
    `of a core on average; ${together}% all idle targets together during a step`
  );
}

function report(
  targets: readonly Target[],
  comparisons: readonly Comparison[],
  bus: Bus,
  results: readonly StepResult[],
  server: string,
) {
  const out: string[] = [''];
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const loops = opts.rate === undefined ? 'closed loops' : `open loop at ${opts.rate} ops/s`;
  out.push(`== eventgraph platform benchmark: mixed workload, ${loops}, distinct users ==`);
  out.push(
    `machine: ${os.cpus().length} CPUs, load ${load}, node ${process.version}, PostgreSQL ${server} ` +
      `at ${redactUrl(serverUrl)}, Redis at ${redactUrl(redisUrl)}`,
  );
  out.push(`bus: ${bus.description}`);
  const rss = new Map(targets.map((target) => [target.label, peakRss(target.deployment)]));
  for (const { label, tree, deployment } of targets) {
    const fronts = deployment.fronts
      ? `; the fronts' process ${fmt(processPeakRss(deployment.fronts.pid) / 2 ** 20)} MB`
      : '';
    out.push(
      `${label}: ${tree.description}; ${deployment.description}; NODE_ENV=production; peak RSS ` +
        `${fmt(rss.get(label)! / 2 ** 20)} MB summed over its ${deployment.processes.length} ` +
        `platform process(es)${fronts}`,
    );
  }
  out.push(
    `initial warm-up ${opts.initialWarmup} s per platform; ` +
      `steps: ${opts.clients.join(', ')} clients × ${opts.seconds} s after ${opts.warmup} s warm-up` +
      (opts.rate === undefined
        ? '; '
        : ` (open loop: ${opts.rate} arrivals/s, each taken by an idle client, latency from arrival); `) +
      `each client its own user; mix ${MIX.map(([k, w]) => `${w}% ${k}`).join(', ')}`,
  );
  out.push('');
  out.push(table(summaryRows(results)));
  out.push('');
  out.push(
    'ops: operations answered in the step ("order" = addToCart + placeOrder, one op); p50/p99 over all\n' +
      "kinds. CPU ms/op: the platform's processes (user+system, /proc, summed) per op; fronts CPU/op:\n" +
      "the process of test/topology's round-robin fronts (multi-process layouts); PG CPU ms/op: the\n" +
      "server processes connected to the platform's database. SQL/op: round trips the platform sent\n" +
      '(pg Client.query calls, counted in each process, summed); xact/op: pg_stat_database commits +\n' +
      'rollbacks. All include background work (relays, consumers) during the measured seconds;\n' +
      "drained: the same from the step's start until its orders were CONFIRMED and every consumer\n" +
      "group had caught up (the saga's backlog included). confirm: placeOrder answered → orders wrote\n" +
      'order.confirmed (its outbox row), over the orders of the step. lag: consumer groups\n' +
      'catalog.stock / orders.saga / analytics.ingest, messages behind, most seen (sampled every 2 s).',
  );
  out.push('');
  out.push(table(kindRows(results)));
  if (targets.some((target) => target.deployment.processes.length > 1)) {
    out.push('');
    out.push('CPU ms/op by kind of process (replicas summed; all: every process of the target):');
    out.push(table(cpuKindRows(results)));
  }
  if (comparisons.length > 0) {
    out.push('');
    out.push('ratios (below 1.00x is better, except ops/s):');
    out.push(table(ratioRows(results, comparisons)));
    out.push(
      `peak RSS summed: ${comparisons.map(([a, b]) => `${a} / ${b} ${ratio(rss.get(a), rss.get(b))}`).join(', ')}`,
    );
  }
  if (targets.length > 1) out.push(idleText(targets, results));
  const messages = new Map<string, number>();
  for (const r of results) {
    for (const [message, n] of r.messages) {
      const key = `${r.target}, ${r.clients} clients, ${message}`;
      messages.set(key, (messages.get(key) ?? 0) + n);
    }
  }
  out.push('');
  if (messages.size > 0) {
    out.push(`ERRORS (${sum(messages.values())}):`);
    for (const [message, n] of messages) out.push(`  ${n}× ${message}`);
  } else {
    out.push('errors: none');
  }
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------

/** This tree in each layout of `--layouts`; else the candidate, and the baseline if any. */
async function targetSpecs(): Promise<TargetSpec[]> {
  const tree = await currentTree();
  if (opts.layouts) {
    return opts.layouts.map((layout) => ({ label: layout, suffix: `_${layout}`, layout, tree }));
  }
  const candidate: TargetSpec = { label: 'candidate', suffix: 'c', layout: 'one', tree };
  if (!opts.baseline) return [candidate];
  const baseline = await worktreeAt(opts.baseline);
  return [candidate, { label: 'baseline', suffix: 'b', layout: 'one', tree: baseline }];
}

/** Every layout against the first; the candidate against the baseline. */
function comparisonsOf(targets: readonly Target[]): Comparison[] {
  const [first, ...rest] = targets.map((target) => target.label);
  if (!first) return [];
  return opts.layouts ? rest.map((label) => [label, first]) : rest.map((label) => [first, label]);
}

async function main(): Promise<number> {
  cleanUpOnSignals();
  const startedAt = performance.now();
  // Every process of a layout has pools of its own: the layouts together need many connections.
  const [server] = await adminQuery<{ version: string; connections: string; autovacuum: string }>(
    `select current_setting('server_version') as version,
            current_setting('max_connections') as connections,
            current_setting('autovacuum') as autovacuum`,
  );
  const bus = await startBus({ runId, nodes: opts.nodes, basePort: opts.basePort });
  const targets: Target[] = [];
  // The platform started first has measured costlier than the other in A/A runs (identical
  // trees), whichever it is: --baseline-first starts the baseline first, so that two runs in
  // opposite orders bracket the bias.
  const specs = await targetSpecs();
  const started = new Map<TargetSpec, Target>();
  for (const spec of opts.baselineFirst ? [...specs].reverse() : specs) {
    started.set(spec, await startTarget(spec, bus));
  }
  for (const spec of specs) targets.push(started.get(spec)!);
  // In turns, so that the broker's first minute under load (its JIT) is shared (see USAGE).
  for (let done = 0; done < opts.initialWarmup; done += INITIAL_WARMUP_TURN_S) {
    const seconds = Math.min(INITIAL_WARMUP_TURN_S, opts.initialWarmup - done);
    for (const target of targets) {
      progress(
        `${target.label}: initial warm-up, ${done + seconds}/${opts.initialWarmup} s at ${Math.min(10, MAX_CLIENTS)} clients`,
      );
      await loop(target, Math.min(10, MAX_CLIENTS), seconds);
    }
  }
  const results: StepResult[] = [];
  for (const [i, clients] of opts.clients.entries()) {
    // Which target goes first turns step by step (two of them alternate).
    const first = i % targets.length;
    for (const target of [...targets.slice(first), ...targets.slice(0, first)]) {
      const result = await step(
        target,
        clients,
        targets.filter((t) => t !== target),
      );
      results.push(result);
      const all = allLatencies(result);
      progress(
        `${target.label}, ${clients} client(s): ${fmt(opsOf(result) / result.seconds, 1)} ops/s, ` +
          `p50 ${ms(all.p50)} ms, p99 ${ms(all.p99)} ms, ${errorsOf(result)} errors, ` +
          `CPU ${fmt(perOp(result.cpuMs, result), 2)} ms/op, SQL ${fmt(perOp(result.sqlQueries, result), 1)}/op, ` +
          `confirm p50 ${ms(result.confirmed.p50)} ms (${result.orders.length} orders, ${result.unconfirmed} not confirmed)`,
      );
      if (interrupted()) throw new Error('interrupted');
    }
  }
  // Without autovacuum, tables are never vacuumed or analyzed: long runs slow down as they grow.
  const serverText =
    `${server?.version ?? '?'} (max_connections ${server?.connections ?? '?'}, ` +
    `autovacuum ${server?.autovacuum ?? '?'})`;
  report(targets, comparisonsOf(targets), bus, results, serverText);
  for (const target of targets) {
    await target.lag.close().catch(() => undefined);
    await target.gateway.pool.close().catch(() => undefined);
  }
  await cleanup();
  progress(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  const failed = results.some((r) => errorsOf(r) > 0 || r.unconfirmed > 0);
  return failed ? 1 : 0;
}

runBenchmark(main);
