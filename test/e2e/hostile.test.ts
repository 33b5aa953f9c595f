/**
 * The platform as a hostile client finds it: production mode (NODE_ENV=production), real
 * PostgreSQL, Redis and Kafka, everything through the gateway. Each case is something an
 * attacker or an unlucky user could trigger, and asserts what they must get instead: an
 * exact answer, a client error with a code, never a 500, a crash or lost work.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema, parse } from 'graphql';
import { Redis } from 'ioredis';
import pg from 'pg';
import { measureDocument } from '../../gateway/limits/operation-limits.ts';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { TEST_PASSWORD, claimsOf, codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INT_MAX = 2 ** 31 - 1;

let fixture: TestPlatform;
const logs = captureLogs();

/** Runs `npm run users:set-role -- <email> <role>` against the platform's database. */
function setRole(email: string, role: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['subgraphs/users/set-role.ts', email, role],
      {
        cwd: ROOT,
        env: { ...process.env, NODE_ENV: 'production', DATABASE_URL: fixture.database.url },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

async function login(email: string): Promise<string> {
  const { login: payload } = await fixture.data<{ login: { accessToken: string } }>(
    'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
    { e: email, p: TEST_PASSWORD },
  );
  return payload.accessToken;
}

/** An ADMIN's access token for the account `email`: granted ADMIN by the operators' command. */
async function grantAdmin(email: string): Promise<string> {
  const granted = await setRole(email, 'ADMIN');
  expect(granted).toEqual({ code: 0, out: expect.stringContaining('is now ADMIN (was USER)') });
  // Auth learns the role by event; a login then issues an ADMIN token.
  return waitFor(
    async () => {
      // Auth puts the role in tokens once it has consumed user.role_changed.
      const token = await login(email);
      return claimsOf(token).scope.split(' ').includes('admin') && token;
    },
    { timeoutMs: 15_000, what: `${email} to become ADMIN` },
  );
}

/** A new account, made ADMIN; its access token. */
async function anAdmin(email: string): Promise<string> {
  await fixture.register(email);
  return grantAdmin(email);
}

async function createProduct(admin: string, priceCents: number, stock = 10): Promise<string> {
  const { createProduct: product } = await fixture.data<{ createProduct: { id: string } }>(
    'mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }',
    { input: { name: `Item ${priceCents}`, priceCents, currency: 'EUR', stock } },
    admin,
  );
  await fixture.untilSellable(product.id);
  return product.id;
}

/** Adds one of `productId` to the cart and places the order; waits until it is CONFIRMED. */
async function buy(token: string, productId: string): Promise<string> {
  await fixture.data(
    'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents } }',
    { p: productId },
    token,
  );
  const { placeOrder } = await fixture.data<{ placeOrder: { id: string } }>(
    'mutation { placeOrder { id } }',
    {},
    token,
  );
  await waitFor(
    async () => {
      const { order } = await fixture.data<{ order: { status: string } }>(
        'query ($id: ID!) { order(id: $id) { status } }',
        { id: placeOrder.id },
        token,
      );
      return order.status === 'CONFIRMED';
    },
    { timeoutMs: 15_000, what: `order ${placeOrder.id} confirmed` },
  );
  return placeOrder.id;
}

/** A raw POST to the gateway's /graphql: status and parsed body. */
async function post(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: GraphQLResponse['body'] }> {
  const response = await fetch(`${fixture.gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as GraphQLResponse['body'] };
}

/** Status, data and errors of a response, with every error's request id replaced. */
function comparable(response: GraphQLResponse): unknown {
  return {
    status: response.status,
    data: response.body.data,
    errors: response.body.errors?.map(({ extensions, ...rest }) => ({
      ...rest,
      extensions: extensions && { ...extensions, requestId: extensions['requestId'] && 'any' },
    })),
  };
}

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { NODE_ENV: 'production' });
});

afterAll(async () => {
  await fixture?.stop();
});

describe('money', () => {
  it('sums past 2^31 − 1 cents exactly: two orders at the largest price', async () => {
    const admin = await anAdmin('money-admin@example.com');
    const buyer = await fixture.register('big-spender@example.com');
    const productId = await createProduct(admin, INT_MAX);
    await buy(buyer, productId);
    await buy(buyer, productId);
    const twice = String(2n * BigInt(INT_MAX)); // 4294967294

    const { me } = await waitFor(
      async () => {
        const response = await fixture.gql<{
          me: { activity: { orderCount: number; totalSpentCents: string } };
        }>('{ me { id activity { orderCount totalSpentCents } } }', {}, buyer);
        return response.body.data?.me?.activity.totalSpentCents === twice && response.body.data;
      },
      { timeoutMs: 15_000, what: 'analytics to count both orders' },
    );
    expect(me.activity).toEqual({ orderCount: 2, totalSpentCents: twice });

    const figures = await fixture.gql<{
      product: { sales: { unitsSold: string; revenueCents: string } };
      topProducts: { revenueCents: string }[];
      dailyMetrics: { revenueCents: string }[];
    }>(
      `query ($id: ID!) {
        product(id: $id) { sales { unitsSold revenueCents } }
        topProducts(limit: 1) { revenueCents }
        dailyMetrics(days: 1) { revenueCents }
      }`,
      { id: productId },
      admin,
    );
    expect(figures.body.errors).toBeUndefined();
    expect(figures.body.data).toEqual({
      product: { sales: { unitsSold: '2', revenueCents: twice } },
      topProducts: [{ revenueCents: twice }],
      dailyMetrics: [{ revenueCents: twice }],
    });
  });
});

describe('admin bootstrap', () => {
  it('the operators’ command grants and revokes ADMIN on an existing account, ending its sessions', async () => {
    const email = 'promoted@example.com';
    const before = await fixture.register(email);
    const refused = await fixture.gql(
      'mutation { createProduct(input: {name: "x", priceCents: 1, currency: "EUR", stock: 1}) { id } }',
      {},
      before,
    );
    expect(codes(refused)).toEqual(['FORBIDDEN']);

    const admin = await grantAdmin(email);
    // The USER token of before the change no longer works.
    await waitFor(async () => (await fixture.gql('{ me { id } }', {}, before)).status === 401, {
      timeoutMs: 10_000,
      what: 'the old session to end',
    });
    await createProduct(admin, 100);

    expect(await setRole(email, 'USER')).toEqual({
      code: 0,
      out: expect.stringContaining('is now USER (was ADMIN)'),
    });
    await waitFor(async () => (await fixture.gql('{ me { id } }', {}, admin)).status === 401, {
      timeoutMs: 10_000,
      what: 'the ADMIN session to end',
    });
    const demoted = await login(email);
    expect(await fixture.data('{ me { role } }', {}, demoted)).toEqual({ me: { role: 'USER' } });
  });

  it('the command refuses an unknown account and an unknown role, changing nothing', async () => {
    expect(await setRole('nobody@example.com', 'ADMIN')).toEqual({
      code: 1,
      out: 'users:set-role: no account has the email nobody@example.com\n',
    });
    expect(await setRole('promoted@example.com', 'ROOT')).toEqual({
      code: 1,
      out: 'users:set-role: the role must be one of USER, ADMIN, got "ROOT"\n',
    });
  });
});

describe('client mistakes are the client’s', () => {
  let admin: string;
  beforeAll(async () => {
    admin = await anAdmin('dates-admin@example.com');
  });

  it('a subscription over HTTP POST: 400 BAD_REQUEST pointing at graphql-ws on the same path', async () => {
    const response = await post({ query: 'subscription { orderStatusChanged { id } }' });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('graphql-ws'),
        extensions: { code: 'BAD_REQUEST' },
      }),
    ]);
  });

  it('a DateTime a subgraph refuses, as a literal or a variable: BAD_USER_INPUT with its reason', async () => {
    const literal = await fixture.gql('{ eventCounts(from: "yesterday") { type } }', {}, admin);
    expect(literal.status).toBe(200);
    expect(literal.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('DateTime must be an ISO-8601 string'),
        extensions: { code: 'BAD_USER_INPUT' },
      }),
    ]);
    const variable = await fixture.gql(
      'query ($from: DateTime) { eventCounts(from: $from) { type } }',
      { from: 'yesterday' },
      admin,
    );
    expect(codes(variable)).toEqual(['BAD_USER_INPUT']);
    expect(variable.body.errors?.[0]?.message).toContain('DateTime must be an ISO-8601 string');
  });

  it('an APQ hash that does not match its query: 400 BAD_REQUEST saying so', async () => {
    const response = await post({
      query: '{ __typename }',
      extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } },
    ]);
  });
});

describe('ill-formed text', () => {
  it('a NUL in an anonymous search: 400 BAD_USER_INPUT naming the argument, nothing logged as ours', async () => {
    const logged = logs.lines.length;
    const response = await post({
      query: 'query ($s: String) { products(search: $s) { edges { cursor } } }',
      variables: { s: 'wid\u0000get' },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      {
        message: 'Argument $s contains a NUL character (U+0000)',
        extensions: { code: 'BAD_USER_INPUT', field: 's' },
      },
    ]);
    const literal = await post({
      query: '{ products(search: "wid\\u0000get") { edges { cursor } } }',
    });
    expect(literal.status).toBe(400);
    expect(literal.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'search',
    });
    expect(logs.lines.slice(logged).filter((line) => line['level'] === 50)).toEqual([]);
  });

  it('a lone surrogate in a name is refused before anything is stored or published', async () => {
    const email = 'surrogate@example.com';
    const response = await post({
      query: 'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
      variables: { input: { email, password: TEST_PASSWORD, name: 'Eve \ud800' } },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      {
        message: 'Argument $input.name contains a lone UTF-16 surrogate (not valid Unicode)',
        extensions: { code: 'BAD_USER_INPUT', field: 'input' },
      },
    ]);
    // Nothing was created: the address is still free.
    await fixture.register(email, 'Eve');
  });
});

describe('what the public port gives away', () => {
  it('no "Did you mean" hints while introspection is off, in validation and in values', async () => {
    const user = await fixture.register('speller@example.com');
    const typo = await fixture.gql('{ produts { edges { cursor } } me { nme } }', {}, user);
    expect(typo.status).toBe(400);
    const messages = (typo.body.errors ?? []).map((e) => e.message);
    expect(messages).toEqual([
      'Cannot query field "produts" on type "Query".',
      'Cannot query field "nme" on type "User".',
    ]);
    const enumValue = await fixture.gql(
      'mutation ($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id } }',
      { id: claimsOf(user).sub, role: 'ADMN' },
      await anAdmin('speller-admin@example.com'),
    );
    expect(codes(enumValue)).toEqual(['BAD_USER_INPUT']);
    expect(JSON.stringify(enumValue.body)).not.toMatch(/Did you mean|ADMIN/);
    const introspection = await fixture.gql('{ __schema { queryType { name } } }');
    expect(introspection.body.errors?.[0]?.message).toBe(
      'GraphQL introspection is off on this gateway (GATEWAY_INTROSPECTION=true turns it on)',
    );
  });

  it('serves /metrics and /ready on the operator port only; /health stays public', async () => {
    const { url, operatorUrl } = fixture.platform.gateway!;
    expect(operatorUrl).toBeDefined();
    expect(operatorUrl).not.toBe(url);
    for (const path of ['/metrics', '/ready']) {
      const publicAnswer = await fetch(`${url}${path}`);
      expect(publicAnswer.status).toBe(404);
      expect(await publicAnswer.text()).not.toMatch(/analytics|catalog|orders/);
    }
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const ready = await fetch(`${operatorUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { orders: 'ok' } });
    expect(await (await fetch(`${operatorUrl}/metrics`)).text()).toContain(
      'gateway_subgraph_fetches_total',
    );
  });

  it('answers the same for someone else’s order or account as for one that does not exist', async () => {
    const admin = await anAdmin('prober-admin@example.com');
    const productId = await createProduct(admin, 500);
    const owner = await fixture.register('owner@example.com');
    const other = await fixture.register('prober@example.com');
    const orderId = await buy(owner, productId);
    const missing = '00000000-0000-4000-8000-000000000000';
    const ask = (query: string, id: string) => fixture.gql(query, { id }, other);
    for (const query of [
      'query ($id: ID!) { user(id: $id) { id name } }',
      'query ($id: ID!) { order(id: $id) { id } }',
    ]) {
      const theirs = await ask(query, query.includes('user') ? claimsOf(owner).sub : orderId);
      expect(comparable(theirs)).toEqual(comparable(await ask(query, missing)));
      expect(theirs.body.errors).toBeUndefined();
    }
    const cancel = 'mutation ($id: ID!) { cancelOrder(id: $id) { id } }';
    expect(comparable(await ask(cancel, orderId))).toEqual(comparable(await ask(cancel, missing)));
    expect(codes(await ask(cancel, orderId))).toEqual(['NOT_FOUND']);
  });

  it('a well-formed header with a token that is none: the same 401 as any bad token', async () => {
    const response = await post({ query: '{ __typename }' }, { authorization: 'Bearer garbage' });
    expect(response.status).toBe(401);
    expect(response.body.errors).toEqual([
      { message: 'Invalid or expired access token', extensions: { code: 'UNAUTHENTICATED' } },
    ]);
  });
});

