/**
 * `npm run bench:gateway`: our gateway against a plain @apollo/gateway (its defaults), on the
 * same supergraph, the same subgraphs and the same machine, under the same closed-loop load
 * (autocannon, 50 connections), in interleaved rounds of one invocation. The query is a deep
 * one over our own graph — a user's orders, their items and each item's product — with tens
 * of KB of response, and caching off. Prints RPS, latency percentiles and the peak RSS of
 * each gateway process, and the ratios ours/plain; checks first that both answer the query
 * byte for byte alike.
 *
 * Process layout: the subgraphs run in one child (`platform/start.ts`, all services on the
 * embedded bus, real PostgreSQL and Redis), each gateway in a child of its own, autocannon
 * here. Everything runs on this machine's cores, so absolute numbers are noise; the ratios
 * within one run are the result.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cleanUpOnSignals, cleanup, onCleanup, progress, sleep } from './lib/harness.ts';
import {
  benchRedisPrefix,
  createBenchDatabase,
  flagParsers,
  grantAdmin,
  newRunId,
  redisUrl,
} from './lib/setup.ts';
import { freePort, processCpuMs, processPeakRss } from './lib/platform-process.ts';
import { fmt, ratio, table } from './lib/stats.ts';

const USAGE = `Usage: npm run bench:gateway -- [options]
  --duration <s>      measured seconds per gateway per round (default 30)
  --warmup <s>        unmeasured seconds before each measurement (default 5)
  --rounds <n>        interleaved rounds (default 2)
  --connections <n>   concurrent connections (default 50)
  --orders <n>        orders of the user the query reads (default 50; 4 items each)
  --callers <n>       distinct callers (access tokens of the user, one per login) the
                      connections take turns with (default 1: every request the same caller)
  --cpu-prof <dir>    write a V8 CPU profile of each gateway and of the subgraphs
                      (node --cpu-prof) into <dir>, to open in Chrome DevTools
  --strict            exit 1 when a target (≥ 3× RPS, ≤ 1/3 p99) is missed`;

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    orders: { type: 'string', default: '50' },
    callers: { type: 'string', default: '1' },
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
const DURATION = flags.int('duration', values.duration);
const WARMUP = flags.int('warmup', values.warmup, 0);
const ROUNDS = flags.int('rounds', values.rounds);
const CONNECTIONS = flags.int('connections', values.connections);
const ORDERS = flags.int('orders', values.orders);
const CALLERS = flags.int('callers', values.callers);

const SECRET = 'bench-gateway-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const ADMIN_EMAIL = 'bench-admin@example.com';
const PASSWORD = 'correct horse battery staple';
const QUERY = `query Deep {
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

interface Proc {
  child: ChildProcess;
  /** Peak resident set size so far, in bytes (Linux VmHWM). */
  peakRss(): number;
  /** CPU time the process has used so far (user + system), in ms (Linux /proc). */
  cpuMs(): number;
}

/** Starts a child (node 24, `.ts` directly) and resolves once `ready` sees its output say so. */
function startChild<T>(
  name: string,
  script: string,
  env: Record<string, string>,
  /** Reads the child's stdout lines until it returns a value; null: resolve at once. */
  ready: ((line: string) => T | undefined) | null,
): Promise<{ proc: Proc; value: T | undefined }> {
  const profile = values['cpu-prof']
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${values['cpu-prof']}`,
        `--cpu-prof-name=${name.replaceAll(' ', '-')}.cpuprofile`,
      ]
    : [];
  const child = spawn(process.execPath, [...profile, script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onCleanup(`stop ${name}`, async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
  const proc: Proc = {
    child,
    peakRss: () => processPeakRss(child.pid),
    cpuMs: () => processCpuMs(child.pid),
  };
  return new Promise((resolve, reject) => {
    if (!ready) {
      resolve({ proc, value: undefined });
      child.stdout.resume();
    }
    let buffered = '';
    const errors: string[] = [];
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const value = ready?.(line);
        if (value !== undefined) resolve({ proc, value });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code}: ${errors.join('').slice(-2000)}`)),
    );
  });
}

async function post(url: string, query: string, variables: object = {}, token?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.text();
}

