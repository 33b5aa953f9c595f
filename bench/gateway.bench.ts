/**
 * `npm run bench:gateway`: our gateway against baselines — a plain @apollo/gateway (its
 * defaults) and Hive Gateway (its defaults, and the configuration graphql-gateways-benchmark
 * runs it with) — on the same supergraph file, the same subgraphs and the same machine, under
 * the same closed-loop load (autocannon, 50 connections), in interleaved rounds of one
 * invocation. Prints RPS, latency percentiles, CPU per request and the peak RSS of each
 * gateway process, and the ratios of ours to each baseline; checks first that all of them
 * answer the query alike, and refuses to measure otherwise.
 *
 * Scenarios (`--scenario`):
 * - eventgraph: a deep query over our own graph — a user's orders, their items and each
 *   item's product — with tens of KB of response, over the real subgraphs (one child running
 *   `platform/start.ts`, all services on the embedded bus, real PostgreSQL and Redis).
 * - public: the "federation" scenario of graphql-gateways-benchmark (./public-scenario/):
 *   four static subgraphs, composed at start, and its deep `TestQuery`.
 *
 * Modes (`--mode`):
 * - platform: the gateways call the real subgraphs; everything shares the machine's cores.
 * - gateway-bound: the gateway's own cost. The subgraphs' answers are recorded once (a
 *   recording proxy per subgraph while each gateway answers the query) and the real
 *   subgraphs stopped; from then on the same ports answer from that table at almost no cost
 *   (./lib/table-subgraphs.ts). Each gateway runs pinned to one core (`taskset`), the table
 *   subgraphs and autocannon (this process) to the others, so the gateway's core is the
 *   bottleneck and its req/s is what one core of it serves.
 *
 * Absolute numbers are noise on a shared machine; the ratios within one run are the result.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startChild, waitUntil } from './lib/children.ts';
import type { Proc } from './lib/children.ts';
import { cleanUpOnSignals, cleanup, onCleanup, progress, sleep } from './lib/harness.ts';
import {
  benchRedisPrefix,
  createBenchDatabase,
  flagParsers,
  grantAdmin,
  newRunId,
  redisUrl,
} from './lib/setup.ts';
import { freePort } from './lib/platform-process.ts';
import { fmt, ratio, table } from './lib/stats.ts';
import type { TableStats } from './lib/table-subgraphs.ts';
import { composePublicSupergraph } from './public-scenario/compose.ts';
import { PUBLIC_QUERY } from './public-scenario/subgraphs.ts';

const GATEWAYS = ['ours', 'plain', 'hive', 'hive-upstream'] as const;
type GatewayName = (typeof GATEWAYS)[number];

const USAGE = `Usage: npm run bench:gateway -- [options]
  --scenario <s>      eventgraph: a deep query over our own graph, real subgraphs (default);
                      public: graphql-gateways-benchmark's federation scenario (four static
                      subgraphs, its TestQuery)
  --mode <m>          platform: the gateways call the real subgraphs (default);
                      gateway-bound: the subgraphs answer from a table recorded first, each
                      gateway is pinned to one core and the rest to the others: the gateway's
                      own cost
  --gateways <list>   which run, comma-separated, of ours, plain (@apollo/gateway, defaults),
                      hive (Hive Gateway, defaults), hive-upstream (Hive Gateway as
                      graphql-gateways-benchmark runs it: --jit, inbound request
                      deduplication) (default ours,plain)
  --record <s>        gateway-bound: seconds of load through each gateway while the table
                      is recorded (default 5)
  --table-misses <m>  gateway-bound: what a subgraph request the table lacks gets. fail: HTTP
                      500, counted, and the run exits 1 (default); forward: the real subgraphs
                      stay up and answer it, counted (Hive shapes its subgraph requests by
                      timing, so a rare shape may appear only under measurement)
  --duration <s>      measured seconds per gateway per round (default 30)
  --warmup <s>        unmeasured seconds before each measurement (default 5)
  --rounds <n>        interleaved rounds (default 2)
  --connections <n>   concurrent connections (default 50)
  --orders <n>        eventgraph: orders of the user the query reads (default 50; 4 items each)
  --rate <n>          requests per second in all, spread over the connections (autocannon's
                      overallRate), instead of as many as the gateway answers: latency at a
                      fixed moderate load, the same for every gateway (default: none, closed
                      loop)
  --callers <n>       distinct callers the connections take turns with (default 1: every
                      request the same caller). eventgraph: access tokens of the user, one per
                      login; public: anonymous clients, each its own X-Forwarded-For address
                      (at most 762)
  --cpu-prof <dir>    write a V8 CPU profile of each gateway and of the subgraphs
                      (node --cpu-prof) into <dir>, to open in Chrome DevTools
  --strict            exit 1 when a target (≥ 3× plain's RPS, ≤ 1/3 of its p99) is missed`;

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'eventgraph' },
    mode: { type: 'string', default: 'platform' },
    gateways: { type: 'string', default: 'ours,plain' },
    record: { type: 'string', default: '5' },
    'table-misses': { type: 'string', default: 'fail' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    orders: { type: 'string', default: '50' },
    callers: { type: 'string', default: '1' },
    rate: { type: 'string' },
    'cpu-prof': { type: 'string' },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const flags = flagParsers(USAGE);
const SCENARIO = flags.oneOf('scenario', values.scenario, ['eventgraph', 'public'] as const);
const MODE = flags.oneOf('mode', values.mode, ['platform', 'gateway-bound'] as const);
const SELECTED: GatewayName[] = [];
for (const name of values.gateways.split(',').map((part) => part.trim())) {
  const gateway = flags.oneOf('gateways', name, GATEWAYS);
  if (!SELECTED.includes(gateway)) SELECTED.push(gateway);
}
const RECORD = flags.int('record', values.record);
const TABLE_MISSES = flags.oneOf('table-misses', values['table-misses'], [
  'fail',
  'forward',
] as const);
const DURATION = flags.int('duration', values.duration);
const WARMUP = flags.int('warmup', values.warmup, 0);
const ROUNDS = flags.int('rounds', values.rounds);
const CONNECTIONS = flags.int('connections', values.connections);
const ORDERS = flags.int('orders', values.orders);
const CALLERS = flags.int('callers', values.callers);
const RATE = values.rate === undefined ? undefined : flags.int('rate', values.rate);
const CPU_PROFILE_DIR = values['cpu-prof'];

/** Anonymous callers of the public scenario: documentation addresses (RFC 5737), never dialled. */
const PUBLIC_CALLER_NETS = ['192.0.2', '198.51.100', '203.0.113'];
if (SCENARIO === 'public' && CALLERS > PUBLIC_CALLER_NETS.length * 254) {
  flags.fail(`--callers: the public scenario has at most ${PUBLIC_CALLER_NETS.length * 254}`);
}

