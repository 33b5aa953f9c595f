/**
 * The subscription server's promises about order, with a real graphql-ws client, a feed the
 * test drives and executions it holds and releases: the current state first; each event's
 * `set` values shown even when the entity has moved on; nothing older than what was sent (a
 * late event's version, or an older change's result arriving last); a change consumed while
 * the current state is read is not missed; an execution that started before a change is never
 * shared with it; following every entity takes the declared scopes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, graphql } from 'graphql';
import type { FormattedExecutionResult } from 'graphql';
import { createClient } from 'graphql-ws';
import type { Client, ExecutionResult } from 'graphql-ws';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import type { AccessTokenClaims } from '../../shared/auth/index.ts';
import { testLogger, waitFor } from '../../shared/testing/index.ts';
import type { Change, ChangeFeed, ChangeListener } from './change-feed.ts';
import type { LiveSchema } from './live-schema.ts';
import { startSubscriptionServer } from './subscription-server.ts';
import type { SubscriptionServer } from './subscription-server.ts';

const schema = buildSchema(`
  type Query { parcel(id: ID!): Parcel }
  type Subscription { parcelMoved(parcelId: ID): Parcel! }
  type Parcel { id: ID! status: String! updatedAt: String! label: String! }
`);

const LIVE: LiveSchema = {
  subscriptions: new Map([
    [
      'parcelMoved',
      {
        field: 'parcelMoved',
        typename: 'Parcel',
        lookup: { field: 'parcel', idArgument: 'id' },
        argument: 'parcelId',
        version: 'updatedAt',
        everyRequiresScopes: [['ops']],
        bindings: [],
      },
    ],
  ]),
  entities: [],
  events: new Map([['parcels.events', new Set(['parcel.moved'])]]),
};

interface Parcel {
  id: string;
  status: string;
  updatedAt: string;
  label: string;
}

const at = (second: number) => `2026-12-07T10:00:${String(second).padStart(2, '0')}.000Z`;

/** A change feed the test drives: `emit` numbers changes as a real feed does. */
function testFeed() {
  const listeners = new Map<string, Set<ChangeListener>>();
  let sequence = 0;
  const feed: ChangeFeed = {
    listen(field, id, listener) {
      const key = `${field}:${id ?? '*'}`;
      const set = listeners.get(key) ?? new Set();
      listeners.set(key, set.add(listener));
      return () => void set.delete(listener);
    },
    listenEntities: () => () => undefined,
    sequence: () => sequence,
    size: () => [...listeners.values()].reduce((n, set) => n + set.size, 0),
    refresh: async () => undefined,
    stop: async () => undefined,
  };
  const emit = (id: string, change: Partial<Change> = {}) => {
    const full: Change = {
      id,
      type: 'parcel.moved',
      set: {},
      version: null,
      ...change,
      sequence: ++sequence,
    };
    for (const key of [`parcelMoved:${id}`, 'parcelMoved:*']) {
      for (const listener of listeners.get(key) ?? []) listener(full);
    }
  };
  return { feed, emit };
}

let server: SubscriptionServer;
let url: string;
let httpServer: ReturnType<typeof createServer>;
const clients: Client[] = [];
const parcels = new Map<string, Parcel>();
const { feed, emit } = testFeed();
/** Executions run so far; while `holding`, each waits until the test releases it. */
let executions = 0;
let holding = false;
const held: (() => void)[] = [];

const exp = Math.floor(Date.now() / 1000) + 3600;
const CLAIMS: Record<string, AccessTokenClaims> = {
  user: { sub: 'u1', scope: 'user', exp } as AccessTokenClaims,
  ops: { sub: 'u2', scope: 'user ops', exp } as AccessTokenClaims,
};