async function gql<T>(url: string, query: string, variables: object = {}, token?: string) {
  const body = JSON.parse(await post(url, query, variables, token)) as {
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
}

async function load(
  url: string,
  tokens: string[],
  seconds: number,
  gateway: Proc,
  subgraphs: Proc,
): Promise<Measurement> {
  let next = 0;
  const cpuBefore = [gateway.cpuMs(), subgraphs.cpuMs()] as const;
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    // Connections take turns with the callers' tokens.
    setupClient(client) {
      client.setHeaders({
        'content-type': 'application/json',
        authorization: `Bearer ${tokens[next++ % tokens.length]}`,
      });
    },
    body: JSON.stringify({ query: QUERY }),
  });
  const answered = Math.max(1, result.requests.total);
  return {
    gatewayCpuMs: (gateway.cpuMs() - cpuBefore[0]) / answered,
    subgraphsCpuMs: (subgraphs.cpuMs() - cpuBefore[1]) / answered,
    rps: result.requests.average,
    p50: result.latency.p50,
    p97_5: result.latency.p97_5,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    bytesPerResponse: result.throughput.total / Math.max(1, result.requests.total),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  cleanUpOnSignals();
  const runId = newRunId();
  const database = await createBenchDatabase(runId);
  const redisPrefix = benchRedisPrefix(runId);

  progress('starting the subgraphs (one process, embedded bus)');
  const subgraphUrls: Record<string, string> = {};
  let servicesGateway = '';
  const { proc: subgraphs } = await startChild(
    'subgraphs',
    'platform/start.ts',
    {
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
    (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; service?: string };
        if (entry.msg?.endsWith('subgraph ready') && entry.url && entry.service) {
          subgraphUrls[entry.service] = entry.url;
        }
        if (entry.msg?.startsWith('gateway ready at') && entry.url) {
          servicesGateway = entry.url;
          return true;
        }
      } catch {
        // not a log line
      }
      return undefined;
    },
  );
  progress(`subgraphs: ${Object.keys(subgraphUrls).join(', ')}`);
  progress(`seeding ${ORDERS} orders of 4 items`);
  const tokens = await seed(servicesGateway, database.url);
  const token = tokens[0]!;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as object;

  progress('starting our gateway (SERVICE=gateway) and the plain @apollo/gateway');
  const ourPort = await freePort();
  const ourOperatorPort = await freePort();
  const ours = await startChild(
    'our gateway',
    'platform/start.ts',
    {
      NODE_ENV: 'production',
      // Info would log every request; the plain gateway logs nothing either.
      LOG_LEVEL: 'warn',
      SERVICE: 'gateway',
      PORT: String(ourPort),
      GATEWAY_OPERATOR_PORT: String(ourOperatorPort),
      // Every autocannon connection is the same client, far over a client's rate limit.
      GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redisPrefix,
      GATEWAY_TOKEN_SECRET: SECRET,
      ...Object.fromEntries(
        Object.entries(subgraphUrls).map(([name, url]) => [
          `${name.toUpperCase()}_URL`,
          `${url}/graphql`,
        ]),
      ),
    },
    null,
  );
  const ourUrl = `http://127.0.0.1:${ourPort}/graphql`;
  await waitUntilReady(`http://127.0.0.1:${ourOperatorPort}/ready`, ours.proc, 'our gateway');
  const plain = await startChild(
    'plain gateway',
    'bench/lib/plain-gateway.ts',
    {
      SUPERGRAPH_PATH: 'schema/supergraph.graphql',
      SUBGRAPH_URLS: JSON.stringify(
        Object.fromEntries(
          Object.entries(subgraphUrls).map(([name, url]) => [name, `${url}/graphql`]),
        ),
      ),
      GATEWAY_TOKEN_SECRET: SECRET,
      CLAIMS: JSON.stringify(claims),
      PORT: String(await freePort()),
    },
    (line) => (line.startsWith('ready ') ? line.slice(6).trim() : undefined),
  );
  const plainUrl = plain.value!;

  // Same answer, byte for byte.
  const [fromOurs, fromPlain] = [
    await post(ourUrl, QUERY, {}, token),
    await post(plainUrl, QUERY, {}, token),
  ];
  const identical = fromOurs === fromPlain;
  progress(
    `responses: ${fromOurs.length} bytes from ours, ${fromPlain.length} from plain; ${identical ? 'identical' : 'DIFFERENT'}`,
  );
  if (!identical || fromOurs.includes('"errors"')) {
    console.error(`ours:  ${fromOurs.slice(0, 500)}\nplain: ${fromPlain.slice(0, 500)}`);
    throw new Error('the gateways do not answer the deep query alike (or with errors)');
  }

  const results = { ours: [] as Measurement[], plain: [] as Measurement[] };
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate which goes first, so neither always runs on a warmer machine.
    const order = round % 2 === 1 ? (['ours', 'plain'] as const) : (['plain', 'ours'] as const);
    for (const which of order) {
      const url = which === 'ours' ? ourUrl : plainUrl;
      const proc = which === 'ours' ? ours.proc : plain.proc;
      if (WARMUP > 0) await load(url, tokens, WARMUP, proc, subgraphs);
      progress(`round ${round}/${ROUNDS}: ${which}, ${DURATION} s at ${CONNECTIONS} connections`);
      const measured = await load(url, tokens, DURATION, proc, subgraphs);
      results[which].push(measured);
      progress(
        `  ${fmt(measured.rps)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, ${measured.errors} errors, ${measured.non2xx} non-2xx; CPU per request: gateway ${fmt(measured.gatewayCpuMs, 2)} ms, subgraphs ${fmt(measured.subgraphsCpuMs, 2)} ms`,
      );
    }
  }

  const summary = (which: 'ours' | 'plain') => ({
    rps: median(results[which].map((m) => m.rps)),
    p50: median(results[which].map((m) => m.p50)),
    p97_5: median(results[which].map((m) => m.p97_5)),
    p99: median(results[which].map((m) => m.p99)),
    errors: results[which].reduce((sum, m) => sum + m.errors + m.non2xx, 0),
    kb: results[which][0]!.bytesPerResponse / 1024,
    gatewayCpu: median(results[which].map((m) => m.gatewayCpuMs)),
    subgraphsCpu: median(results[which].map((m) => m.subgraphsCpuMs)),
    rss: (which === 'ours' ? ours.proc : plain.proc).peakRss() / 1024 / 1024,
  });
  const o = summary('ours');
  const p = summary('plain');
  console.log(
    `\nbench:gateway — deep query (${fmt(o.kb, 1)} KB per response), ${CONNECTIONS} connections, ${CALLERS} caller(s), ${ROUNDS} × ${DURATION} s each, caching off; medians of the rounds\n`,
  );
  console.log(
    table([
      [
        'gateway',
        'req/s',
        'p50 ms',
        'p97.5 ms',
        'p99 ms',
        'errors',
        'max RSS MB',
        'gateway CPU ms/req',
        'subgraphs CPU ms/req',
      ],
      ...(
        [
          ['ours', o],
          ['plain', p],
        ] as const
      ).map(([name, s]) => [
        name,
        fmt(s.rps),
        fmt(s.p50),
        fmt(s.p97_5),
        fmt(s.p99),
        String(s.errors),
        fmt(s.rss),
        fmt(s.gatewayCpu, 2),
        fmt(s.subgraphsCpu, 2),
      ]),
      [
        'ours/plain',
        ratio(o.rps, p.rps),
        ratio(o.p50, p.p50),
        ratio(o.p97_5, p.p97_5),
        ratio(o.p99, p.p99),
        '',
        ratio(o.rss, p.rss),
        ratio(o.gatewayCpu, p.gatewayCpu),
        ratio(o.subgraphsCpu, p.subgraphsCpu),
      ],
    ]),
  );
  const rpsOk = o.rps >= 3 * p.rps;
  const p99Ok = o.p99 <= p.p99 / 3;
  console.log(
    `\ntargets: RPS ≥ 3× plain: ${rpsOk ? 'PASS' : 'FAIL'} (${ratio(o.rps, p.rps)}); p99 ≤ 1/3 of plain: ${p99Ok ? 'PASS' : 'FAIL'} (${ratio(o.p99, p.p99)}); responses identical: ${identical ? 'yes' : 'no'}`,
  );
  return values.strict && !(rpsOk && p99Ok) ? 1 : 0;
}

/** Polls a readiness URL until it answers 200 (or the process exits). */
async function waitUntilReady(url: string, proc: Proc, name: string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited with ${proc.child.exitCode}`);
    const ok = await fetch(url)
      .then((response) => response.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${name} was not ready after 60 s`);
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
