/**
 * The event bus contract, proven against both adapters — the in-process bus and Kafka (the
 * Kafka-protocol test broker, topics and groups under this file's prefix): a group gets a
 * subject's events in publish order, every group gets every event, a failing handler gets
 * the event again and later events still follow, and a stopped subscription gets nothing
 * more. Kafka group joins take seconds, so each adapter subscribes all its groups at once
 * in one beforeAll, which also publishes every test's events (each test has its own topic);
 * the tests then wait for what they expect. Delivery is at-least-once, so the assertions
 * tolerate redelivered duplicates where Kafka may produce them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { testKafka, testLogger, waitFor } from '../testing/index.ts';
import { createEvent, createInProcessBus, startKafkaBus } from './index.ts';
import type {
  DeliveredEvent,
  EventBus,
  EventEnvelope,
  EventHandler,
  Subscription,
} from './index.ts';

const logger = testLogger();
const kafka = testKafka();

interface Adapter {
  readonly mode: EventBus['mode'];
  /**
   * Whether a new group gets events published before it subscribed. Kafka does (groups start
   * from the beginning), so setup publishes first and the consumers' first fetch finds the
   * events at once instead of long-polling; the in-process bus does not, so it subscribes
   * first.
   */
  readonly replaysFromBeginning: boolean;
  start(): Promise<EventBus>;
  /** Upper bound for an event to arrive. */
  readonly deliveryTimeoutMs: number;
}

const adapters: [string, Adapter][] = [
  [
    'in-process',
    {
      mode: 'in-process',
      replaysFromBeginning: false,
      start: async () => createInProcessBus({ logger, retryBaseMs: 10 }),
      deliveryTimeoutMs: 2000,
    },
  ],
  [
    'Kafka',
    {
      mode: 'kafka',
      replaysFromBeginning: true,
      start: () =>
        startKafkaBus({
          brokers: kafka.brokers,
          clientId: 'bus-contract-test',
          topicPrefix: kafka.topicPrefix,
          logger,
          sessionTimeoutMs: 6000,
          connectTimeoutMs: 5000,
        }),
      // Every redelivery after a failure waits out the consumer's 5 s fetch long-poll.
      deliveryTimeoutMs: 25_000,
    },
  ],
];

interface Received {
  readonly event: EventEnvelope;
  readonly delivery: DeliveredEvent;
}

/** A handler that records what it was given. */
function recorder(): { received: Received[]; handle: EventHandler } {
  const received: Received[] = [];
  return {
    received,
    handle: async (event, delivery) => {
      received.push({ event, delivery });
    },
  };
}

interface Seq {
  seq: number;
}

function event(subject: string, seq: number): EventEnvelope<Seq> {
  return createEvent({ source: 'contract', type: 'thing.happened', subject, data: { seq } });
}

/** First delivery of each event (at-least-once: Kafka may redeliver). */
function unique(received: Received[]): Received[] {
  const seen = new Set<string>();
  return received.filter((r) => !seen.has(r.event.id) && seen.add(r.event.id));
}

const seqs = (received: Received[], subject?: string) =>
  received
    .filter((r) => subject === undefined || r.event.subject === subject)
    .map((r) => (r.event.data as Seq).seq);