describe('expensive work', () => {
  it('a batch of 10 documents of 10 aliased registers creates one account at most; the rest are refused at once', async () => {
    const aliased = (doc: number) =>
      `mutation {${Array.from(
        { length: 10 },
        (_, i) =>
          ` r${i}: register(input: { email: "flood-${doc}-${i}@example.com", password: "${TEST_PASSWORD}", name: "F" }) { accessToken }`,
      ).join('')} }`;
    const response = await fetch(`${fixture.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 10 }, (_, doc) => ({ query: aliased(doc) }))),
    });
    const answers = (await response.json()) as GraphQLResponse['body'][];
    const errorCodes = answers.flatMap((a) => (a.errors ?? []).map((e) => e.extensions?.['code']));
    // Mutation fields run in order and stop at the first error: one refusal per document.
    expect(errorCodes).toEqual(Array(10).fill('BAD_USER_INPUT'));

    const db = new pg.Client({ connectionString: fixture.database.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>(
        "select count(*) as n from auth.credentials where email like 'flood-%'",
      );
      expect(Number(rows[0]!.n)).toBe(1);
    } finally {
      await db.end();
    }
  });
});

describe('limits count operations, not HTTP requests', () => {
  let limited: TestPlatform;
  beforeAll(async () => {
    limited = await startTestPlatform(logs.logger, {
      NODE_ENV: 'production',
      GATEWAY_RATE_LIMIT_PER_MINUTE: '25',
      AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: '3',
    });
  });
  afterAll(async () => {
    await limited?.stop();
  });
  const batch = (operations: unknown[], token?: string) =>
    fetch(`${limited.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(operations),
    });

  it('every operation of a batch counts against the rate limit', async () => {
    const token = await limited.register('batcher@example.com'); // one credential operation
    const ops = (n: number) => Array.from({ length: n }, () => ({ query: '{ __typename }' }));
    expect((await batch(ops(10), token)).status).toBe(200);
    expect((await batch(ops(10), token)).status).toBe(200);
    const over = await batch(ops(10), token); // 20 + 10 > 25: refused whole
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({
      errors: [{ extensions: { code: 'RATE_LIMITED' } }],
    });
    expect((await batch(ops(5), token)).status).toBe(200); // exactly 25
  });

  it("the batch's total cost is held to the ceiling of one operation", async () => {
    const schema = buildSchema(
      readFileSync(new URL('../../schema/api.graphql', import.meta.url), 'utf8'),
    );
    // As many aliased product lists as one operation may cost; two such operations may not.
    const list = 'products(first: 100) { edges { node { id name priceCents stock } } }';
    const one = measureDocument(schema, parse(`{ ${list} }`)).cost;
    const aliases = Math.min(30, Math.floor(20_000 / one)); // 30: the alias ceiling
    const query = `{ ${Array.from({ length: aliases }, (_, i) => `p${i}: ${list}`).join(' ')} }`;
    expect(measureDocument(schema, parse(query)).cost).toBeLessThanOrEqual(20_000);
    expect(2 * measureDocument(schema, parse(query)).cost).toBeGreaterThan(20_000);
    const response = await batch([{ query }, { query }]);
    const answers = (await response.json()) as GraphQLResponse['body'][];
    const refused = answers.filter((a) =>
      a.errors?.some((e) => (e.extensions?.['limit'] as { name?: string })?.name === 'batchCost'),
    );
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.errors![0]!.message).toMatch(
      /^The batch's total cost \d+ exceeds the limit of 20000$/,
    );
  });

  it('credential operations are limited per client address', async () => {
    // The register above was one of 3; two more pass (as far as the limit goes) ...
    for (let i = 0; i < 2; i++) {
      const refresh = await limited.gql(
        'mutation { refreshToken(refreshToken: "not-a-token") { accessToken } }',
      );
      expect(codes(refresh)).toEqual(['UNAUTHENTICATED']);
    }
    // ... and the next is refused before any work.
    const refused = await limited.gql(
      'mutation { login(email: "batcher@example.com", password: "whatever") { accessToken } }',
    );
    expect(codes(refused)).toEqual(['RATE_LIMITED']);
  });
});

describe('a subgraph timeout', () => {
  it('never reports a failure for a registration that committed: a caller that gave up gets none committed', async () => {
    const hasty = await startTestPlatform(logs.logger, {
      NODE_ENV: 'production',
      // Half of the fastest argon2 hash seen on this machine kind (about 20 ms): the gateway
      // gives up while auth hashes, well before auth's last check that the caller is still
      // there. At 20 ms a fast hash could pass that check just before the gateway gave up,
      // and the registration committed while its caller was told it failed.
      GATEWAY_SUBGRAPH_TIMEOUT_MS: '10',
    });
    const authMutations = async () => {
      const text = await (
        await fetch(`${hasty.platform.subgraphs.get('auth')!.url}/metrics`)
      ).text();
      return [...text.matchAll(/^graphql_operations_total\{[^}]*type="mutation"[^}]*\} (\d+)/gm)]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0);
    };
    const db = new pg.Client({ connectionString: hasty.database.url });
    try {
      await db.connect();
      // The gateway's first fetch to auth opens its connection; on a busy machine that alone
      // can outlast 10 ms, and a fetch given up before it was sent never reaches auth. Warm
      // the connection with a refusal auth answers at once, until one comes back in time.
      await waitFor(
        async () => {
          const warm = await hasty.gql(
            'mutation { refreshToken(refreshToken: "none") { accessToken } }',
          );
          return codes(warm)[0] === 'UNAUTHENTICATED';
        },
        { timeoutMs: 20_000, what: 'a warm connection from the gateway to auth' },
      );
      const before = await authMutations();
      const email = 'too-slow@example.com';
      const response = await hasty.gql(
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
        { input: { email, password: TEST_PASSWORD, name: 'Slow' } },
      );
      expect(codes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
      // Auth ran it to its end regardless (the gateway's hang-up does not stop a resolver).
      await waitFor(async () => (await authMutations()) > before, {
        timeoutMs: 20_000,
        what: 'auth to finish the abandoned registration',
      });
      const { rowCount } = await db.query('select 1 from auth.credentials where email = $1', [
        email,
      ]);
      expect(rowCount).toBe(0);
    } finally {
      await db.end();
      await hasty.stop();
    }
  });
});

