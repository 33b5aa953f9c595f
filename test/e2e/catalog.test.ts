/**
 * The catalog subgraph's public API end to end, through the gateway on real PostgreSQL,
 * Redis and Kafka: only ADMINs change products (a refused change changes
 * nothing), every field is validated and normalised with BAD_USER_INPUT naming it, `products`
 * pages oldest first without gaps or duplicates and filters by search and stock, a deleted
 * product leaves the catalogue but not the orders placed before, reads are never served
 * stale from the Redis cache, orders keep the price they were placed at while the catalogue
 * moves on, and a change publishes exactly one `product.updated` naming what changed (none
 * when nothing did).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';

let fixture: TestPlatform;
let db: pg.Client;
let redis: Redis;
let admin: string;
const logs = captureLogs();

interface Product {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  stock: number;
  createdAt: string;
  updatedAt: string;
}
const PRODUCT = 'id name description priceCents currency stock createdAt updatedAt';

interface Page {
  edges: { cursor: string; node: { id: string; name: string; stock: number } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
const PRODUCTS_PAGE = `query ($first: Int, $after: String, $search: String, $inStock: Boolean) {
  products(first: $first, after: $after, search: $search, inStock: $inStock) {
    edges { cursor node { id name stock } }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Order {
  id: string;
  status: string;
  totalCents: number;
  items: {
    quantity: number;
    unitPriceCents: number;
    product: { id: string; name: string; priceCents: number };
  }[];
}
const ORDER =
  'id status totalCents items { quantity unitPriceCents product { id name priceCents } }';

const CREATE = `mutation ($input: CreateProductInput!) { createProduct(input: $input) { ${PRODUCT} } }`;
const UPDATE = `mutation ($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) { ${PRODUCT} }
}`;
const DELETE = 'mutation ($id: ID!) { deleteProduct(id: $id) }';

/** A short tag unique to one test, so its products can be told apart with `search`. */
const newTag = () => `t${randomUUID().slice(0, 8)}`;

/** A GraphQL call that must succeed; returns its data. */
const ok = <TData>(query: string, variables: Record<string, unknown>, token?: string) =>
  fixture.data<TData>(query, variables, token);

const register = (email: string): Promise<string> => fixture.register(email);

/**
 * Creates a product as the admin. With `sellable`, also waits until orders can sell it (it
 * learns of products by event).
 */
async function createProduct(
  input: {
    name: string;
    priceCents: number;
    stock?: number;
    currency?: string;
    description?: string;
  },
  { sellable = false } = {},
): Promise<Product> {
  const { createProduct: product } = await ok<{ createProduct: Product }>(
    CREATE,
    { input: { currency: 'EUR', ...input } },
    admin,
  );
  if (sellable) {
    await fixture.untilSellable(product.id);
  }
  return product;
}

/** `updateProduct` as the admin, or as `token` when given (null: anonymous). */
function updateProduct(
  id: string,
  input: Record<string, unknown>,
  token: string | null = admin,
): Promise<GraphQLResponse<{ updateProduct: Product }>> {
  return fixture.gql<{ updateProduct: Product }>(UPDATE, { id, input }, token ?? undefined);
}

/** `deleteProduct` as the admin, or as `token` when given (null: anonymous). */
function deleteProduct(
  id: string,
  token: string | null = admin,
): Promise<GraphQLResponse<{ deleteProduct: boolean }>> {
  return fixture.gql<{ deleteProduct: boolean }>(DELETE, { id }, token ?? undefined);
}

/** `product(id)` as an anonymous client reads it. */
async function productOf(id: string): Promise<Product | null> {
  const data = await ok<{ product: Product | null }>(
    `query ($id: ID!) { product(id: $id) { ${PRODUCT} } }`,
    { id },
  );
  return data.product;
}

async function page(args: Record<string, unknown>): Promise<Page> {
  return (await ok<{ products: Page }>(PRODUCTS_PAGE, args)).products;
}

/** Names of the products on sale matching `search` (first page of 100), oldest first. */
async function namesMatching(search: string, inStock?: boolean): Promise<string[]> {
  const result = await page({ first: 100, search, ...(inStock === undefined ? {} : { inStock }) });
  return result.edges.map((edge) => edge.node.name);
}

async function addToCart(token: string, productId: string, quantity: number): Promise<void> {
  await ok(
    'mutation ($productId: ID!, $quantity: Int!) { addToCart(productId: $productId, quantity: $quantity) { totalCents } }',
    { productId, quantity },
    token,
  );
}