describe.each(adapters)('event bus contract: %s', (_name, adapter) => {
  let bus: EventBus;
  const within = { timeoutMs: adapter.deliveryTimeoutMs };

  // What setup publishes, one topic per test.
  const ordersFirst = [0, 1, 2, 3, 4].map((seq) => event('order-1', seq));
  const ordersInterleaved = [5, 6, 7, 8, 9].flatMap((seq) => [
    event('order-1', seq),
    event('order-2', seq),
  ]);
  const fanoutEvents = [event('a', 1), event('b', 2), event('c', 3)];
  const poison = event('poison', 1);
  const afterPoison = [event('poison', 2), event('healthy', 3)];
  const beforeStop = event('s', 1);

  const ordered = recorder();
  const fanoutA = recorder();
  const fanoutB = recorder();
  const stoppable = recorder();
  const witness = recorder();
  const flaky = {
    attempts: new Map<string, number>(),
    handled: [] as EventEnvelope[],
    handle: (async (e) => {
      const attempt = (flaky.attempts.get(e.id) ?? 0) + 1;
      flaky.attempts.set(e.id, attempt);
      if (e.id === poison.id && attempt <= 2) throw new Error(`transient failure ${attempt}`);
      flaky.handled.push(e);
    }) as EventHandler,
  };
  let stoppableSubscription: Subscription;

  async function publishAll(): Promise<void> {
    await bus.publish('orders', ordersFirst);
    await bus.publish('orders', ordersInterleaved);
    await bus.publish('fanout', fanoutEvents);
    await bus.publish('flaky', [poison]);
    await bus.publish('flaky', afterPoison);
    await bus.publish('stop', [beforeStop]);
  }

  async function subscribeAll(): Promise<void> {
    // All groups at once: on Kafka each join takes seconds, in parallel they take it once.
    const subscriptions = await Promise.all([
      bus.subscribe({ group: 'contract.ordered', topics: ['orders'], handle: ordered.handle }),
      bus.subscribe({ group: 'contract.fanout-a', topics: ['fanout'], handle: fanoutA.handle }),
      bus.subscribe({ group: 'contract.fanout-b', topics: ['fanout'], handle: fanoutB.handle }),
      bus.subscribe({ group: 'contract.flaky', topics: ['flaky'], handle: flaky.handle }),
      bus.subscribe({ group: 'contract.stoppable', topics: ['stop'], handle: stoppable.handle }),
      bus.subscribe({ group: 'contract.witness', topics: ['stop'], handle: witness.handle }),
    ]);
    stoppableSubscription = subscriptions[4];
  }

  beforeAll(async () => {
    bus = await adapter.start();
    if (adapter.replaysFromBeginning) {
      await publishAll();
      await subscribeAll();
    } else {
      await subscribeAll();
      await publishAll();
    }
  });

  afterAll(async () => {
    await bus?.stop();
  });

  it('reports its mode and answers ping', async () => {
    expect(bus.mode).toBe(adapter.mode);
    await expect(bus.ping()).resolves.toBeUndefined();
  });

  it("delivers a subject's events to a group in publish order, envelopes intact", async () => {
    await waitFor(() => unique(ordered.received).length >= 15, { ...within, what: '15 events' });

    const received = unique(ordered.received);
    expect(seqs(received, 'order-1')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seqs(received, 'order-2')).toEqual([5, 6, 7, 8, 9]);
    const first = received.find((r) => r.event.id === ordersFirst[0]!.id)!;
    expect(first.event).toEqual(ordersFirst[0]);
    expect(first.delivery).toEqual({
      topic: 'orders',
      partition: expect.any(Number),
      offset: expect.stringMatching(/^\d+$/),
    });
    // One subject's events come from one partition, at growing offsets.
    const order1 = received.filter((r) => r.event.subject === 'order-1');
    expect(new Set(order1.map((r) => r.delivery.partition)).size).toBe(1);
    const offsets = order1.map((r) => Number(r.delivery.offset));
    expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
  });

  it('gives every event to each of two groups', async () => {
    await waitFor(
      () => unique(fanoutA.received).length >= 3 && unique(fanoutB.received).length >= 3,
      { ...within, what: 'both groups to get 3 events' },
    );

    const ids = fanoutEvents.map((e) => e.id).sort();
    expect(
      unique(fanoutA.received)
        .map((r) => r.event.id)
        .sort(),
    ).toEqual(ids);
    expect(
      unique(fanoutB.received)
        .map((r) => r.event.id)
        .sort(),
    ).toEqual(ids);
  });

  // Before the retry test, so on Kafka its waits overlap the retries running meanwhile.
  it('stops a subscription: stop() resolves and later events do not reach it', async () => {
    await waitFor(() => stoppable.received.length >= 1 && witness.received.length >= 1, {
      ...within,
      what: 'both groups to get the first event',
    });

    await expect(stoppableSubscription.stop()).resolves.toBeUndefined();
    const afterStop = event('s', 2);
    await bus.publish('stop', [afterStop]);

    // The witness group got the later event, so it was delivered; the stopped one did not.
    await waitFor(() => witness.received.some((r) => r.event.id === afterStop.id), {
      ...within,
      what: 'the witness to get the later event',
    });
    await sleep(200);
    expect(seqs(unique(witness.received))).toEqual([1, 2]);
    expect(stoppable.received.map((r) => r.event.id)).not.toContain(afterStop.id);
    expect(seqs(unique(stoppable.received))).toEqual([1]);
  });

  it('gives an event whose handler failed twice again, and later events still arrive', async () => {
    const all = [poison, ...afterPoison].map((e) => e.id).sort();
    await waitFor(() => new Set(flaky.handled.map((e) => e.id)).size >= 3, {
      ...within,
      what: 'all three events handled',
    });

    expect(flaky.attempts.get(poison.id)).toBeGreaterThanOrEqual(3);
    const handled = unique(flaky.handled.map((e) => ({ event: e }) as Received));
    expect(handled.map((r) => r.event.id).sort()).toEqual(all);
    // The failed event's subject stays in order: its successor is handled after it.
    expect(seqs(handled, 'poison')).toEqual([1, 2]);
  });
});

