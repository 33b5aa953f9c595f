/**
 * The gateway's persisted queries and response cache end to end, on real PostgreSQL, Redis
 * and Kafka: APQ registers a query by its sha256 in Redis; with the response
 * cache on, a repeated product read never reaches the catalog, and once the gateway has
 * consumed the `product.updated` of an admin's change the next read is fresh (one product and
 * lists); a signed-in user's own data is never cached; with the defaults nothing is cached
 * and no cache key is written; with a trusted-documents manifest only its operations run.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import { codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';
const PASSWORD = 'correct horse battery staple';
const logs = captureLogs();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const PRODUCT = 'query ($id: ID!) { product(id: $id) { id name priceCents stock } }';
const PRODUCTS =
  'query ($search: String) { products(first: 10, search: $search) { edges { node { id name priceCents } } } }';

interface Product {
  id: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** A POST to the gateway with any body; the status, headers and parsed body. */
async function post(fixture: TestPlatform, body: unknown, token?: string) {
  const response = await fetch(`${fixture.gatewayUrl}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    cacheControl: response.headers.get('cache-control'),
    body: (await response.json()) as {
      data?: Record<string, unknown>;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    },
  };
}

/** The sum of a counter's values (matching `labels`) in a subgraph's registry. */
async function subgraphMetric(
  fixture: TestPlatform,
  subgraph: 'catalog' | 'users',
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = fixture.platform.subgraphs.get(subgraph)!.metrics.registry.getSingleMetric(name)!;
  return (await metric.get()).values
    .filter((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v))
    .reduce((sum, value) => sum + value.value, 0);
}

/** A counter's value (summed over series matching `labels`) from the gateway's `/metrics`. */
async function gatewayMetric(
  fixture: TestPlatform,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${fixture.gatewayUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function token(fixture: TestPlatform, email: string): Promise<string> {
  const response = await fixture.gql<{ register: { accessToken: string } }>(
    'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
    { input: { email, password: PASSWORD, name: email.split('@')[0] } },
  );
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.register.accessToken;
}

async function keysUnder(fixture: TestPlatform, pattern: string): Promise<string[]> {
  const redis = new Redis(fixture.redis.url);
  try {
    return await redis.keys(`${fixture.redis.prefix}${pattern}`);
  } finally {
    redis.disconnect();
  }
}

describe('with the response cache on', () => {
  let fixture: TestPlatform;
  let admin: string;

  beforeAll(async () => {
    fixture = await startTestPlatform(logs.logger, {
      ADMIN_EMAIL,
      GATEWAY_RESPONSE_CACHE: 'true',
    });
    admin = await token(fixture, ADMIN_EMAIL);
  });
  afterAll(() => fixture?.stop());

  const invalidations = () => gatewayMetric(fixture, 'gateway_response_cache_invalidations_total');

  /** Creates a product as the admin and waits for the gateway to consume its creation. */
  async function createProduct(name: string): Promise<Product> {
    const before = await invalidations();
    const response = await fixture.gql<{ createProduct: Product }>(
      'mutation ($input: CreateProductInput!) { createProduct(input: $input) { id name priceCents stock } }',
      { input: { name, priceCents: 1000, currency: 'EUR', stock: 5 } },
      admin,
    );
    expect(response.body.errors).toBeUndefined();
    await waitFor(async () => (await invalidations()) > before, {
      timeoutMs: 10_000,
      what: 'the gateway to consume product.created',
    });
    return response.body.data!.createProduct;
  }
  const catalogQueries = () =>
    subgraphMetric(fixture, 'catalog', 'graphql_operations_total', { type: 'query' });

  it('serves a repeated product read from the cache, without calling the catalog', async () => {
    const product = await createProduct(`cached-${randomUUID().slice(0, 8)}`);
    const first = await post(fixture, { query: PRODUCT, variables: { id: product.id } });
    expect(first.body).toEqual({ data: { product } });
    expect(first.cacheControl).toBe('max-age=60, public');
    const queries = await catalogQueries();
    const hits = await gatewayMetric(fixture, 'gateway_response_cache_total', { result: 'hit' });

    const second = await post(fixture, { query: PRODUCT, variables: { id: product.id } });
    expect(second.body).toEqual({ data: { product } });
    expect(second.cacheControl).toMatch(/^max-age=\d+, public$/);
    expect(await catalogQueries()).toBe(queries);
    expect(await gatewayMetric(fixture, 'gateway_response_cache_total', { result: 'hit' })).toBe(
      hits + 1,
    );
    expect(await keysUnder(fixture, 'gateway:response:*')).not.toHaveLength(0);
  });

  it('reads fresh data right after the gateway consumed the event of an admin change', async () => {
    const tag = `fresh${randomUUID().slice(0, 8)}`;
    const product = await createProduct(`${tag}-a`);
    const read = async () =>
      (await post(fixture, { query: PRODUCT, variables: { id: product.id } })).body.data![
        'product'
      ];
    const list = async () =>
      (await post(fixture, { query: PRODUCTS, variables: { search: tag } })).body;
    expect(await read()).toEqual(product);
    expect(await read()).toEqual(product);
    const listed = await list();
    expect(await list()).toEqual(listed);
    const queries = await catalogQueries();
    expect(await read()).toEqual(product);
    expect(await catalogQueries()).toBe(queries);

    const before = await invalidations();
    const update = await fixture.gql(
      'mutation ($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }',
      { id: product.id, input: { priceCents: 1500, name: `${tag}-b` } },
      admin,
    );
    expect(update.body.errors).toBeUndefined();
    await waitFor(async () => (await invalidations()) > before, {
      timeoutMs: 10_000,
      what: 'the gateway to consume product.updated',
    });

    expect(await read()).toEqual({ ...product, name: `${tag}-b`, priceCents: 1500 });
    expect(await list()).toEqual({
      data: {
        products: { edges: [{ node: { id: product.id, name: `${tag}-b`, priceCents: 1500 } }] },
      },
    });
  });

  it("never caches a signed-in user's own data", async () => {
    const user = await token(fixture, `u${randomUUID().slice(0, 8)}@example.com`);
    const before = await subgraphMetric(fixture, 'users', 'graphql_operations_total', {
      type: 'query',
    });
    const keys = (await keysUnder(fixture, 'gateway:response:*')).length;
    for (let i = 0; i < 2; i++) {
      const me = await post(fixture, { query: '{ me { id email } }' }, user);
      expect(me.body.errors).toBeUndefined();
      expect(me.cacheControl).toBe('no-store');
    }
    expect(
      await subgraphMetric(fixture, 'users', 'graphql_operations_total', { type: 'query' }),
    ).toBe(before + 2);
    expect(await keysUnder(fixture, 'gateway:response:*')).toHaveLength(keys);
  });

  it('registers a persisted query by its sha256 (APQ), in Redis', async () => {
    const query = `{ products(first: 1) { edges { cursor } } } # ${randomUUID()}`;
    const hash = sha256(query);
    const extensions = { persistedQuery: { version: 1, sha256Hash: hash } };

    const unknown = await post(fixture, { extensions });
    expect(codes({ status: unknown.status, body: unknown.body } as never)).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
    const registered = await post(fixture, { query, extensions });
    expect(registered.body.errors).toBeUndefined();
    await waitFor(async () => (await keysUnder(fixture, `gateway:apq:${hash}`)).length === 1, {
      what: 'the query to be stored',
    });
    const byHash = await post(fixture, { extensions });
    expect(byHash.body).toEqual(registered.body);
  });
});