async function placeOrder(token: string): Promise<Order> {
  return (await ok<{ placeOrder: Order }>(`mutation { placeOrder { ${ORDER} } }`, {}, token))
    .placeOrder;
}

async function orderOf(token: string, id: string): Promise<Order> {
  const data = await ok<{ order: Order }>(
    `query ($id: ID!) { order(id: $id) { ${ORDER} } }`,
    { id },
    token,
  );
  return data.order;
}

/** Waits until the order leaves PENDING; returns it. */
async function settled(token: string, id: string): Promise<Order> {
  return waitFor(
    async () => {
      const order = await orderOf(token, id);
      return order.status !== 'PENDING' && order;
    },
    { timeoutMs: 10_000, what: `order ${id} to be settled` },
  );
}

/** The price orders' replica of the catalogue holds for a product (null if unknown). */
async function replicaPrice(productId: string): Promise<number | null> {
  const { rows } = await db.query<{ price_cents: number }>(
    'select price_cents from orders.products where id = $1',
    [productId],
  );
  return rows[0]?.price_cents ?? null;
}

/** The `data` of every `product.updated` catalog published about a product, oldest first. */
async function updateEvents(
  productId: string,
): Promise<{ changed: string[]; priceCents: number }[]> {
  const { rows } = await db.query<{ data: { changed: string[]; priceCents: number } }>(
    `select value::jsonb -> 'data' as data from catalog.outbox
     where key = $1 and value::jsonb ->> 'type' = 'product.updated' order by id`,
    [productId],
  );
  return rows.map((row) => row.data);
}

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL });
  db = new pg.Client({ connectionString: fixture.database.url });
  await db.connect();
  redis = new Redis(fixture.redis.url);
  admin = await register(ADMIN_EMAIL);
});

afterAll(async () => {
  redis?.disconnect();
  await db?.end();
  await fixture?.stop();
});

describe('who may change the catalogue', () => {
  const tag = newTag();
  let user: string;
  let guarded: Product;

  beforeAll(async () => {
    user = await register('uma@example.com');
    guarded = await createProduct({
      name: `Guarded ${tag}`,
      description: 'Not for sale to intruders',
      priceCents: 1000,
      stock: 5,
    });
  });

  // The gateway's authorization plugin answers before any subgraph runs: an anonymous caller
  // is UNAUTHENTICATED, a signed-in one without the `admin` scope FORBIDDEN.
  const callers: { who: string; token: () => string | null; code: string }[] = [
    { who: 'a USER', token: () => user, code: 'FORBIDDEN' },
    { who: 'an anonymous caller', token: () => null, code: 'UNAUTHENTICATED' },
  ];

  it.each(callers)('$who may not create a product ($code), and none appears', async (caller) => {
    const response = await fixture.gql(
      CREATE,
      { input: { name: `Intruder ${tag}`, priceCents: 1, currency: 'EUR', stock: 1 } },
      caller.token() ?? undefined,
    );
    expect(codes(response)).toEqual([caller.code]);
    expect(response.body.data ?? null).toBeNull();
    expect(await namesMatching(tag)).toEqual([`Guarded ${tag}`]);
  });

  it.each(callers)(
    '$who may not update a product ($code), and it stays as it was',
    async (caller) => {
      const response = await updateProduct(
        guarded.id,
        { name: 'Hacked', priceCents: 1, stock: 0 },
        caller.token(),
      );
      expect(codes(response)).toEqual([caller.code]);
      expect(response.body.data ?? null).toBeNull();
      expect(await productOf(guarded.id)).toEqual(guarded);
      expect(await updateEvents(guarded.id)).toEqual([]);
    },
  );

  it.each(callers)(
    '$who may not delete a product ($code), and it stays on sale',
    async (caller) => {
      const response = await deleteProduct(guarded.id, caller.token());
      expect(codes(response)).toEqual([caller.code]);
      expect(response.body.data ?? null).toBeNull();
      expect(await productOf(guarded.id)).toEqual(guarded);
      expect(await namesMatching(tag)).toEqual([`Guarded ${tag}`]);
    },
  );

  it('lets an ADMIN create, update and delete (the same calls succeed)', async () => {
    const created = await createProduct({ name: `Admin ${tag}`, priceCents: 10 });
    expect(
      (await updateProduct(created.id, { priceCents: 20 })).body.data?.updateProduct,
    ).toMatchObject({ id: created.id, priceCents: 20 });
    expect((await deleteProduct(created.id)).body.data).toEqual({ deleteProduct: true });
    expect(await productOf(created.id)).toBeNull();
  });
});