describe('a Redis outage', () => {
  // A Redis of this test's own, so that killing it harms no other suite.
  const PORT = 16390 + Number(process.env['JEST_WORKER_ID'] ?? 0);
  let redis: ChildProcess | undefined;
  let platform: TestPlatform;

  async function startRedis(): Promise<void> {
    redis = spawn(
      'redis-server',
      ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(
      async () => {
        const probe = new Redis(PORT, '127.0.0.1', {
          lazyConnect: true,
          retryStrategy: () => null,
        });
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: 10_000, what: 'the test Redis' },
    );
  }

  async function killRedis(): Promise<void> {
    const running = redis;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    await startRedis();
    platform = await startTestPlatform(logs.logger, {
      NODE_ENV: 'production',
      REDIS_URL: `redis://127.0.0.1:${PORT}`,
    });
  });
  afterAll(async () => {
    await platform?.stop();
    await killRedis();
  });

  it('answers 503 with Retry-After where Redis is needed, hung or gone, keeps anonymous reads serving, and recovers', async () => {
    const token = await platform.register('outage@example.com');
    expect((await platform.gql('{ me { id } }', {}, token)).status).toBe(200);

    const ask = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${platform.gatewayUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });

    // A Redis that holds its connections open but answers nothing: every command is bounded.
    redis!.kill('SIGSTOP');
    try {
      const hung = await ask({ query: '{ me { id } }' }, { authorization: `Bearer ${token}` });
      expect(hung.status).toBe(503);
      expect(await hung.json()).toMatchObject({
        errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
      });
      const read = await ask({ query: '{ products(first: 5) { edges { cursor } } }' });
      expect(read.status).toBe(200);
    } finally {
      redis!.kill('SIGCONT');
    }

    // A Redis that is gone.
    await killRedis();
    const me = await ask({ query: '{ me { id } }' }, { authorization: `Bearer ${token}` });
    expect(me.status).toBe(503);
    expect(Number(me.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await me.json()).toMatchObject({
      errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
    });

    const login = await ask({
      query:
        'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
      variables: { e: 'outage@example.com', p: TEST_PASSWORD },
    });
    expect(login.status).toBe(503);
    expect(Number(login.headers.get('retry-after'))).toBeGreaterThan(0);

    const anonymous = await ask({ query: '{ products(first: 5) { edges { cursor } } }' });
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ data: { products: { edges: [] } } });

    await startRedis();
    // Redis lost every session: the old token is refused, a new login works.
    await waitFor(
      async () => {
        const again = await platform.gql(
          'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
          { e: 'outage@example.com', p: TEST_PASSWORD },
        );
        return again.status === 200 && again.body.data !== null;
      },
      { timeoutMs: 20_000, what: 'sign-in after Redis is back' },
    );
  });
});

// Last: it stops a subgraph.
describe('shared work', () => {
  it('8 identical concurrent queries whose answer carries an error each get what a lone caller gets, with their own request id', async () => {
    const user = await fixture.register('coalesce@example.com');
    // Partial data with a masked error: analytics is down, so `me` (whose activity it
    // serves) fails and is null while the cart answers.
    await fixture.platform.subgraphs.get('analytics')!.stop();
    const query = '{ cart { totalCents } me { id activity { loginCount } } }';
    const lone = await fixture.gql(query, {}, user);
    expect(lone.status).toBe(200);
    expect(lone.body.data).toEqual({ cart: { totalCents: 0 }, me: null });
    expect(codes(lone)).toEqual(['INTERNAL_SERVER_ERROR']);

    const answers = await Promise.all(
      Array.from({ length: 8 }, () => fixture.gql(query, {}, user)),
    );
    for (const answer of answers) expect(comparable(answer)).toEqual(comparable(lone));
    const ids = [lone, ...answers].map((a) => a.body.errors?.[0]?.extensions?.['requestId']);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // The masked error's cause is in the log, under the request id the client was given.
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        requestId: ids[0],
        msg: 'internal error in GraphQL operation',
      }),
    );
  });
});
