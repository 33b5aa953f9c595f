/**
 * The order saga end to end, through the gateway on real PostgreSQL, Redis and the Kafka test
 * broker: orders and catalog agree on every order only through events, reserve all of an
 * order's stock or none, never oversell under contention (also across a catalog restart),
 * give stock back on cancellation exactly once, and serve an order page's products in one
 * batched catalog fetch.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createEnvelope, dataSchemaUri } from '../../shared/events/index.ts';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';

let fixture: TestPlatform;
let db: pg.Client;
let admin: string;
const logs = captureLogs();

type Status = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'CANCELLED';
interface Product {
  id: string;
  name: string;
  priceCents: number;
  currency: string;
  stock: number;
}
interface Order {
  id: string;
  status: Status;
  totalCents: number;
  currency: string;
  rejectionReason: string | null;
  items: { quantity: number; unitPriceCents: number; product: { id: string; name: string } }[];
}
const ORDER =
  'id status totalCents currency rejectionReason items { quantity unitPriceCents product { id name } }';

/** A GraphQL call that must succeed; returns its data. */
const ok = <TData>(query: string, variables: Record<string, unknown>, token?: string) =>
  fixture.data<TData>(query, variables, token);

const register = (email: string): Promise<string> => fixture.register(email);

/** Creates a product as the admin and waits until orders can sell it (it learns by event). */
async function createProduct(input: {
  name: string;
  priceCents: number;
  stock: number;
  currency?: string;
}): Promise<Product> {
  const { createProduct: product } = await ok<{ createProduct: Product }>(
    `mutation ($input: CreateProductInput!) {
       createProduct(input: $input) { id name priceCents currency stock }
     }`,
    { input: { currency: 'EUR', ...input } },
    admin,
  );
  await fixture.untilSellable(product.id);
  return product;
}

async function stockOf(productId: string): Promise<number> {
  const data = await ok<{ product: { stock: number } }>(
    'query ($id: ID!) { product(id: $id) { stock } }',
    { id: productId },
  );
  return data.product.stock;
}

function addToCart(token: string, productId: string, quantity: number) {
  return fixture.gql<{ addToCart: { totalCents: number } }>(
    'mutation ($productId: ID!, $quantity: Int!) { addToCart(productId: $productId, quantity: $quantity) { totalCents currency items { quantity product { id } } } }',
    { productId, quantity },
    token,
  );
}

async function placeOrder(token: string): Promise<Order> {
  const data = await ok<{ placeOrder: Order }>(`mutation { placeOrder { ${ORDER} } }`, {}, token);
  return data.placeOrder;
}