describe('what a product may look like', () => {
  const tag = newTag();
  // The description carries the tag, so even products with a bad name could be found.
  const valid = {
    name: `Valid ${tag}`,
    description: `probe ${tag}`,
    priceCents: 100,
    currency: 'EUR',
    stock: 1,
  };

  it.each<[string, string, Record<string, unknown>]>([
    ['a negative price', 'priceCents', { priceCents: -1 }],
    ['a negative stock', 'stock', { stock: -1 }],
    ['an empty name', 'name', { name: '' }],
    ['a name of whitespace only', 'name', { name: ' \t  ' }],
    ['a 201-character name', 'name', { name: 'n'.repeat(201) }],
    ['an unknown currency', 'currency', { currency: 'ABC' }],
    ['a 5,001-character description', 'description', { description: 'd'.repeat(5001) }],
  ])(
    'refuses to create a product with %s, naming `%s`, and creates nothing',
    async (_what, field, bad) => {
      const response = await fixture.gql(CREATE, { input: { ...valid, ...bad } }, admin);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(response.body.data ?? null).toBeNull();
      expect(await namesMatching(tag)).toEqual([]);
    },
  );

  it('accepts a 200-character name (trimmed) and a lower-case currency, stored upper-case', async () => {
    const name = `${'n'.repeat(200 - tag.length)}${tag}`;
    const created = await createProduct({ ...valid, name: `  ${name}  `, currency: 'usd' });
    expect(created).toMatchObject({ name, currency: 'USD' });
    expect(await productOf(created.id)).toMatchObject({ name, currency: 'USD', priceCents: 100 });
    expect(await namesMatching(tag)).toEqual([name]);

    // The same rule applies to changes.
    const updated = await updateProduct(created.id, { currency: 'gbp' });
    expect(updated.body.data?.updateProduct.currency).toBe('GBP');
    expect((await productOf(created.id))?.currency).toBe('GBP');
  });

  it.each([
    ['an unknown id', () => randomUUID()],
    ['a malformed id', () => 'not-an-id'],
  ])('answers NOT_FOUND to updating or deleting %s, and null to reading it', async (_what, id) => {
    expect(await productOf(id())).toBeNull();
    expect(codes(await updateProduct(id(), { priceCents: 1 }))).toEqual(['NOT_FOUND']);
    expect(codes(await deleteProduct(id()))).toEqual(['NOT_FOUND']);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['a negative price', 'priceCents', { name: 'Renamed', priceCents: -5 }],
    ['a negative stock', 'stock', { name: 'Renamed', stock: -1 }],
    ['a blank name', 'name', { name: '   ', priceCents: 1 }],
    ['a 201-character name', 'name', { name: 'r'.repeat(201), stock: 9 }],
    ['an unknown currency', 'currency', { name: 'Renamed', currency: 'ABC' }],
  ])(
    'refuses an update with %s, naming `%s`, and changes none of its fields',
    async (_what, field, bad) => {
      const product = await createProduct({
        name: `Steady ${newTag()}`,
        priceCents: 250,
        stock: 4,
      });
      const response = await updateProduct(product.id, bad);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(await productOf(product.id)).toEqual(product);
      expect(await updateEvents(product.id)).toEqual([]);
    },
  );
});