/** gateway-bound: the core each gateway runs on (the last), and the others for the rest. */
const CORES = os.availableParallelism();
const GATEWAY_CPU = String(CORES - 1);
const OTHER_CPUS = CORES > 2 ? `0-${CORES - 2}` : '0';
if (MODE === 'gateway-bound' && CORES < 2) {
  flags.fail('--mode gateway-bound needs at least 2 cores (one for the gateway)');
}
const pinGateway = MODE === 'gateway-bound' ? GATEWAY_CPU : undefined;

const SECRET = 'bench-gateway-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const ADMIN_EMAIL = 'bench-admin@example.com';
const PASSWORD = 'correct horse battery staple';
const EVENTGRAPH_QUERY = `query Deep {
  me {
    id name email
    orders(first: ${Math.min(ORDERS, 100)}) {
      edges { cursor node {
        id status totalCents currency createdAt
        items { quantity unitPriceCents product { id name description priceCents currency stock } }
        user { id name email }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const HIVE_BIN = path.join(
  path.dirname(fileURLToPath(import.meta.resolve('@graphql-hive/gateway/package.json'))),
  'dist/bin.js',
);

async function post(
  url: string,
  query: string,
  variables: object = {},
  headers: Record<string, string> = {},
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return response.text();
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function gql<T>(url: string, query: string, variables: object = {}, token?: string) {
  const body = JSON.parse(await post(url, query, variables, token ? bearer(token) : {})) as {
    data?: T;
    errors?: unknown[];
  };
  if (body.errors) throw new Error(`seeding failed: ${JSON.stringify(body.errors)}`);
  return body.data!;
}

/** Registers, creates products and places the orders the deep query reads. */
async function seed(gatewayUrl: string, databaseUrl: string): Promise<string[]> {
  const register = async (email: string) =>
    (
      await gql<{ register: { accessToken: string } }>(
        gatewayUrl,
        'mutation ($i: RegisterInput!) { register(input: $i) { accessToken } }',
        { i: { email, password: PASSWORD, name: email.split('@')[0] } },
      )
    ).register.accessToken;
  const login = async (email: string) =>
    (
      await gql<{ login: { accessToken: string } }>(
        gatewayUrl,
        'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
        { e: email, p: PASSWORD },
      )
    ).login.accessToken;
  // Production refuses ADMIN_EMAIL: the admin is made with the admin command, then signs in.
  await register(ADMIN_EMAIL);
  await grantAdmin(databaseUrl, ADMIN_EMAIL);
  const admin = await login(ADMIN_EMAIL);
  const products: string[] = [];
  for (let i = 0; i < 24; i++) {
    const { createProduct } = await gql<{ createProduct: { id: string } }>(
      gatewayUrl,
      'mutation ($i: CreateProductInput!) { createProduct(input: $i) { id } }',
      {
        i: {
          name: `Product ${i}`,
          description: `A well-made thing, number ${i}. `.repeat(10),
          priceCents: 100 + i * 37,
          currency: 'EUR',
          stock: 1_000_000,
        },
      },
      admin,
    );
    products.push(createProduct.id);
  }
  await sleep(1000); // orders learns of the products by event
  const user = await register('bench-user@example.com');
  for (let order = 0; order < ORDERS; order++) {
    for (let item = 0; item < 4; item++) {
      await gql(
        gatewayUrl,
        'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents } }',
        { p: products[(order + item * 5) % products.length] },
        user,
      );
    }
    await gql(gatewayUrl, 'mutation { placeOrder { id } }', {}, user);
    if ((order + 1) % 10 === 0) progress(`seeded ${order + 1}/${ORDERS} orders`);
  }
  await sleep(1000); // the saga confirms them
  // More callers: the same user signed in again, each login a token of its own (own jti).
  const tokens = [user];
  for (let caller = 1; caller < CALLERS; caller++) {
    tokens.push(await login('bench-user@example.com'));
  }
  return tokens;
}

/** The real subgraphs of a scenario, running, and what the gateways need to know of them. */
interface Scenario {
  query: string;
  /** One line for the table's title. */
  title: string;
  subgraphs: Proc;
  /** Subgraph name → GraphQL URL of the real subgraph. */
  urls: Record<string, string>;
  supergraphSdl: string;
  /** The headers of each caller's requests (connections take turns with them). */
  callers: Record<string, string>[];
  /** eventgraph: signs the identity token the subgraphs verify, for the baselines. */
  identity: { secret: string; claims: object } | null;
  /** Starts our gateway over these endpoints and supergraph; resolves with its GraphQL URL. */
  startOurs(endpoints: Record<string, string>, supergraphPath: string): Promise<GatewayProc>;
}

interface GatewayProc {
  name: GatewayName;
  url: string;
  proc: Proc;
}

async function startEventgraph(): Promise<Scenario> {
  const runId = newRunId();
  const database = await createBenchDatabase(runId);
  const redisPrefix = benchRedisPrefix(runId);

  progress('starting the subgraphs (one process, embedded bus)');
  const urls: Record<string, string> = {};
  const { proc: subgraphs, value: servicesGateway } = await startChild({
    name: 'subgraphs',
    script: 'platform/start.ts',
    cpuProfileDir: MODE === 'platform' ? CPU_PROFILE_DIR : undefined,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      PORT: String(await freePort()),
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redisPrefix,
      GATEWAY_TOKEN_SECRET: SECRET,
      // Production puts /ready and /metrics on port 9090: any free one, so nothing collides.
      GATEWAY_OPERATOR_PORT: '0',
      // --callers signs the user in many times from this one address.
      AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: '100000',
      AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: '100000',
      AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: '100000',
    },
    ready: (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; service?: string };
        if (entry.msg?.endsWith('subgraph ready') && entry.url && entry.service) {
          urls[entry.service] = `${entry.url}/graphql`;
        }
        if (entry.msg?.startsWith('gateway ready at') && entry.url) return entry.url;
      } catch {
        // not a log line
      }
      return undefined;
    },
  });
  progress(`subgraphs: ${Object.keys(urls).join(', ')}`);
  progress(`seeding ${ORDERS} orders of 4 items`);
  const tokens = await seed(servicesGateway, database.url);
  const claims = JSON.parse(
    Buffer.from(tokens[0]!.split('.')[1]!, 'base64url').toString(),
  ) as object;
  return {
    query: EVENTGRAPH_QUERY,
    title: `eventgraph deep query (${ORDERS} orders)`,
    subgraphs,
    urls,
    supergraphSdl: readFileSync('schema/supergraph.graphql', 'utf8'),
    callers: tokens.map(bearer),
    identity: { secret: SECRET, claims },
    async startOurs(endpoints, supergraphPath) {
      const port = await freePort();
      const operatorPort = await freePort();
      const { proc } = await startChild({
        name: 'our gateway',
        script: 'platform/start.ts',
        cpus: pinGateway,
        cpuProfileDir: CPU_PROFILE_DIR,
        env: {
          NODE_ENV: 'production',
          // Info would log every request; the plain gateway logs nothing either.
          LOG_LEVEL: 'warn',
          SERVICE: 'gateway',
          PORT: String(port),
          GATEWAY_OPERATOR_PORT: String(operatorPort),
          SUPERGRAPH_PATH: supergraphPath,
          // Every autocannon connection is the same client, far over a client's rate limit.
          GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: redisPrefix,
          GATEWAY_TOKEN_SECRET: SECRET,
          ...Object.fromEntries(
            Object.entries(endpoints).map(([name, url]) => [`${name.toUpperCase()}_URL`, url]),
          ),
        },
        ready: null,
      });
      await waitUntil(proc, 'ready', async () => {
        const response = await fetch(`http://127.0.0.1:${operatorPort}/ready`);
        return response.ok;
      });
      return { name: 'ours', url: `http://127.0.0.1:${port}/graphql`, proc };
    },
  };
}