beforeAll(async () => {
  httpServer = createServer();
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/graphql`;
  server = startSubscriptionServer({
    httpServer,
    path: '/graphql',
    verifier: {
      verify: async (authorization) =>
        authorization ? (CLAIMS[authorization.replace('Bearer ', '')] ?? null) : null,
    },
    revocations: { isRevoked: async () => false, isSessionRevoked: async () => false },
    feed,
    apiSchema: () => schema,
    live: () => LIVE,
    policy: () => ({ check: () => [] }),
    async execute(request) {
      executions++;
      // The state is read when the execution starts, as a subgraph would.
      const result = graphql({
        schema,
        source: request.query,
        variableValues: request.variables,
        rootValue: { parcel: ({ id }: { id: string }) => ({ ...parcels.get(id) }) },
      });
      const answer = (await result) as FormattedExecutionResult;
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      return answer;
    },
    logger: testLogger(),
    registry: new Registry(),
    formatError: (formatted) => formatted,
  });
});

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await server.stop();
  await new Promise((resolve) => httpServer.close(resolve));
});

function follow(query: string, as?: string) {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: as ? { authorization: `Bearer ${as}` } : {},
  });
  clients.push(client);
  const received = { results: [] as ExecutionResult[], errors: [] as unknown[] };
  client.subscribe(
    { query },
    {
      next: (value) => void received.results.push(value as ExecutionResult),
      error: (error) => void received.errors.push(error),
      complete: () => undefined,
    },
  );
  return received;
}

it('sends the current state, then each change showing what its event set, even once the parcel moved on', async () => {
  parcels.set('p1', { id: 'p1', status: 'SENT', updatedAt: at(1), label: 'a' });
  const updates = follow('subscription { parcelMoved(parcelId: "p1") { status updatedAt } }');
  await waitFor(() => updates.results.length === 1, { what: 'the current state' });

  // Two transitions land before the gateway reads the parcel: both are still told in turn.
  parcels.set('p1', { id: 'p1', status: 'DELIVERED', updatedAt: at(3), label: 'a' });
  emit('p1', { set: { status: 'OUT' }, version: at(2) });
  emit('p1', { set: { status: 'DELIVERED' }, version: at(3) });
  await waitFor(() => updates.results.length === 3, { what: 'two updates' });
  expect(updates.results.map((result) => result.data)).toEqual([
    { parcelMoved: { status: 'SENT', updatedAt: at(1) } },
    { parcelMoved: { status: 'OUT', updatedAt: at(2) } },
    { parcelMoved: { status: 'DELIVERED', updatedAt: at(3) } },
  ]);
});

it('never sends what is older than what was sent: a late event, or an older change answered last', async () => {
  parcels.set('p2', { id: 'p2', status: 'DELIVERED', updatedAt: at(3), label: 'a' });
  const updates = follow('subscription { parcelMoved(parcelId: "p2") { status label } }');
  await waitFor(() => updates.results.length === 1, { what: 'the current state' });

  // An event consumed after the state it led to was read: its version is not newer.
  emit('p2', { set: { status: 'SENT' }, version: at(1) });
  emit('p2', { set: { status: 'DELIVERED' }, version: at(3) });

  // Two changes without versions whose executions finish in the other order.
  holding = true;
  parcels.set('p2', { ...parcels.get('p2')!, label: 'b' });
  emit('p2');
  await waitFor(() => held.length === 1, { what: 'the first execution' });
  parcels.set('p2', { ...parcels.get('p2')!, label: 'c' });
  emit('p2');
  await waitFor(() => held.length === 2, { what: 'the second execution' });
  holding = false;
  held.pop()!(); // the newer change's answer first: label c
  await waitFor(() => updates.results.length === 2, { what: 'the newer answer' });
  held.pop()!(); // then the older one's: label b, which must not follow it
  emit('p2', { set: { status: 'RETURNED' }, version: at(4) });
  await waitFor(() => updates.results.length === 3, { what: 'the last change' });

  expect(updates.results.map((result) => result.data)).toEqual([
    { parcelMoved: { status: 'DELIVERED', label: 'a' } },
    { parcelMoved: { status: 'DELIVERED', label: 'c' } },
    { parcelMoved: { status: 'RETURNED', label: 'c' } },
  ]);
});

it('runs a change consumed while an execution is in flight on its own, and shares one per burst', async () => {
  parcels.set('p3', { id: 'p3', status: 'SENT', updatedAt: at(1), label: 'a' });
  const [one, two] = [1, 2].map(() =>
    follow('subscription { parcelMoved(parcelId: "p3") { label } }'),
  );
  await waitFor(() => one!.results.length === 1 && two!.results.length === 1, {
    what: 'the current states',
  });
  const before = executions;
  holding = true;
  emit('p3'); // both subscribers share one execution, which reads label a
  await waitFor(() => held.length === 1, { what: 'the shared execution' });
  parcels.set('p3', { ...parcels.get('p3')!, label: 'b' });
  emit('p3'); // consumed after that execution started: it gets one of its own
  await waitFor(() => held.length === 2, { what: 'a second execution' });
  holding = false;
  while (held.length > 0) held.shift()!();
  await waitFor(() => one!.results.length === 2 && two!.results.length === 2, {
    what: 'label b',
  });
  expect(executions - before).toBe(2);
  for (const updates of [one!, two!]) {
    expect(updates.results.map((result) => result.data)).toEqual([
      { parcelMoved: { label: 'a' } },
      { parcelMoved: { label: 'b' } },
    ]);
  }
});

it('misses no change consumed while the current state is read: the stream handles it next', async () => {
  parcels.set('p5', { id: 'p5', status: 'SENT', updatedAt: at(1), label: 'a' });
  holding = true;
  const updates = follow('subscription { parcelMoved(parcelId: "p5") { status } }');
  await waitFor(() => held.length === 1, { what: 'the read of the current state' });
  // Consumed after the state was read (SENT) and before the subscription streams.
  parcels.set('p5', { ...parcels.get('p5')!, status: 'ARRIVED', updatedAt: at(2) });
  emit('p5', { set: { status: 'ARRIVED' }, version: at(2) });
  holding = false;
  held.shift()!();
  await waitFor(() => updates.results.length === 2, { what: 'the change' });

  expect(updates.results.map((result) => result.data)).toEqual([
    { parcelMoved: { status: 'SENT' } },
    { parcelMoved: { status: 'ARRIVED' } },
  ]);
});

it('follows every parcel only with the declared scopes', async () => {
  const open = server.stats().subscriptions;
  const user = follow('subscription { parcelMoved { id } }', 'user');
  const anonymous = follow('subscription { parcelMoved { id } }');
  const ops = follow('subscription { parcelMoved { id status } }', 'ops');
  await waitFor(() => user.errors.length > 0 && anonymous.errors.length > 0, {
    what: 'the refusals',
  });
  expect(user.errors[0]).toEqual([
    expect.objectContaining({
      message: 'Following every Parcel of Subscription.parcelMoved takes the scopes ops',
      extensions: expect.objectContaining({ code: 'FORBIDDEN' }),
    }),
  ]);
  expect(anonymous.errors[0]).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }),
  ]);
  await waitFor(() => server.stats().subscriptions === open + 1, {
    what: 'the ops subscription',
  });
  parcels.set('p4', { id: 'p4', status: 'SENT', updatedAt: at(1), label: 'a' });
  emit('p4', { set: { status: 'SENT' }, version: at(1) });
  await waitFor(() => ops.results.length === 1, { what: 'the first parcel' });
  expect(ops.results[0]!.data).toEqual({ parcelMoved: { id: 'p4', status: 'SENT' } });
});