describe('the products list', () => {
  it('pages 25 products 10 at a time, oldest first, with no duplicates or gaps', async () => {
    const tag = newTag();
    const created: string[] = [];
    for (let i = 0; i < 25; i++) {
      created.push(
        (await createProduct({ name: `Paged ${tag} ${String(i).padStart(2, '0')}`, priceCents: i }))
          .id,
      );
    }

    const seen: string[] = [];
    const hasNext: boolean[] = [];
    let after: string | null = null;
    do {
      const result: Page = await page({ first: 10, after, search: tag });
      expect(result.edges.length).toBeLessThanOrEqual(10);
      expect(result.pageInfo.endCursor).toBe(result.edges.at(-1)?.cursor ?? null);
      seen.push(...result.edges.map((edge) => edge.node.id));
      hasNext.push(result.pageInfo.hasNextPage);
      after = result.pageInfo.hasNextPage ? result.pageInfo.endCursor : null;
    } while (after && hasNext.length < 10);

    expect(seen).toEqual(created); // oldest first, every one exactly once
    expect(hasNext).toEqual([true, true, false]);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ first: 0 }, 'first'],
    [{ first: 101 }, 'first'],
    [{ first: -1 }, 'first'],
    [{ after: 'garbage' }, 'after'],
    [{ after: Buffer.from('["yesterday","x"]').toString('base64url') }, 'after'],
  ])('refuses %j with BAD_USER_INPUT naming the argument', async (args, field) => {
    const response = await fixture.gql(PRODUCTS_PAGE, args);
    expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
  });

  it('accepts first: 100 (the maximum)', async () => {
    const response = await fixture.gql<{ products: Page }>(PRODUCTS_PAGE, { first: 100 });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data!.products.edges.length).toBeGreaterThan(0);
  });

  it('searches name and description ignoring case, with % and _ as literal characters', async () => {
    const tag = newTag();
    for (const input of [
      { name: `${tag} 100% Cotton` },
      { name: `${tag} 1000 Cotton` },
      { name: `${tag} snake_case` },
      { name: `${tag} snakeXcase` },
      { name: `Plain ${tag}`, description: `Has a HIDDEN-${tag} word` },
    ]) {
      await createProduct({ ...input, priceCents: 100, stock: 1 });
    }

    expect(await namesMatching(`${tag} 100% cotton`.toUpperCase())).toEqual([`${tag} 100% Cotton`]);
    expect(await namesMatching(`${tag} snake_`)).toEqual([`${tag} snake_case`]);
    expect(await namesMatching(`hidden-${tag}`)).toEqual([`Plain ${tag}`]);
    expect(await namesMatching(`  ${tag} SNAKEX  `)).toEqual([`${tag} snakeXcase`]);
    expect(await namesMatching(tag)).toHaveLength(5);
    expect(await namesMatching(`${tag}%_`)).toEqual([]);
  });

  it('filters by stock: inStock true keeps products with stock, false those without', async () => {
    const tag = newTag();
    await createProduct({ name: `${tag} stocked`, priceCents: 100, stock: 3 });
    await createProduct({ name: `${tag} sold out`, priceCents: 100, stock: 0 });
    await createProduct({ name: `${tag} last one`, priceCents: 100, stock: 1 });

    expect(await namesMatching(tag, true)).toEqual([`${tag} stocked`, `${tag} last one`]);
    expect(await namesMatching(tag, false)).toEqual([`${tag} sold out`]);
    expect(await namesMatching(tag)).toEqual([
      `${tag} stocked`,
      `${tag} sold out`,
      `${tag} last one`,
    ]);
  });
});

describe('deleting a product', () => {
  it('takes it off sale everywhere but keeps it in the orders placed before', async () => {
    const tag = newTag();
    const doomed = await createProduct(
      { name: `Doomed ${tag}`, priceCents: 700, stock: 5 },
      { sellable: true },
    );
    const user = await register('dora@example.com');
    await addToCart(user, doomed.id, 2);
    const placed = await placeOrder(user);
    expect((await settled(user, placed.id)).status).toBe('CONFIRMED');

    expect((await deleteProduct(doomed.id)).body).toEqual({ data: { deleteProduct: true } });

    expect(await productOf(doomed.id)).toBeNull();
    expect(await namesMatching(tag)).toEqual([]);
    expect(codes(await deleteProduct(doomed.id))).toEqual(['NOT_FOUND']);
    expect(codes(await updateProduct(doomed.id, { priceCents: 1 }))).toEqual(['NOT_FOUND']);
    expect(await orderOf(user, placed.id)).toMatchObject({
      id: placed.id,
      totalCents: 1400,
      items: [
        { quantity: 2, unitPriceCents: 700, product: { id: doomed.id, name: `Doomed ${tag}` } },
      ],
    });
  });
});

describe('the product cache', () => {
  it('never serves a stale price or stock after a change', async () => {
    const tag = newTag();
    const product = await createProduct(
      { name: `Cached ${tag}`, priceCents: 1000, stock: 10 },
      { sellable: true },
    );
    const key = `${fixture.redis.prefix}catalog:product:${product.id}`;
    expect((await productOf(product.id))?.stock).toBe(10);
    expect(await redis.exists(key)).toBe(1); // the read cached it

    // A reservation is seen at once.
    const user = await register('cass@example.com');
    await addToCart(user, product.id, 3);
    const placed = await placeOrder(user);
    expect((await settled(user, placed.id)).status).toBe('CONFIRMED');
    expect((await productOf(product.id))?.stock).toBe(7);

    // Warm both paths to the product (the query and the order's entity reference). The cache
    // consumer may still drop the entry for the reservation after the order is CONFIRMED (its
    // own group, its own pace): warmed again until the entry stays.
    await waitFor(
      async () => {
        expect((await productOf(product.id))?.priceCents).toBe(1000);
        expect((await orderOf(user, placed.id)).items[0]!.product.priceCents).toBe(1000);
        return (await redis.exists(key)) === 1;
      },
      { what: 'the product cached again after the reservation' },
    );

    const updated = await updateProduct(product.id, { priceCents: 1234 });
    expect(updated.body.data?.updateProduct.priceCents).toBe(1234);
    for (let read = 0; read < 5; read++) {
      expect((await productOf(product.id))?.priceCents).toBe(1234);
      const order = await orderOf(user, placed.id);
      expect(order.items[0]).toMatchObject({ unitPriceCents: 1000, product: { priceCents: 1234 } });
    }
  });
});