describe('with the defaults and a trusted-documents manifest', () => {
  let fixture: TestPlatform;
  let dir: string;
  const listed = '{ products(first: 5) { edges { node { id } } } }';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'eventgraph-trusted-'));
    const manifest = path.join(dir, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [{ id: sha256(listed), name: 'Products', type: 'query', body: listed }],
      }),
    );
    fixture = await startTestPlatform(logs.logger, { GATEWAY_TRUSTED_DOCUMENTS: manifest });
  });
  afterAll(async () => {
    await fixture?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('caches nothing: every read reaches the catalog, no cache header, no key', async () => {
    const before = await subgraphMetric(fixture, 'catalog', 'graphql_operations_total', {
      type: 'query',
    });
    for (let i = 0; i < 2; i++) {
      const response = await post(fixture, { query: listed });
      expect(response.body.errors).toBeUndefined();
      expect(response.cacheControl).toBe('no-store');
    }
    expect(
      await subgraphMetric(fixture, 'catalog', 'graphql_operations_total', { type: 'query' }),
    ).toBe(before + 2);
    expect(await keysUnder(fixture, 'gateway:response:*')).toEqual([]);
    expect(await keysUnder(fixture, 'gateway:entity:*')).toEqual([]);
  });

  it('runs a listed operation by its id or by its body', async () => {
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(listed) } };
    const byId = await post(fixture, { extensions });
    expect(byId.status).toBe(200);
    expect(byId.body.errors).toBeUndefined();
    const byBody = await post(fixture, { query: listed });
    expect(byBody.body).toEqual(byId.body);
  });

  it('refuses any other operation with PERSISTED_QUERY_NOT_IN_LIST and HTTP 400', async () => {
    const other = '{ products(first: 6) { edges { node { id } } } }';
    const byBody = await post(fixture, { query: other });
    expect(byBody.status).toBe(400);
    expect(byBody.body.data).toBeUndefined();
    expect(byBody.body.errors?.map((error) => error.extensions?.['code'])).toEqual([
      'PERSISTED_QUERY_NOT_IN_LIST',
    ]);
    // Sent with its hash, it is not registered either.
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(other) } };
    expect((await post(fixture, { query: other, extensions })).status).toBe(400);
    const byId = await post(fixture, { extensions });
    expect(byId.body.errors?.map((error) => error.extensions?.['code'])).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
  });
});