function cancelOrder(token: string, id: string): Promise<GraphQLResponse<{ cancelOrder: Order }>> {
  return fixture.gql<{ cancelOrder: Order }>(
    `mutation ($id: ID!) { cancelOrder(id: $id) { ${ORDER} } }`,
    { id },
    token,
  );
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
async function settled(token: string, id: string, timeoutMs = 5_000): Promise<Order> {
  return waitFor(
    async () => {
      const order = await orderOf(token, id);
      return order.status !== 'PENDING' && order;
    },
    { timeoutMs, what: `order ${id} to be settled` },
  );
}

/** Statuses of many orders straight from the orders table (the test's own observation). */
async function statuses(ids: readonly string[]): Promise<Map<string, Status>> {
  const { rows } = await db.query<{ id: string; status: Status }>(
    'select id, status from orders.orders where id = any($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row.status]));
}

/** How many stock events of a kind catalog published about this order (its outbox). */
async function stockEvents(orderId: string, type: string): Promise<number> {
  const { rows } = await db.query<{ count: string }>(
    `select count(*) from catalog.outbox where key = $1 and value::jsonb ->> 'type' = $2`,
    [orderId, type],
  );
  return Number(rows[0]!.count);
}

/** Empties catalog's product cache in Redis. */
async function dropCachedProducts(): Promise<void> {
  const redis = new Redis(fixture.redis.url);
  try {
    const keys = await redis.keys(`${fixture.redis.prefix}catalog:product:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL });
  db = new pg.Client({ connectionString: fixture.database.url });
  await db.connect();
  admin = await register(ADMIN_EMAIL);
});

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
});

describe('the order saga', () => {
  it('confirms an order within 5 s and reserves its stock; cancelling gives it back, once', async () => {
    const widget = await createProduct({ name: 'Widget', priceCents: 1999, stock: 5 });
    const ada = await register('ada@example.com');
    expect(await stockOf(widget.id)).toBe(5); // cached from here on

    const cart = await addToCart(ada, widget.id, 2);
    expect(cart.body.errors).toBeUndefined();
    expect(cart.body.data!.addToCart.totalCents).toBe(3998);
    const placed = await placeOrder(ada);
    expect(placed).toMatchObject({
      status: 'PENDING',
      totalCents: 3998,
      currency: 'EUR',
      items: [{ quantity: 2, unitPriceCents: 1999, product: { id: widget.id, name: 'Widget' } }],
    });

    const confirmed = await settled(ada, placed.id, 5_000);
    expect(confirmed.status).toBe('CONFIRMED');
    expect(await stockOf(widget.id)).toBe(3);
    const { cart: emptied } = await ok<{ cart: { items: unknown[]; totalCents: number } }>(
      '{ cart { items { quantity } totalCents } }',
      {},
      ada,
    );
    expect(emptied).toEqual({ items: [], totalCents: 0 });

    const cancelled = await cancelOrder(ada, placed.id);
    expect(cancelled.body.data!.cancelOrder.status).toBe('CANCELLED');
    await waitFor(async () => (await stockOf(widget.id)) === 5, {
      timeoutMs: 5_000,
      what: 'the stock to come back',
    });

    // Cancelling twice is a no-op: same answer, no second release.
    const again = await cancelOrder(ada, placed.id);
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data!.cancelOrder.status).toBe('CANCELLED');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await stockOf(widget.id)).toBe(5);
    expect(await stockEvents(placed.id, 'stock.released')).toBe(1);
  });

  it('rejects a multi-item order with one short item and reserves nothing of it', async () => {
    const lamp = await createProduct({ name: 'Lamp', priceCents: 4500, stock: 5 });
    const bulb = await createProduct({ name: 'Bulb', priceCents: 300, stock: 1 });
    const bo = await register('bo@example.com');
    expect((await addToCart(bo, lamp.id, 2)).body.errors).toBeUndefined();
    expect((await addToCart(bo, bulb.id, 2)).body.errors).toBeUndefined();

    const placed = await placeOrder(bo);
    expect(placed.totalCents).toBe(2 * 4500 + 2 * 300);
    const rejected = await settled(bo, placed.id);

    expect(rejected.status).toBe('REJECTED');
    expect(rejected.rejectionReason).toContain(bulb.id);
    expect(rejected.rejectionReason).not.toContain(lamp.id);
    expect(await stockOf(lamp.id)).toBe(5);
    expect(await stockOf(bulb.id)).toBe(1);
    expect(await stockEvents(placed.id, 'stock.reserved')).toBe(0);

    // A rejected order holds nothing to cancel.
    expect(codes(await cancelOrder(bo, placed.id))).toEqual(['CONFLICT']);
  });

  it('gives back the stock of an order cancelled while PENDING, whatever catalog had decided', async () => {
    const kettle = await createProduct({ name: 'Kettle', priceCents: 2500, stock: 3 });
    const cy = await register('cy@example.com');
    await addToCart(cy, kettle.id, 3);
    const placed = await placeOrder(cy);
    const cancelled = await cancelOrder(cy, placed.id);
    expect(cancelled.body.data!.cancelOrder.status).toBe('CANCELLED');

    // Catalog reserves (or not) and then releases; the order stays CANCELLED either way.
    await waitFor(async () => (await stockEvents(placed.id, 'stock.reserved')) === 1, {
      what: 'the reservation',
    });
    await waitFor(async () => (await stockOf(kettle.id)) === 3, {
      timeoutMs: 5_000,
      what: 'the stock to come back',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await orderOf(cy, placed.id)).status).toBe('CANCELLED');
  });
});

describe('contention', () => {
  const USERS = 50;
  const ORDERS_PER_USER = 4;
  const STOCK = 50;

  /**
   * 50 users each put 1 unit in the cart and place an order, 4 times, all users at once:
   * 200 `placeOrder` calls for a product with stock 50. Returns the order ids, in the order
   * they were placed, and calls `midway` once half of them are placed.
   */
  async function rush(productId: string, tokens: string[], midway?: () => Promise<void>) {
    const ids: string[] = [];
    let midwayDone: Promise<void> | undefined;
    await Promise.all(
      tokens.map(async (token) => {
        for (let round = 0; round < ORDERS_PER_USER; round++) {
          const added = await addToCart(token, productId, 1);
          expect(added.body.errors).toBeUndefined();
          // Only orders' own fields: catalog may be restarting meanwhile.
          const placed = await ok<{ placeOrder: { id: string } }>(
            'mutation { placeOrder { id } }',
            {},
            token,
          );
          ids.push(placed.placeOrder.id);
          if (midway && ids.length === (USERS * ORDERS_PER_USER) / 2) midwayDone = midway();
        }
      }),
    );
    await midwayDone;
    return ids;
  }

  async function outcome(ids: readonly string[]) {
    const final = await waitFor(
      async () => {
        const now = await statuses(ids);
        return [...now.values()].every((status) => status !== 'PENDING') && now;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `${ids.length} orders to be settled` },
    );
    const count = (status: Status) => [...final.values()].filter((s) => s === status).length;
    return { confirmed: count('CONFIRMED'), rejected: count('REJECTED'), settled: final.size };
  }

  let tokens: string[];
  beforeAll(async () => {
    tokens = [];
    for (let batch = 0; batch < USERS; batch += 10) {
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => register(`rush-${batch + i}@example.com`)),
        )),
      );
    }
  });

  it('confirms exactly as many 1-unit orders as there is stock (50 of 200 from 50 users), never below 0', async () => {
    const gadget = await createProduct({ name: 'Gadget', priceCents: 999, stock: STOCK });
    const seen: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.push(await stockOf(gadget.id));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const ids = await rush(gadget.id, tokens);
    const started = Date.now();
    const result = await outcome(ids);
    watching = false;
    await watcher;

    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
    expect(result).toEqual({ confirmed: 50, rejected: 150, settled: 200 });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await stockOf(gadget.id)).toBe(0);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(0);
    expect(seen.length).toBeGreaterThan(1);
  });

  it('reaches the same outcome when catalog (the reserving consumer) restarts mid-way', async () => {
    const gizmo = await createProduct({ name: 'Gizmo', priceCents: 1499, stock: STOCK });
    const before = fixture.platform.subgraphs.get('catalog')!;

    const ids = await rush(gizmo.id, tokens, async () => {
      await fixture.platform.restart('catalog');
    });
    const result = await outcome(ids);

    expect(fixture.platform.subgraphs.get('catalog')).not.toBe(before);
    expect(result).toEqual({ confirmed: 50, rejected: 150, settled: 200 });
    expect(await stockOf(gizmo.id)).toBe(0);
    const { rows } = await db.query<{ decided: string }>(
      `select count(*) as decided from catalog.reservations where order_id = any($1::uuid[])`,
      [ids],
    );
    expect(Number(rows[0]!.decided)).toBe(200);
  });
});

describe('the cart', () => {
  it("answers addToCart with the cart a read would show: lines in the order first added, quantities summed, an upper-case id's line found", async () => {
    const user = await register('cartwright@example.com');
    const [pen, ink, paper] = await Promise.all(
      ['Quill', 'Inkpot', 'Vellum'].map((name, index) =>
        createProduct({ name, priceCents: 100 * (index + 1), stock: 100 }),
      ),
    );
    const CART = 'totalCents currency items { quantity unitPriceCents product { id } }';
    const add = async (productId: string, quantity: number) =>
      (
        await ok<{ addToCart: unknown }>(
          `mutation ($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { ${CART} } }`,
          { p: productId, q: quantity },
          user,
        )
      ).addToCart;
    const read = async () => (await ok<{ cart: unknown }>(`{ cart { ${CART} } }`, {}, user)).cart;

    for (const [productId, quantity] of [
      [ink!.id, 1],
      [pen!.id, 2],
      [ink!.id.toUpperCase(), 3],
      [paper!.id, 1],
      [pen!.id, 1],
    ] as const) {
      expect(await add(productId, quantity)).toEqual(await read());
    }
    expect(await read()).toEqual({
      totalCents: 4 * 200 + 3 * 100 + 1 * 300,
      currency: 'EUR',
      items: [
        { quantity: 4, unitPriceCents: 200, product: { id: ink!.id } },
        { quantity: 3, unitPriceCents: 100, product: { id: pen!.id } },
        { quantity: 1, unitPriceCents: 300, product: { id: paper!.id } },
      ],
    });
  });
});

describe('reading orders', () => {
  it('serves me.orders with every item’s product from one batched catalog fetch', async () => {
    const products = await Promise.all(
      ['Pen', 'Ink', 'Paper', 'Stamp'].map((name, index) =>
        createProduct({ name, priceCents: 100 * (index + 1), stock: 100 }),
      ),
    );
    const di = await register('di@example.com');
    for (let order = 0; order < 3; order++) {
      for (const product of products.slice(order, order + 2)) {
        await addToCart(di, product.id, order + 1);
      }
      await settled(di, (await placeOrder(di)).id);
    }
    const catalog = () => fixture.platform.subgraphs.get('catalog')!;
    const metric = async (name: string, labels: Record<string, string> = {}) => {
      const values = (await catalog().metrics.registry.getSingleMetric(name)!.get()).values;
      return values
        .filter((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v))
        .reduce((sum, value) => sum + value.value, 0);
    };
    // A cold product cache, so the batch also has to read the database.
    await dropCachedProducts();
    const before = {
      fetches: await metric('graphql_operations_total', { type: 'query' }),
      batches: await metric('catalog_product_batches_total'),
      queries: await metric('catalog_product_queries_total'),
    };

    const data = await ok<{
      me: {
        orders: {
          edges: {
            node: {
              status: Status;
              items: { quantity: number; product: { name: string; priceCents: number } }[];
            };
          }[];
        };
      };
    }>(
      '{ me { orders { edges { node { status items { quantity product { name priceCents } } } } } } }',
      {},
      di,
    );

    expect(data.me.orders.edges.map((edge) => edge.node)).toEqual([
      {
        status: 'CONFIRMED',
        items: [
          { quantity: 3, product: { name: 'Paper', priceCents: 300 } },
          { quantity: 3, product: { name: 'Stamp', priceCents: 400 } },
        ],
      },
      {
        status: 'CONFIRMED',
        items: [
          { quantity: 2, product: { name: 'Ink', priceCents: 200 } },
          { quantity: 2, product: { name: 'Paper', priceCents: 300 } },
        ],
      },
      {
        status: 'CONFIRMED',
        items: [
          { quantity: 1, product: { name: 'Pen', priceCents: 100 } },
          { quantity: 1, product: { name: 'Ink', priceCents: 200 } },
        ],
      },
    ]);
    expect((await metric('graphql_operations_total', { type: 'query' })) - before.fetches).toBe(1);
    expect((await metric('catalog_product_batches_total')) - before.batches).toBe(1);
    expect((await metric('catalog_product_queries_total')) - before.queries).toBe(1);
  });
});

describe('what cannot be ordered', () => {
  let user: string;
  let product: Product;
  beforeAll(async () => {
    user = await register('eve@example.com');
    product = await createProduct({ name: 'Thing', priceCents: 500, stock: 10 });
  });

  it.each([[0], [1001], [-1]])('refuses a quantity of %p naming `quantity`', async (quantity) => {
    const response = await addToCart(user, product.id, quantity);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]!.extensions).toMatchObject({ field: 'quantity' });
  });

  it('refuses more than 1000 of one product in the cart', async () => {
    expect((await addToCart(user, product.id, 600)).body.errors).toBeUndefined();
    const response = await addToCart(user, product.id, 401);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    await fixture.gql(
      'mutation ($id: ID!) { removeFromCart(productId: $id) { totalCents } }',
      { id: product.id },
      user,
    );
  });

  it('refuses an unknown product, a malformed id and a deleted product as NOT_FOUND', async () => {
    const doomed = await createProduct({ name: 'Doomed', priceCents: 100, stock: 1 });
    await ok('mutation ($id: ID!) { deleteProduct(id: $id) }', { id: doomed.id }, admin);
    await waitFor(
      async () =>
        (await db.query('select 1 from orders.products where id = $1 and not on_sale', [doomed.id]))
          .rowCount === 1,
      { what: 'orders to learn of the deletion' },
    );
    for (const id of [randomUUID(), 'not-an-id', doomed.id]) {
      expect(codes(await addToCart(user, id, 1))).toEqual(['NOT_FOUND']);
    }
  });

  it('refuses to place an empty cart, naming `cart`', async () => {
    const response = await fixture.gql('mutation { placeOrder { id } }', {}, user);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]!.extensions).toMatchObject({ field: 'cart' });
  });

  it('refuses a product deleted after it went into the cart, and keeps the cart', async () => {
    const fleeting = await createProduct({ name: 'Fleeting', priceCents: 100, stock: 1 });
    expect((await addToCart(user, fleeting.id, 1)).body.errors).toBeUndefined();
    await ok('mutation ($id: ID!) { deleteProduct(id: $id) }', { id: fleeting.id }, admin);
    await waitFor(
      async () =>
        (
          await db.query('select 1 from orders.products where id = $1 and not on_sale', [
            fleeting.id,
          ])
        ).rowCount === 1,
      { what: 'orders to learn of the deletion' },
    );
    const response = await fixture.gql('mutation { placeOrder { id } }', {}, user);
    expect(codes(response)).toEqual(['NOT_FOUND']);
    const { cart } = await ok<{ cart: { items: { product: { id: string; name: string } }[] } }>(
      '{ cart { items { product { id name } } } }',
      {},
      user,
    );
    expect(cart.items).toEqual([{ product: { id: fleeting.id, name: 'Fleeting' } }]);
  });

  it('keeps orders private: to another user they do not exist, an ADMIN sees them, anonymous callers are refused', async () => {
    const owner = await register('fay@example.com');
    const other = await register('gus@example.com');
    await addToCart(owner, product.id, 1);
    const placed = await placeOrder(owner);

    // Someone else's order answers as a missing one does: null, NOT_FOUND (no probing).
    expect(
      await fixture.gql(`query ($id: ID!) { order(id: $id) { id } }`, { id: placed.id }, other),
    ).toMatchObject({ status: 200, body: { data: { order: null } } });
    expect(codes(await cancelOrder(other, placed.id))).toEqual(['NOT_FOUND']);
    expect(codes(await cancelOrder(other, randomUUID()))).toEqual(['NOT_FOUND']);
    expect((await orderOf(admin, placed.id)).id).toBe(placed.id);
    expect(codes(await fixture.gql('{ cart { totalCents } }'))).toEqual(['UNAUTHENTICATED']);
    expect(
      (
        await ok<{ order: null }>(
          'query ($id: ID!) { order(id: $id) { id } }',
          { id: randomUUID() },
          other,
        )
      ).order,
    ).toBeNull();
  });
});

describe('events catalog and orders cannot act on', () => {
  it('handles answers for unknown orders and orders for unknown products without stopping', async () => {
    const unknownOrder = randomUUID();
    const stranger = randomUUID();
    await fixture.produce('catalog.events', [
      createEnvelope(
        'catalog',
        {
          type: 'stock.reserved',
          subject: unknownOrder,
          data: {
            orderId: unknownOrder,
            items: [{ productId: randomUUID(), quantity: 1, stockAfter: 0 }],
            reservedAt: new Date().toISOString(),
          },
        },
        dataSchemaUri('stock.reserved', 1),
      ),
    ]);
    const ghostOrder = randomUUID();
    await fixture.produce('orders.events', [
      createEnvelope(
        'orders',
        {
          type: 'order.placed',
          subject: ghostOrder,
          data: {
            orderId: ghostOrder,
            userId: stranger,
            items: [{ productId: randomUUID(), quantity: 1, unitPriceCents: 100 }],
            totalCents: 100,
            currency: 'EUR',
            placedAt: new Date().toISOString(),
          },
        },
        dataSchemaUri('order.placed', 1),
      ),
    ]);

    // Catalog rejects the ghost order (its product is unknown) instead of failing on it…
    await waitFor(async () => (await stockEvents(ghostOrder, 'stock.rejected')) === 1, {
      what: 'the ghost order to be rejected',
    });
    // …and both services go on settling real orders afterwards.
    const hal = await register('hal@example.com');
    const product = await createProduct({ name: 'After', priceCents: 100, stock: 1 });
    await addToCart(hal, product.id, 1);
    expect((await settled(hal, (await placeOrder(hal)).id)).status).toBe('CONFIRMED');
    const { rows } = await db.query(
      `select 1 from orders.inbox
       where event_id = (select event_id::text from catalog.outbox where key = $1)`,
      [ghostOrder],
    );
    expect(rows).toHaveLength(1);
    expect(
      logs.lines.some(
        (line) => line['orderId'] === unknownOrder && /unknown order/.test(String(line['msg'])),
      ),
    ).toBe(true);
  });
});