async function startPublic(): Promise<Scenario> {
  progress('starting the public scenario subgraphs (accounts, inventory, products, reviews)');
  const { proc: subgraphs, value: urls } = await startChild({
    name: 'public subgraphs',
    script: 'bench/public-scenario/serve.ts',
    cpuProfileDir: MODE === 'platform' ? CPU_PROFILE_DIR : undefined,
    env: { NODE_ENV: 'production' },
    ready: (line) =>
      line.startsWith('ready ') ? (JSON.parse(line.slice(6)) as Record<string, string>) : undefined,
  });
  const callers =
    CALLERS === 1
      ? [{}]
      : Array.from({ length: CALLERS }, (_, i) => ({
          'x-forwarded-for': `${PUBLIC_CALLER_NETS[Math.floor(i / 254)]}.${(i % 254) + 1}`,
        }));
  return {
    query: PUBLIC_QUERY,
    title: 'graphql-gateways-benchmark federation TestQuery',
    subgraphs,
    urls,
    supergraphSdl: composePublicSupergraph(),
    callers,
    identity: null,
    async startOurs(endpoints, supergraphPath) {
      const { proc, value: url } = await startChild({
        name: 'our gateway',
        script: 'bench/lib/our-gateway.ts',
        cpus: pinGateway,
        cpuProfileDir: CPU_PROFILE_DIR,
        env: {
          NODE_ENV: 'production',
          SUPERGRAPH_PATH: supergraphPath,
          SUBGRAPH_URLS: JSON.stringify(endpoints),
          PORT: String(await freePort()),
        },
        ready: (line) => (line.startsWith('ready ') ? line.slice(6).trim() : undefined),
      });
      return { name: 'ours', url, proc };
    },
  };
}