describe('ids in any case', () => {
  it('finds, changes and deletes a product named by its id in upper case, never leaving a stale cache entry', async () => {
    const tag = newTag();
    const product = await createProduct({ name: `Shouty ${tag}`, priceCents: 100, stock: 1 });
    const upper = product.id.toUpperCase();
    expect((await productOf(product.id))?.priceCents).toBe(100); // cached, lower case
    expect((await productOf(upper))?.priceCents).toBe(100);

    expect((await updateProduct(upper, { priceCents: 555 })).body.errors).toBeUndefined();
    expect((await productOf(product.id))?.priceCents).toBe(555);
    expect((await productOf(upper))?.priceCents).toBe(555);

    expect((await deleteProduct(upper)).body.data?.deleteProduct).toBe(true);
    expect(await productOf(product.id)).toBeNull();
    expect(await productOf(upper)).toBeNull();
  });
});

describe('prices captured when the order is placed', () => {
  it('charges the price of the moment of placing, and keeps it when the price changes again', async () => {
    const tag = newTag();
    const product = await createProduct(
      { name: `Priced ${tag}`, priceCents: 500, stock: 10 },
      { sellable: true },
    );
    const user = await register('pia@example.com');
    await addToCart(user, product.id, 2);

    expect((await updateProduct(product.id, { priceCents: 700 })).body.errors).toBeUndefined();
    await waitFor(async () => (await replicaPrice(product.id)) === 700, {
      timeoutMs: 10_000,
      what: 'orders to learn the price of 700',
    });
    const { cart } = await ok<{
      cart: { totalCents: number; items: { quantity: number; unitPriceCents: number }[] };
    }>('{ cart { totalCents items { quantity unitPriceCents } } }', {}, user);
    expect(cart).toEqual({ totalCents: 1400, items: [{ quantity: 2, unitPriceCents: 700 }] });

    const placed = await placeOrder(user);
    expect(placed).toMatchObject({
      totalCents: 1400,
      items: [{ quantity: 2, unitPriceCents: 700, product: { id: product.id } }],
    });

    expect((await updateProduct(product.id, { priceCents: 900 })).body.errors).toBeUndefined();
    await waitFor(async () => (await replicaPrice(product.id)) === 900, {
      timeoutMs: 10_000,
      what: 'orders to learn the price of 900',
    });
    const order = await orderOf(user, placed.id);
    expect(order.totalCents).toBe(1400);
    expect(order.items).toEqual([
      {
        quantity: 2,
        unitPriceCents: 700,
        product: { id: product.id, name: `Priced ${tag}`, priceCents: 900 },
      },
    ]);
  });
});

describe('product.updated events', () => {
  it('publishes none for an update that changes nothing, and one naming the price for a price change', async () => {
    const tag = newTag();
    const product = await createProduct({
      name: `Evented ${tag}`,
      description: 'Same as ever',
      priceCents: 300,
      currency: 'EUR',
      stock: 2,
    });

    // Same values, spelled differently where the rules normalise them, and an empty input.
    for (const input of [
      {
        name: `  Evented ${tag} `,
        description: 'Same as ever',
        priceCents: 300,
        currency: 'eur',
        stock: 2,
      },
      {},
      { name: null, priceCents: null },
    ]) {
      const response = await updateProduct(product.id, input);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data!.updateProduct).toEqual(product); // updatedAt untouched too
    }
    expect(await updateEvents(product.id)).toEqual([]);

    const changed = await updateProduct(product.id, { priceCents: 350, stock: 2 });
    expect(changed.body.data!.updateProduct).toMatchObject({ priceCents: 350, stock: 2 });
    expect(await updateEvents(product.id)).toEqual([
      expect.objectContaining({ changed: ['priceCents'], priceCents: 350 }),
    ]);
  });
});
