/**
 * 1,000 hostile or broken requests against the running platform's gateway — malformed JSON,
 * wrong content types, huge, deep and wide queries, random bytes, invalid variables,
 * oversized headers, bad Authorization headers, garbage operation names, odd GET query
 * strings, batches, null bodies — generated from a seeded PRNG (FUZZ_SEED to replay another
 * run). The gateway must answer every one without a 5xx, and afterwards still answer
 * `/health` and a normal query. Prints the status codes it saw.
 */
import { startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';
import { testLogger } from '../../shared/testing/index.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20240909);
const REQUESTS = 1000;

/** mulberry32: small, fast, good enough to pick cases reproducibly. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    bytes: (length: number) => Uint8Array.from({ length }, () => Math.floor(next() * 256)),
    text: (length: number) =>
      Array.from({ length }, () => String.fromCharCode(32 + Math.floor(next() * 95))).join(''),
  };
}
type Random = ReturnType<typeof prng>;

interface FuzzRequest {
  kind: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

const QUERIES = [
  '{ __typename }',
  '{ products(first: 3) { edges { node { id name priceCents } } } }',
  '{ me { id email } }',
  'query Q($id: ID!) { product(id: $id) { id name } }',
  'mutation { logout }',
  '{ users { edges { node { id } } } }',
  '{ product(id: "00000000-0000-0000-0000-000000000000") { id sales { unitsSold } } }',
];

/** `headers` half of the time, else none. */
function sometimes(random: Random, headers: Record<string, string>): Record<string, string> {
  return random.next() < 0.5 ? headers : {};
}

function deep(random: Random): string {
  const levels = 10 + random.int(5000);
  return `${'{ a '.repeat(levels)}${'}'.repeat(levels)}`;
}

function wide(random: Random): string {
  const fields = random.int(3000);
  return `{ ${Array.from({ length: fields }, (_, i) => `a${i}: __typename`).join(' ')} }`;
}

const json = (value: unknown) => JSON.stringify(value);
const post = (kind: string, body: string | Uint8Array, type = 'application/json'): FuzzRequest => ({
  kind,
  method: 'POST',
  path: '/graphql',
  headers: { 'content-type': type },
  body,
});

const GENERATORS: ((random: Random) => FuzzRequest)[] = [
  (r) => post('malformed json', `{"query": "${r.text(r.int(40))}`),
  (r) => post('random bytes', r.bytes(r.int(2000))),
  (r) => post('random text', r.text(r.int(500))),
  () => post('null body', 'null'),
  (r) => post('scalar body', r.pick(['1', 'true', '"query"', '[]', '{}', '[null]', '[1,2]'])),
  (r) =>
    post(
      'wrong content type',
      json({ query: r.pick(QUERIES) }),
      r.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        '',
        'application/graphql',
      ]),
    ),
  (r) =>
    post(
      'json with a bad charset',
      json({ query: r.pick(QUERIES) }),
      'application/json; charset=ebcdic',
    ),
  (r) => post('deep query', json({ query: deep(r) })),
  (r) => post('wide query', json({ query: wide(r) })),
  (r) =>
    post('huge body', json({ query: `{ __typename } # ${'x'.repeat(1024 * 1024 + r.int(1000))}` })),
  (r) =>
    post(
      'nested lists',
      json({
        query: `{ ${'users(first: 100) { edges { node { orders(first: 100) { edges { node { user { '.repeat(1 + r.int(4))}id${' } } } } } } } }'.repeat(1)} }`,
      }),
    ),
  (r) =>
    post(
      'invalid variables',
      json({
        query: QUERIES[3],
        variables: r.pick([
          null,
          1,
          'x',
          [],
          { id: 1 },
          { id: { nested: true } },
          { id: null },
          { other: 'x' },
        ]),
      }),
    ),
  (r) =>
    post(
      'garbage operationName',
      json({
        query: r.pick(QUERIES),
        operationName: r.pick([r.text(30), 1, {}, [], null, 'Q', '']),
      }),
    ),
  (r) =>
    post(
      'garbage fields',
      json({
        query: r.pick([1, null, {}, [], r.text(20)]),
        extensions: r.pick([1, 'x', { persistedQuery: { version: 1, sha256Hash: r.text(64) } }]),
      }),
    ),
  (r) =>
    post(
      'batch',
      json(
        Array.from({ length: r.int(15) }, () =>
          r.pick([{ query: r.pick(QUERIES) }, null, 1, {}, { query: r.text(10) }]),
        ),
      ),
    ),
  (r) => ({
    ...post('bad authorization', json({ query: r.pick(QUERIES) })),
    headers: {
      'content-type': 'application/json',
      authorization: r.pick([
        'Bearer',
        'Bearer ',
        `Bearer ${r.text(50).replace(/\s/g, '')}`,
        'Bearer a.b.c',
        `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`,
        `Bearer ${Buffer.from('{"alg":"ES256","kid":"x"}').toString('base64url')}.e30.AAAA`,
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `Bearer ${'a'.repeat(5000)}.b.c`,
        r.text(100),
      ]),
    },
  }),
  (r) => ({
    ...post('oversized header', json({ query: '{ __typename }' })),
    headers: { 'content-type': 'application/json', 'x-junk': 'x'.repeat(8000 + r.int(20_000)) },
  }),
  (r) => ({
    kind: 'odd GET query string',
    method: 'GET',
    path: `/graphql?${r.pick([
      '',
      'query=',
      `query=${encodeURIComponent(r.pick(QUERIES))}`,
      `query=${encodeURIComponent(r.pick(QUERIES))}&variables=${encodeURIComponent(r.text(20))}`,
      `query=${encodeURIComponent('{ __typename }')}&extensions=%7B`,
      'query[]=a&query[]=b',
      'query[a]=1',
      `query=${encodeURIComponent(r.text(50))}`,
      '%%%',
      `query=${'x'.repeat(r.int(20_000))}`,
      `query=${encodeURIComponent('mutation { logout }')}`,
    ])}`,
    headers: sometimes(r, { 'apollo-require-preflight': 'true' }),
  }),
  (r) => ({
    kind: 'other method',
    method: r.pick(['PUT', 'DELETE', 'OPTIONS'] as const),
    path: r.pick(['/graphql', '/', '/health', '/nope']),
    headers: sometimes(r, {
      origin: 'https://evil.example.com',
      'access-control-request-method': 'POST',
    }),
  }),
  (r) => ({
    kind: 'odd path',
    method: 'GET',
    path: r.pick([
      '/graphql/../health',
      '/%2e%2e/',
      '/graphql%00',
      `/${r.text(10).replace(/[\s#?%]/g, '')}`,
      '/metrics?x=1',
    ]),
    headers: { accept: r.pick(['text/html', '*/*', 'application/json', r.text(10)]) },
  }),
  (r) =>
    post(
      'deep JSON variables',
      `{"query":"query Q($id: ID!) { product(id: $id) { id } }","variables":{"id":${'['.repeat(1000 + r.int(50_000))}`,
    ),
  (r) =>
    post(
      'deep list argument',
      json({ query: `{ product(id: ${'['.repeat(100 + r.int(20_000))}) { id } }` }),
    ),
  (r) => post('valid query', json({ query: r.pick(QUERIES), variables: { id: 'not-a-uuid' } })),
];