/** The supergraph with each `@join__graph(name:, url:)` pointing at `endpoints[name]`. */
function withEndpoints(supergraphSdl: string, endpoints: Record<string, string>): string {
  const missing = new Set(Object.keys(endpoints));
  const rewritten = supergraphSdl.replace(
    /@join__graph\(name: "([^"]+)", url: "[^"]*"\)/g,
    (whole, name: string) => {
      if (!endpoints[name]) return whole;
      missing.delete(name);
      return `@join__graph(name: "${name}", url: "${endpoints[name]}")`;
    },
  );
  if (missing.size > 0) throw new Error(`supergraph has no subgraph ${[...missing].join(', ')}`);
  return rewritten;
}

async function startBaseline(
  name: Exclude<GatewayName, 'ours'>,
  scenario: Scenario,
  endpoints: Record<string, string>,
  supergraphPath: string,
): Promise<GatewayProc> {
  const identityEnv: Record<string, string> = scenario.identity
    ? {
        GATEWAY_TOKEN_SECRET: scenario.identity.secret,
        CLAIMS: JSON.stringify(scenario.identity.claims),
      }
    : {};
  const port = await freePort();
  if (name === 'plain') {
    const { proc, value: url } = await startChild({
      name: 'plain gateway',
      script: 'bench/lib/plain-gateway.ts',
      cpus: pinGateway,
      cpuProfileDir: CPU_PROFILE_DIR,
      env: {
        SUPERGRAPH_PATH: supergraphPath,
        SUBGRAPH_URLS: JSON.stringify(endpoints),
        PORT: String(port),
        ...identityEnv,
      },
      ready: (line) => (line.startsWith('ready ') ? line.slice(6).trim() : undefined),
    });
    return { name, url, proc };
  }
  // Hive Gateway's own CLI, as graphql-gateways-benchmark runs it (one process: no --fork).
  const upstream = name === 'hive-upstream';
  const { proc } = await startChild({
    name: upstream ? 'hive gateway (upstream config)' : 'hive gateway',
    script: HIVE_BIN,
    args: [
      'supergraph',
      supergraphPath,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--config-path',
      'bench/lib/hive-gateway.config.ts',
      ...(upstream ? ['--jit'] : []),
    ],
    cpus: pinGateway,
    cpuProfileDir: CPU_PROFILE_DIR,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HIVE_UPSTREAM_CONFIG: String(upstream),
      ...identityEnv,
    },
    ready: null,
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  await waitUntil(proc, 'serving', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/readiness`);
    return response.ok;
  });
  return { name, url, proc };
}

/** JSON with object keys sorted, recursively: equal for answers that differ in key order only. */
function canonical(json: string): string {
  const sort = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sort)
      : value !== null && typeof value === 'object'
        ? Object.fromEntries(
            Object.entries(value)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([key, inner]) => [key, sort(inner)]),
          )
        : value;
  try {
    return JSON.stringify(sort(JSON.parse(json)));
  } catch {
    return `not JSON: ${json}`;
  }
}

/**
 * Asks every gateway the query (as the first caller) and compares the answers: byte for
 * byte; or else but for trailing whitespace (Apollo Server ends a body with a newline, Hive
 * does not); or else after parsing and sorting object keys. Throws when any differs in more,
 * or carries errors. Returns how they matched, for the report.
 */
async function checkAnswers(gateways: GatewayProc[], scenario: Scenario): Promise<string> {
  const answers = await Promise.all(
    gateways.map(async (gateway) => ({
      gateway,
      body: await post(gateway.url, scenario.query, {}, scenario.callers[0]),
    })),
  );
  const [first, ...others] = answers;
  const sizes = answers.map(({ gateway, body }) => `${gateway.name} ${body.length} B`).join(', ');
  const withErrors = answers.filter(({ body }) => body.includes('"errors"') || body.length < 50);
  if (withErrors.length > 0) {
    for (const { gateway, body } of withErrors) {
      console.error(`${gateway.name}: ${body.slice(0, 800)}`);
    }
    throw new Error(`${withErrors.map((a) => a.gateway.name).join(', ')} answered with errors`);
  }
  if (others.every(({ body }) => body === first!.body)) return `identical bytes (${sizes})`;
  const reference = canonical(first!.body);
  const different = others.filter(({ body }) => canonical(body) !== reference);
  if (different.length > 0) {
    for (const { gateway, body } of [first!, ...different]) {
      console.error(`${gateway.name}: ${body.slice(0, 800)}`);
    }
    throw new Error(
      `${different.map((a) => a.gateway.name).join(', ')} answer(s) differently from ${first!.gateway.name}`,
    );
  }
  const differing = others.filter(({ body }) => body !== first!.body).map((a) => a.gateway.name);
  if (others.every(({ body }) => body.trimEnd() === first!.body.trimEnd())) {
    return `identical bytes but for a trailing newline (the only difference of ${differing.join(', ')} from ${first!.gateway.name}; ${sizes})`;
  }
  return `identical after parsing and sorting object keys (${differing.join(', ')} not byte for byte as ${first!.gateway.name}; ${sizes})`;
}

/** The table subgraphs: IPC requests answered by the child. */
interface TableSubgraphs {
  proc: Proc;
  urls: Record<string, string>;
  /** Into the learn or the replay phase (./lib/table-subgraphs.ts). */
  enter(phase: 'learn' | 'replay'): Promise<void>;
  stats(): Promise<TableStats>;
}

async function startTableSubgraphs(upstreams: Record<string, string>): Promise<TableSubgraphs> {
  const { proc, value: urls } = await startChild({
    name: 'table subgraphs',
    script: 'bench/lib/table-subgraphs.ts',
    cpus: OTHER_CPUS,
    cpuProfileDir: CPU_PROFILE_DIR,
    ipc: true,
    env: { UPSTREAMS: JSON.stringify(upstreams) },
    ready: (line) =>
      line.startsWith('ready ') ? (JSON.parse(line.slice(6)) as Record<string, string>) : undefined,
  });
  const ask = <T>(message: string, pick: (answer: Record<string, unknown>) => T | undefined) =>
    new Promise<T>((resolve) => {
      const onMessage = (answer: Record<string, unknown>) => {
        const value = pick(answer);
        if (value === undefined) return;
        proc.child.off('message', onMessage);
        resolve(value);
      };
      proc.child.on('message', onMessage);
      proc.child.send(message);
    });
  return {
    proc,
    urls,
    enter: (phase) =>
      ask(phase, (answer) => (answer['phase'] === phase ? true : undefined)).then(() => undefined),
    stats: () => ask('stats', (answer) => answer['stats'] as TableStats | undefined),
  };
}

/**
 * Requests the table had no answer for, so far (failed with HTTP 500, or forwarded to the
 * real subgraph with `--table-misses forward`), and a few of the failed ones' keys.
 */
async function tableMisses(table: TableSubgraphs): Promise<{ count: number; keys: string[] }> {
  const stats = await table.stats();
  return {
    count: Object.values(stats.misses).reduce((sum, n) => sum + n, 0) + stats.learned,
    keys: stats.missedKeys,
  };
}

interface Measurement {
  rps: number;
  p50: number;
  p97_5: number;
  p99: number;
  errors: number;
  non2xx: number;
  bytesPerResponse: number;
  /** CPU ms per answered request: the gateway's process, and the subgraphs' process. */
  gatewayCpuMs: number;
  subgraphsCpuMs: number;
  /** The gateway's CPU time over the wall time of the measurement, in % of one core. */
  gatewayCorePercent: number;
  /** gateway-bound: subgraph requests the table had no answer for (each an HTTP 500). */
  tableMisses: number;
}

async function load(
  url: string,
  scenario: Scenario,
  seconds: number,
  gateway: Proc,
  subgraphs: Proc,
): Promise<Measurement> {
  let next = 0;
  const cpuBefore = [gateway.cpuMs(), subgraphs.cpuMs()] as const;
  const started = performance.now();
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    ...(RATE !== undefined ? { overallRate: RATE } : {}),
    headers: { 'content-type': 'application/json' },
    // Connections take turns with the callers' headers.
    setupClient(client) {
      client.setHeaders({
        'content-type': 'application/json',
        ...scenario.callers[next++ % scenario.callers.length],
      });
    },
    body: JSON.stringify({ query: scenario.query }),
  });
  const wallMs = performance.now() - started;
  const answered = Math.max(1, result.requests.total);
  const gatewayCpu = gateway.cpuMs() - cpuBefore[0];
  return {
    gatewayCpuMs: gatewayCpu / answered,
    subgraphsCpuMs: (subgraphs.cpuMs() - cpuBefore[1]) / answered,
    gatewayCorePercent: (100 * gatewayCpu) / wallMs,
    rps: result.requests.average,
    p50: result.latency.p50,
    p97_5: result.latency.p97_5,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    bytesPerResponse: result.throughput.total / Math.max(1, result.requests.total),
    tableMisses: 0,
  };
}

/** The middle value; with an even count, the mean of the two middle ones (not the upper one). */
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
};

async function main() {
  cleanUpOnSignals();
  if (MODE === 'gateway-bound') {
    // autocannon (this process) off the gateways' core from the start, so that the table is
    // recorded under the timing it is measured with; the children not pinned otherwise (the
    // real subgraphs) inherit it.
    execFileSync('taskset', ['-a', '-p', '-c', OTHER_CPUS, String(process.pid)], {
      stdio: 'ignore',
    });
  }
  const scenario = SCENARIO === 'public' ? await startPublic() : await startEventgraph();

  // Where the gateways send subgraph requests: the real subgraphs, or the table in front.
  let tableSubgraphs: TableSubgraphs | null = null;
  let endpoints = scenario.urls;
  if (MODE === 'gateway-bound') {
    progress('starting the table subgraphs, recording through to the real ones');
    const upstreams = Object.fromEntries(
      Object.entries(scenario.urls).map(([name, url]) => [name, new URL(url).origin]),
    );
    tableSubgraphs = await startTableSubgraphs(upstreams);
    const table = tableSubgraphs.urls;
    endpoints = Object.fromEntries(
      Object.entries(scenario.urls).map(([name, url]) => {
        const { pathname, search } = new URL(url);
        return [name, `${table[name]}${pathname}${search}`];
      }),
    );
  }
  const directory = mkdtempSync(path.join(os.tmpdir(), 'eventgraph-bench-gateway-'));
  onCleanup('remove the supergraph file', async () => rmSync(directory, { recursive: true }));
  const supergraphPath = path.join(directory, 'supergraph.graphql');
  writeFileSync(supergraphPath, withEndpoints(scenario.supergraphSdl, endpoints));

  progress(
    `starting ${SELECTED.join(', ')}${pinGateway ? ` (each pinned to CPU ${pinGateway}; subgraphs and autocannon on ${OTHER_CPUS})` : ''}`,
  );
  const gateways: GatewayProc[] = [];
  for (const name of SELECTED) {
    gateways.push(
      name === 'ours'
        ? await scenario.startOurs(endpoints, supergraphPath)
        : await startBaseline(name, scenario, endpoints, supergraphPath),
    );
  }

  // Same answer from all, before anything is measured.
  let match = await checkAnswers(gateways, scenario);
  progress(`answers: ${match}`);
  let loadTarget = scenario.subgraphs;
  if (tableSubgraphs) {
    // Load through each while recording: what a gateway sends only once warm, and the
    // subgraph requests whose shape depends on timing (Hive merges the entity fetches that
    // fall in one tick into one request), are recorded too; then again answered by the
    // table (its timing differs), recording what is still missing.
    for (const phase of ['record', 'learn'] as const) {
      if (phase === 'learn') await tableSubgraphs.enter('learn');
      for (const gateway of gateways) {
        progress(`${phase}: ${gateway.name}, ${RECORD} s at ${CONNECTIONS} connections`);
        for (let i = 0; i < 3; i++) await checkAnswers([gateway], scenario);
        await load(gateway.url, scenario, RECORD, gateway.proc, scenario.subgraphs);
      }
    }
    if (TABLE_MISSES === 'fail') {
      await tableSubgraphs.enter('replay');
      await scenario.subgraphs.stop();
      progress('real subgraphs stopped; the table subgraphs answer from now on');
    } else {
      progress('the table subgraphs answer from now on, forwarding what they lack (counted)');
    }
    const missesBefore = (await tableMisses(tableSubgraphs)).count;
    match = await checkAnswers(gateways, scenario);
    const stats = await tableSubgraphs.stats();
    const misses = (await tableMisses(tableSubgraphs)).count - missesBefore;
    const conflicts = Object.values(stats.conflicts).reduce((sum, n) => sum + n, 0);
    progress(
      `table: ${Object.entries(stats.recorded)
        .map(([name, n]) => `${name} ${n}`)
        .join(
          ', ',
        )} responses recorded (${stats.learned} of them in the learn phase); ${misses} misses, ${conflicts} conflicts`,
    );
    if (conflicts > 0 || (misses > 0 && TABLE_MISSES === 'fail')) {
      throw new Error(
        `the table subgraphs cannot stand in for the real ones: ${misses} misses, ${conflicts} conflicts (${stats.missedKeys.join('; ')}); --table-misses forward keeps the real subgraphs for what the table lacks`,
      );
    }
    progress(`answers from the table: ${match}`);
    loadTarget = tableSubgraphs.proc;
  }

  const results = new Map<GatewayName, Measurement[]>(gateways.map((g) => [g.name, []]));
  let missesSoFar = tableSubgraphs ? (await tableMisses(tableSubgraphs)).count : 0;
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate which goes first, so none always runs on a warmer machine.
    const shift = (round - 1) % gateways.length;
    const order = [...gateways.slice(shift), ...gateways.slice(0, shift)];
    for (const gateway of order) {
      if (WARMUP > 0) await load(gateway.url, scenario, WARMUP, gateway.proc, loadTarget);
      progress(
        `round ${round}/${ROUNDS}: ${gateway.name}, ${DURATION} s at ${CONNECTIONS} connections`,
      );
      const measured = await load(gateway.url, scenario, DURATION, gateway.proc, loadTarget);
      results.get(gateway.name)!.push(measured);
      progress(
        `  ${fmt(measured.rps)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, ${measured.errors} errors, ${measured.non2xx} non-2xx; CPU per request: gateway ${fmt(measured.gatewayCpuMs, 2)} ms (${fmt(measured.gatewayCorePercent)}% of a core), subgraphs ${fmt(measured.subgraphsCpuMs, 2)} ms`,
      );
      if (tableSubgraphs) {
        const total = await tableMisses(tableSubgraphs);
        measured.tableMisses = total.count - missesSoFar;
        missesSoFar = total.count;
        if (measured.tableMisses > 0) {
          progress(
            TABLE_MISSES === 'fail'
              ? `  WARNING: ${measured.tableMisses} subgraph request(s) of ${gateway.name} missed the table (HTTP 500): ${total.keys.join('; ')}`
              : `  ${measured.tableMisses} subgraph request(s) of ${gateway.name} missed the table and went to the real subgraphs`,
          );
        }
      }
    }
  }

  const summaries = gateways.map((gateway) => {
    const runs = results.get(gateway.name)!;
    return {
      name: gateway.name,
      rps: median(runs.map((m) => m.rps)),
      p50: median(runs.map((m) => m.p50)),
      p97_5: median(runs.map((m) => m.p97_5)),
      p99: median(runs.map((m) => m.p99)),
      errors: runs.reduce((sum, m) => sum + m.errors + m.non2xx, 0),
      tableMisses: runs.reduce((sum, m) => sum + m.tableMisses, 0),
      kb: runs[0]!.bytesPerResponse / 1024,
      gatewayCpu: median(runs.map((m) => m.gatewayCpuMs)),
      corePercent: median(runs.map((m) => m.gatewayCorePercent)),
      subgraphsCpu: median(runs.map((m) => m.subgraphsCpuMs)),
      rss: gateway.proc.peakRss() / 1024 / 1024,
    };
  });
  const modeLine =
    MODE === 'gateway-bound'
      ? `gateway-bound: each gateway pinned to CPU ${GATEWAY_CPU}, table subgraphs and autocannon on ${OTHER_CPUS}`
      : 'platform: real subgraphs, no pinning';
  console.log(
    `\nbench:gateway — ${scenario.title} (${fmt(summaries[0]!.kb, 1)} KB per response); ${modeLine}; ${CONNECTIONS} connections${RATE !== undefined ? ` at ${RATE} req/s in all` : ''}, ${CALLERS} caller(s), ${ROUNDS} × ${DURATION} s each, caching off; medians of the rounds\nanswers: ${match}\n`,
  );
  const bound = MODE === 'gateway-bound';
  const ours = summaries.find((s) => s.name === 'ours');
  const ratioRows = ours
    ? summaries
        .filter((s) => s !== ours)
        .map((other) => [
          `ours/${other.name}`,
          ratio(ours.rps, other.rps),
          ratio(ours.p50, other.p50),
          ratio(ours.p97_5, other.p97_5),
          ratio(ours.p99, other.p99),
          '',
          ...(bound ? [''] : []),
          ratio(ours.rss, other.rss),
          ratio(ours.gatewayCpu, other.gatewayCpu),
          '',
          ratio(ours.subgraphsCpu, other.subgraphsCpu),
        ])
    : [];
  console.log(
    table([
      [
        'gateway',
        'req/s',
        'p50 ms',
        'p97.5 ms',
        'p99 ms',
        'errors',
        ...(bound ? ['table misses'] : []),
        'max RSS MB',
        'gateway CPU ms/req',
        'gateway core %',
        bound ? 'table subgraphs CPU ms/req' : 'subgraphs CPU ms/req',
      ],
      ...summaries.map((s) => [
        s.name,
        fmt(s.rps),
        fmt(s.p50),
        fmt(s.p97_5),
        fmt(s.p99),
        String(s.errors),
        ...(bound ? [String(s.tableMisses)] : []),
        fmt(s.rss),
        fmt(s.gatewayCpu, 2),
        fmt(s.corePercent),
        fmt(s.subgraphsCpu, 2),
      ]),
      ...ratioRows,
    ]),
  );
  let code = 0;
  const missed = summaries.filter((s) => s.tableMisses > 0);
  if (missed.length > 0 && TABLE_MISSES === 'forward') {
    console.log(
      `\n${missed.map((s) => `${s.name} (${s.tableMisses})`).join(', ')} sent subgraph requests the table had not recorded; the real subgraphs answered them (--table-misses forward)`,
    );
  } else if (missed.length > 0) {
    console.log(
      `
INVALID: ${missed.map((s) => `${s.name} (${s.tableMisses})`).join(', ')} sent subgraph requests the table had not recorded; each got HTTP 500, so those numbers are not the gateway's alone (exit 1)`,
    );
    code = 1;
  }
  const plain = summaries.find((s) => s.name === 'plain');
  if (!ours || !plain) return code;
  // At a fixed rate every gateway answers the same req/s: only latency is a target then.
  const rpsOk = RATE !== undefined || ours.rps >= 3 * plain.rps;
  const p99Ok = ours.p99 <= plain.p99 / 3;
  const rpsTarget =
    RATE !== undefined
      ? `RPS: fixed at ${RATE}`
      : `RPS ≥ 3× plain: ${rpsOk ? 'PASS' : 'FAIL'} (${ratio(ours.rps, plain.rps)})`;
  console.log(
    `\ntargets: ${rpsTarget}; p99 ≤ 1/3 of plain: ${p99Ok ? 'PASS' : 'FAIL'} (${ratio(ours.p99, plain.p99)})`,
  );
  return values.strict && !(rpsOk && p99Ok) ? 1 : code;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`bench:gateway: ${(error as Error).message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
