/**
 * Subscriptions through the gateway with a real graphql-ws client, fed by the domain events
 * (on Kafka, and on the in-process bus of embedded mode): an order followed
 * from PENDING to CONFIRMED with its products resolved in catalog, someone else's order
 * refused, 1,000 subscribers updated at once with memory back to its baseline after they
 * leave, and a revoked token ending its subscriptions.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createClient } from 'graphql-ws';
import type { Client, ExecutionResult } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import { startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';
const logs = captureLogs();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Received {
  results: ExecutionResult[];
  errors: unknown[];
  closed: { code?: number; reason?: string } | null;
  completed: boolean;
}

function withPlatform(kafka: boolean) {
  let fixture!: TestPlatform;
  let db!: pg.Client;
  const clients: Client[] = [];

  const gql = <T>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
    fixture.data<T>(query, variables, token);
  const register = (email: string) => fixture.register(email);
  const createProduct = async (admin: string, name: string, stock: number) => {
    const { createProduct: product } = await gql<{ createProduct: { id: string } }>(
      'mutation ($i: CreateProductInput!) { createProduct(input: $i) { id } }',
      { i: { name, priceCents: 1000, currency: 'EUR', stock } },
      admin,
    );
    await fixture.untilSellable(product.id);
    return product.id;
  };

  /** A graphql-ws client to the gateway, as `token` (or anonymous). */
  const connect = (token: string | null, onClosed?: (event: { code?: number }) => void) => {
    const client = createClient({
      url: `${fixture.gatewayUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
      lazy: false,
      // The test reads closes through `on.closed` and each sink; not the console.
      onNonLazyError: () => undefined,
      on: onClosed ? { closed: (event) => onClosed(event as { code?: number }) } : {},
    });
    clients.push(client);
    return client;
  };
  const follow = (client: Client, query: string, variables: Record<string, unknown>) => {
    const received: Received = { results: [], errors: [], closed: null, completed: false };
    client.subscribe(
      { query, variables },
      {
        next: (value) => void received.results.push(value as ExecutionResult),
        error: (error) => {
          received.errors.push(error);
          if (error && typeof error === 'object' && 'code' in error) {
            received.closed = error as { code?: number; reason?: string };
          }
        },
        complete: () => {
          received.completed = true;
        },
      },
    );
    return received;
  };

  let admin!: string;
  beforeAll(async () => {
    fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL }, { kafka });
    db = new pg.Client({ connectionString: fixture.database.url });
    await db.connect();
    admin = await register(ADMIN_EMAIL);
  });

  afterAll(async () => {
    // dispose() closes the socket at once (it returns nothing to wait for).
    for (const client of clients) void client.dispose();
    await db?.end();
    await fixture?.stop();
  });

  return {
    gql,
    register,
    createProduct,
    connect,
    follow,
    fixture: () => fixture,
    admin: () => admin,
  };
}

const ORDER_SUBSCRIPTION = `subscription ($id: ID) {
  orderStatusChanged(orderId: $id) { id status items { quantity product { name } } }
}`;

describe.each([
  ['Kafka', true],
  ['the in-process bus (embedded mode)', false],
])('order subscriptions on %s', (_name, kafka) => {
  const platform = withPlatform(kafka);

  it('shows PENDING then CONFIRMED within 5 s, with product names from catalog; to another user the order does not exist, and only an ADMIN may follow every order', async () => {
    const admin = platform.admin();
    const ada = await platform.register('ada@example.com');
    const bob = await platform.register('bob@example.com');
    const widget = await platform.createProduct(admin, 'Widget', 5);
    await platform.gql(
      'mutation ($p: ID!) { addToCart(productId: $p, quantity: 2) { totalCents } }',
      { p: widget },
      ada,
    );
    // An ADMIN follows every order from before this one exists, so it sees every status.
    const everything = platform.follow(platform.connect(admin), ORDER_SUBSCRIPTION, {});
    await new Promise((resolve) => setTimeout(resolve, 500)); // the subscription is set up

    const placedAt = Date.now();
    const { placeOrder } = await platform.gql<{ placeOrder: { id: string; status: string } }>(
      'mutation { placeOrder { id status } }',
      {},
      ada,
    );
    const mine = platform.follow(platform.connect(ada), ORDER_SUBSCRIPTION, {
      id: placeOrder.id,
    });
    const theirs = platform.follow(platform.connect(bob), ORDER_SUBSCRIPTION, {
      id: placeOrder.id,
    });
    const snooping = platform.follow(platform.connect(bob), ORDER_SUBSCRIPTION, {});

    const statusesOf = (received: Received) =>
      received.results
        .map((r) => r.data?.['orderStatusChanged'] as { id: string; status: string })
        .filter((order) => order.id === placeOrder.id)
        .map((order) => order.status);
    await waitFor(() => statusesOf(everything).includes('CONFIRMED'), {
      timeoutMs: 5_000,
      what: 'CONFIRMED through the subscription',
    });
    expect(Date.now() - placedAt).toBeLessThan(5_000);
    expect(statusesOf(everything)).toEqual(['PENDING', 'CONFIRMED']);

    // The owner: the state at subscription time first, then each change, ending CONFIRMED.
    await waitFor(() => statusesOf(mine).includes('CONFIRMED'), {
      timeoutMs: 5_000,
      what: "the owner's CONFIRMED",
    });
    expect([['PENDING', 'CONFIRMED'], ['CONFIRMED']]).toContainEqual(statusesOf(mine));
    expect(mine.results.at(-1)!.data).toEqual({
      orderStatusChanged: {
        id: placeOrder.id,
        status: 'CONFIRMED',
        items: [{ quantity: 2, product: { name: 'Widget' } }],
      },
    });

    await waitFor(() => theirs.errors.length > 0 && snooping.errors.length > 0, {
      what: "bob's refusals",
    });
    for (const [refused, code] of [
      [theirs, 'NOT_FOUND'],
      [snooping, 'FORBIDDEN'],
    ] as const) {
      expect(refused.results).toEqual([]);
      expect(refused.errors[0]).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code }) }),
      ]);
    }
  });

  it('follows a change made after subscribing: cancelling shows CANCELLED', async () => {
    const cy = await platform.register('cy@example.com');
    const lamp = await platform.createProduct(platform.admin(), 'Lamp', 3);
    await platform.gql(
      'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents } }',
      { p: lamp },
      cy,
    );
    const { placeOrder } = await platform.gql<{ placeOrder: { id: string } }>(
      'mutation { placeOrder { id } }',
      {},
      cy,
    );
    const updates = platform.follow(platform.connect(cy), ORDER_SUBSCRIPTION, {
      id: placeOrder.id,
    });
    await waitFor(
      () =>
        updates.results.some(
          (r) => (r.data?.['orderStatusChanged'] as { status: string }).status === 'CONFIRMED',
        ),
      { timeoutMs: 5_000, what: 'CONFIRMED' },
    );
    await platform.gql(
      'mutation ($id: ID!) { cancelOrder(id: $id) { status } }',
      { id: placeOrder.id },
      cy,
    );
    await waitFor(
      () =>
        updates.results.some(
          (r) => (r.data?.['orderStatusChanged'] as { status: string }).status === 'CANCELLED',
        ),
      { timeoutMs: 5_000, what: 'CANCELLED' },
    );
  });
});

describe('subscriptions at scale and under revocation', () => {
  const platform = withPlatform(true);

  it('updates 1,000 concurrent subscribers of a product within 2 s, and memory returns to baseline after they leave', async () => {
    const admin = platform.admin();
    const gadget = await platform.createProduct(admin, 'Gadget', 10);
    const gateway = platform.fixture().platform.gateway!;
    gc();
    const baseline = process.memoryUsage().heapUsed;

    const SUBSCRIBERS = 1000;
    const subscribers: { client: Client; received: Received; at: number | null }[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const client = platform.connect(null);
      const received = platform.follow(
        client,
        'subscription ($id: ID) { productChanged(id: $id) { id priceCents stock } }',
        { id: gadget },
      );
      subscribers.push({ client, received, at: null });
    }
    // Everyone has the current state: they are all subscribed.
    await waitFor(() => subscribers.every((s) => s.received.results.length >= 1), {
      timeoutMs: 60_000,
      what: `${SUBSCRIBERS} subscriptions to start`,
    });
    expect(gateway.subscriptions.stats().subscriptions).toBeGreaterThanOrEqual(SUBSCRIBERS);
    const during = process.memoryUsage().heapUsed;

    const changedAt = Date.now();
    for (const subscriber of subscribers) {
      const before = subscriber.received.results.length;
      const poll = setInterval(() => {
        if (subscriber.received.results.length > before) {
          subscriber.at = Date.now();
          clearInterval(poll);
        }
      }, 5);
      setTimeout(() => clearInterval(poll), 10_000).unref();
    }
    await platform.gql(
      'mutation ($id: ID!) { updateProduct(id: $id, input: { priceCents: 1500 }) { id } }',
      { id: gadget },
      admin,
    );
    await waitFor(() => subscribers.every((s) => s.at !== null), {
      timeoutMs: 10_000,
      what: 'every subscriber to get the update',
    });
    const latencies = subscribers.map((s) => s.at! - changedAt).sort((a, b) => a - b);
    const slowest = latencies.at(-1)!;
    logs.logger.info(
      { p50: latencies[latencies.length / 2], max: slowest, subscribers: SUBSCRIBERS },
      'productChanged fan-out',
    );
    process.stdout.write(
      `productChanged fan-out to ${SUBSCRIBERS} subscribers: p50 ${latencies[latencies.length / 2]} ms, max ${slowest} ms; heap ${(baseline / 1e6).toFixed(1)} MB → ${(during / 1e6).toFixed(1)} MB subscribed\n`,
    );
    expect(slowest).toBeLessThan(2_000);
    for (const subscriber of subscribers) {
      expect(subscriber.received.results.at(-1)?.data).toEqual({
        productChanged: { id: gadget, priceCents: 1500, stock: 10 },
      });
    }

    // Everyone leaves: the gateway lets go of every subscription and its memory.
    for (const subscriber of subscribers) void subscriber.client.dispose();
    await waitFor(() => gateway.subscriptions.stats().connections === 0, {
      timeoutMs: 10_000,
      what: 'every connection to close',
    });
    expect(gateway.subscriptions.stats().subscriptions).toBe(0);
    let after = Infinity;
    for (let attempt = 0; attempt < 10 && after > baseline * 1.1; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      gc();
      after = process.memoryUsage().heapUsed;
    }
    process.stdout.write(
      `heap after they left: ${(after / 1e6).toFixed(1)} MB (baseline ${(baseline / 1e6).toFixed(1)} MB)\n`,
    );
    expect(after).toBeLessThan(baseline * 1.1);
  });

  it('ends the subscriptions of a token that is revoked (logout)', async () => {
    const eve = await platform.register('eve@example.com');
    const product = await platform.createProduct(platform.admin(), 'Lamp', 1);
    await platform.gql(
      'mutation ($p: ID!) { addToCart(productId: $p, quantity: 1) { totalCents } }',
      { p: product },
      eve,
    );
    const { placeOrder } = await platform.gql<{ placeOrder: { id: string } }>(
      'mutation { placeOrder { id } }',
      {},
      eve,
    );
    let closedWith: number | undefined;
    const updates = platform.follow(
      platform.connect(eve, (event) => {
        closedWith = event.code;
      }),
      ORDER_SUBSCRIPTION,
      { id: placeOrder.id },
    );
    await waitFor(() => updates.results.length > 0, { what: 'the first update' });

    await platform.gql('mutation { logout }', {}, eve);
    await waitFor(() => closedWith !== undefined, {
      timeoutMs: 10_000,
      what: 'the connection to be closed',
    });
    expect(closedWith).toBe(4403);
    expect(updates.errors).not.toEqual([]);
  });

  it('refuses a 21st subscription on one connection, and a query sent over WebSocket', async () => {
    const product = await platform.createProduct(platform.admin(), 'Pen', 1);
    const client = platform.connect(null);
    const all = Array.from({ length: 21 }, () =>
      platform.follow(client, 'subscription ($id: ID) { productChanged(id: $id) { id } }', {
        id: product,
      }),
    );
    await waitFor(() => all.every((s) => s.results.length > 0 || s.errors.length > 0), {
      what: '21 answers',
    });
    const refused = all.filter((s) => s.errors.length > 0);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.errors[0]).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) }),
    ]);

    const query = platform.follow(
      platform.connect(null),
      '{ products(first: 1) { edges { cursor } } }',
      {},
    );
    await waitFor(() => query.errors.length > 0, { what: 'the refusal' });
    expect(query.errors[0]).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) }),
    ]);
  });
});