async function send(baseUrl: string, request: FuzzRequest): Promise<number | string> {
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    // A path fetch itself refuses to send (e.g. an invalid header value) is not the gateway's.
    if ((error as Error).name === 'TypeError' && !(error as { cause?: unknown }).cause) {
      return 'not sent';
    }
    return `network error: ${(error as Error).message}`;
  }
}

describe('the gateway under 1,000 fuzzed requests', () => {
  let test: TestPlatform;
  beforeAll(async () => {
    test = await startTestPlatform(testLogger(), {}, { kafka: false });
  });
  afterAll(async () => {
    await test?.stop();
  });

  it(`answers every one without a 5xx and keeps serving (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const requests = Array.from({ length: REQUESTS }, () => random.pick(GENERATORS)(random));
    const byStatus = new Map<string, number>();
    const failures: string[] = [];
    // A few at a time, as several clients would send them.
    for (let i = 0; i < requests.length; i += 10) {
      const batch = requests.slice(i, i + 10);
      const statuses = await Promise.all(batch.map((request) => send(test.gatewayUrl, request)));
      statuses.forEach((status, j) => {
        const key = String(status);
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
        if (typeof status !== 'number' || status >= 500) {
          failures.push(
            `#${i + j} ${batch[j]!.kind} ${batch[j]!.method} ${batch[j]!.path.slice(0, 80)}: ${key}`,
          );
        }
      });
    }
    console.log(
      `fuzz (seed ${SEED}): ${[...byStatus]
        .sort()
        .map(([status, count]) => `${status}×${count}`)
        .join(', ')}`,
    );
    expect(failures).toEqual([]);

    expect((await fetch(`${test.gatewayUrl}/health`)).status).toBe(200);
    const normal = await test.gql('{ products(first: 1) { edges { node { id } } } }');
    expect(normal.status).toBe(200);
    expect(normal.body.errors).toBeUndefined();
  });
});