describe('in-process bus', () => {
  it('lets the event in hand finish before stop() resolves, and drops what is queued', async () => {
    const bus = createInProcessBus({ logger });
    const handled: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inHand = new Promise<void>((resolve) => (started = resolve));
    const subscription = await bus.subscribe({
      group: 'slow',
      topics: ['t'],
      handle: async (e) => {
        started();
        await gate;
        handled.push((e.data as Seq).seq);
      },
    });
    await bus.publish('t', [event('x', 1), event('x', 2)]);
    await inHand;

    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await sleep(50);
    expect(stopped).toBe(false); // still waiting for the event in hand

    release();
    await stopping;

    expect(handled).toEqual([1]);
    await bus.publish('t', [event('x', 3)]);
    await sleep(50);
    expect(handled).toEqual([1]);
    await bus.stop();
  });

  it('does not replay events published before a group subscribed', async () => {
    const bus = createInProcessBus({ logger });
    await bus.publish('t', [event('x', 1)]);
    const late = recorder();
    await bus.subscribe({ group: 'late', topics: ['t'], handle: late.handle });

    await bus.publish('t', [event('x', 2)]);

    await waitFor(() => late.received.length > 0, { timeoutMs: 2000 });
    expect(seqs(late.received)).toEqual([2]);
    await bus.stop();
  });

  it('skips an event after maxAttempts failures and goes on with the next', async () => {
    const bus = createInProcessBus({ logger, maxAttempts: 3, retryBaseMs: 5 });
    const attempts: number[] = [];
    const handled: number[] = [];
    await bus.subscribe({
      group: 'g',
      topics: ['t'],
      handle: async (e) => {
        const seq = (e.data as Seq).seq;
        attempts.push(seq);
        if (seq === 1) throw new Error('always fails');
        handled.push(seq);
      },
    });

    await bus.publish('t', [event('x', 1), event('x', 2)]);

    await waitFor(() => handled.length > 0, { timeoutMs: 2000 });
    expect(attempts).toEqual([1, 1, 1, 2]);
    expect(handled).toEqual([2]);
    await bus.stop();
  });

  it('stop() of the bus ends every subscription', async () => {
    const bus = createInProcessBus({ logger });
    const a = recorder();
    await bus.subscribe({ group: 'a', topics: ['t'], handle: a.handle });

    await bus.stop();
    await bus.publish('t', [event('x', 1)]);
    await sleep(50);

    expect(a.received).toEqual([]);
  });
});
