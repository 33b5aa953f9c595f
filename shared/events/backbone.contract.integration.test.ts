/**
 * The event backbone's contract, proven end to end on both transports — in-process and Kafka
 * — with real PostgreSQL: a service publishes `counter.incremented` through
 * its transactional outbox, the relay sends the rows, and a consumer applies each event by
 * writing one `counter_effects` row in the transaction that records it in the inbox. So
 * "applied exactly once" is a count in SQL.
 *
 * Proves: N published events give N effects and N inbox rows; one subject's events arrive in
 * publish order, even when the publishing transactions overlap; publish refuses to run outside
 * a transaction and rejects unknown types and invalid payloads with InvalidEventError naming
 * the event id, writing nothing; a consumer never crashes on what a message contains — types
 * it has no handler for are skipped, messages that cannot be valid (or are of a handled type at
 * a version no handler takes) go to `<topic>.dlq` at once, a handler that keeps failing is dead-lettered after maxAttempts with the reason and origin in
 * headers, one that fails with a programmer error (TypeError) is dead-lettered at its first
 * failure, never retried — and always goes on to apply later events; a redelivered event
 * changes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { z } from 'zod';
import type { Database, EntityManager } from '../db/index.ts';
import {
  CounterIncremented,
  applyIncrement,
  counterCatalogue,
  effects,
  inboxRows,
  increments,
  oneTo,
  outboxRows,
  publishIn,
  readKafkaTopic,
  readTopic,
  seqsBySubject,
  startCounterDatabase,
} from '../testing/events.ts';
import type { Increment, TopicReader } from '../testing/events.ts';
import { createTestDatabase, testKafka, testLogger, waitFor } from '../testing/index.ts';
import type { TestDatabase } from '../testing/index.ts';
import {
  InvalidEventError,
  createEnvelope,
  createEventMetrics,
  createInProcessTransport,
  createOutbox,
  dataSchemaUri,
  defineEventType,
  dlqTopic,
  on,
  startEventConsumer,
  startKafkaTransport,
  startOutboxRelay,
} from './index.ts';
import type {
  EventEnvelope,
  EventMetrics,
  EventTransport,
  Outbox,
  OutboxRelay,
  Subscription,
  TransportMessage,
} from './index.ts';

const logger = testLogger();
const kafka = testKafka();
const SOURCE = 'counters';
const TOPIC = `${SOURCE}.events`;
const DLQ = dlqTopic(TOPIC);
const GROUP = 'counters.tally';
const MAX_ATTEMPTS = 3;
/** Bound on every wait for delivery (Kafka included). */
const DELIVERY_MS = 15_000;
/** Events of this subject with `seq` BUGGY_SEQ meet a bug in the handler (a TypeError). */
const BUGGY_SUBJECT = 'buggy';
const BUGGY_SEQ = 2;
/** An event type the counters' catalogue does not hold. */
const CounterExploded = defineEventType('counter.exploded', 1, z.object({ by: z.number() }));

interface TransportUnderTest {
  /** Postgres schema of this run of the contract (one database for the file). */
  readonly schema: string;
  start(): Promise<EventTransport>;
  /** Collects the messages of a logical topic. */
  read(transport: EventTransport, topic: string): Promise<TopicReader>;
}

const transports: [string, TransportUnderTest][] = [
  [
    'in-process',
    {
      schema: 'in_process',
      start: async () => createInProcessTransport({ logger, redeliveryDelayMs: 20 }),
      read: (transport, topic) => readTopic(transport, topic, 'contract.reader'),
    },
  ],
  [
    'Kafka',
    {
      schema: 'kafka',
      start: () =>
        startKafkaTransport({
          brokers: kafka.brokers,
          clientId: 'backbone-contract',
          topicPrefix: kafka.topicPrefix,
          logger,
          sessionTimeoutMs: 6000,
          maxWaitTimeMs: 200,
        }),
      // A plain kafkajs consumer on `<prefix>counters.events.dlq`: the physical topic name.
      read: (_transport, topic) => readKafkaTopic(kafka, topic),
    },
  ],
];

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb?.drop();
});

/** A message as another (or a broken) producer would put it on the topic. */
function rawMessage(key: string, value: string | EventEnvelope): TransportMessage {
  return {
    topic: TOPIC,
    key,
    value: typeof value === 'string' ? value : JSON.stringify(value),
    headers: {},
  };
}

/** A well-formed envelope from another producer, bypassing the outbox's validation. */
function foreignEnvelope(
  type: string,
  subject: string,
  data: unknown,
  version?: number,
): EventEnvelope {
  return createEnvelope(
    'elsewhere',
    { type, subject, data },
    version ? dataSchemaUri(type, version) : undefined,
  );
}

async function counted(metrics: EventMetrics, outcome: string): Promise<number> {
  const { values } = await metrics.consumed.get();
  return values
    .filter((v) => v.labels.outcome === outcome && v.labels.group === GROUP)
    .reduce((sum, v) => sum + v.value, 0);
}

describe.each(transports)('event backbone contract on the %s transport', (_name, adapter) => {
  const { schema } = adapter;
  let db: Database;
  let transport: EventTransport;
  let outbox: Outbox;
  let relay: OutboxRelay;
  let consumer: Subscription;
  let dlq: TopicReader;
  let metrics: EventMetrics;
  let bulk: Subscription;
  let windowed: Subscription | undefined;
  const afterCommit: { seq: number; visible: boolean }[] = [];
  /** Sizes of the batches the bulk consumer's handler was given. */
  const bulkBatches: number[] = [];
  /** Ids of the events the buggy branch of the handler was called with, once per call. */
  const buggyCalls: string[] = [];

  /** Waits for this many effects of these subjects, and returns them in apply order. */
  const appliedTo = (subjects: string[], count: number) =>
    waitFor(
      async () => {
        const applied = await effects(db, schema, { subjects });
        return applied.length >= count && applied;
      },
      { timeoutMs: DELIVERY_MS, what: `${count} effects on ${subjects.join(', ')}` },
    );

  /** Waits for this many dead letters with this key, and returns them in arrival order. */
  const deadLettered = (key: string, count: number) =>
    waitFor(
      () => {
        const letters = dlq.messages.filter((m) => m.key === key);
        return letters.length >= count && letters;
      },
      { timeoutMs: DELIVERY_MS, what: `${count} messages with key ${key} in ${DLQ}` },
    );

  const apply = applyIncrement(schema, 'consumer', async (event) => {
    // Seen from another connection: committed, or not yet?
    const visible = await effects(db, schema, { subjects: [event.subject] });
    afterCommit.push({
      seq: event.data.seq,
      visible: visible.some((effect) => effect.eventId === event.id),
    });
  });

  beforeAll(async () => {
    db = await startCounterDatabase(testDb.url, schema, logger);
    transport = await adapter.start();
    metrics = createEventMetrics(new Registry());
    outbox = createOutbox({ schema, source: SOURCE, catalogue: counterCatalogue });
    relay = await startOutboxRelay({
      orm: db.orm,
      outbox,
      transport,
      logger,
      metrics,
      pollIntervalMs: 50,
      url: db.url,
    });
    await transport.ensureTopics([{ topic: TOPIC }, { topic: DLQ }]);
    [consumer, dlq] = await Promise.all([
      startEventConsumer({
        group: GROUP,
        topics: [TOPIC],
        handlers: [
          on(CounterIncremented, async (context) => {
            const { event, data } = context;
            if (event.subject === BUGGY_SUBJECT && data.seq === BUGGY_SEQ) {
              buggyCalls.push(event.id);
              // What a handler's bug looks like: reading a field of something absent.
              const absent = (data as { missing?: { by: number } }).missing;
              void absent!.by;
            }
            await apply(context);
          }),
        ],
        orm: db.orm,
        schema,
        catalogue: counterCatalogue,
        transport,
        logger,
        metrics,
        maxAttempts: MAX_ATTEMPTS,
        retryBaseMs: 10,
        retryMaxMs: 50,
      }),
      adapter.read(transport, DLQ),
    ]);
  });

  afterAll(async () => {
    await bulk?.stop();
    await windowed?.stop();
    await consumer?.stop();
    await dlq?.stop();
    await relay?.stop(1000);
    await transport?.stop();
    await db?.stop();
  });

  it('applies each of N events published in transactions exactly once: N effects, N inbox rows, N outbox rows sent', async () => {
    const subjects = ['visits-a', 'visits-b', 'visits-c', 'visits-d', 'visits-e', 'visits-f'];
    const appliedBefore = await counted(metrics, 'applied');
    const published: EventEnvelope[] = [];
    for (const seqs of [[1, 4] as const, [5, 7] as const, [8, 10] as const]) {
      // 3 transactions of 24, 18 and 18 events over 6 counters: N = 60.
      published.push(
        ...(await publishIn(
          db,
          outbox,
          subjects.flatMap((s) => increments(s, seqs[0], seqs[1])),
        )),
      );
    }
    const N = published.length;
    expect(N).toBe(60);

    const applied = await appliedTo(subjects, N);
    await waitFor(async () => (await relay.backlog()) === 0, { what: 'an empty outbox' });

    expect(applied).toHaveLength(N);
    expect(new Set(applied.map((e) => e.eventId))).toEqual(new Set(published.map((e) => e.id)));
    const inbox = await inboxRows(
      db,
      schema,
      published.map((e) => e.id),
    );
    expect(inbox).toHaveLength(N);
    expect(inbox.every((row) => row.group === GROUP && !row.deadLettered)).toBe(true);
    const rows = await outboxRows(db, schema, subjects);
    expect(rows).toHaveLength(N);
    expect(rows.filter((row) => row.sent)).toHaveLength(N);
    // The counter moves once the batch's transaction has committed, a moment after its
    // effects became visible: wait for it, then demand exactly N.
    await waitFor(async () => (await counted(metrics, 'applied')) - appliedBefore >= N, {
      what: `${N} applied events counted`,
    });
    expect((await counted(metrics, 'applied')) - appliedBefore).toBe(N);
  });

  it('delivers one subject’s events in publish order (3 counters × 20 events, interleaved over 20 transactions)', async () => {
    const subjects = ['ordered-a', 'ordered-b', 'ordered-c'];
    for (let seq = 1; seq <= 20; seq++) {
      await publishIn(
        db,
        outbox,
        subjects.flatMap((s) => increments(s, seq, seq)),
      );
    }

    const applied = await appliedTo(subjects, 60);

    expect(applied).toHaveLength(60);
    expect(seqsBySubject(applied)).toEqual({
      'ordered-a': oneTo(20),
      'ordered-b': oneTo(20),
      'ordered-c': oneTo(20),
    });
  });

  /**
   * A first transaction runs `before` and is held open; a second publishes seq 2 for `subject`
   * and commits; then the first runs `after` and commits. Answers whether the second had
   * committed 300 ms after it began, while the first was still open, and the seqs applied.
   */
  const overlapping = async (
    subject: string,
    before: (em: EntityManager) => Promise<unknown>,
    after: (em: EntityManager) => Promise<unknown> = async () => undefined,
  ) => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const first = db.orm.em.fork().transactional(async (em) => {
      await before(em);
      opened();
      await held;
      await after(em);
    });
    await open;
    let secondCommitted = false;
    const second = db.orm.em
      .fork()
      .transactional((em) => outbox.publish(em, CounterIncremented, increments(subject, 2, 2)))
      .then(() => (secondCommitted = true));
    await sleep(300);
    const secondCommittedEarly = secondCommitted;
    release();
    await Promise.all([first, second]);
    return { secondCommittedEarly, applied: seqsBySubject(await appliedTo([subject], 2)) };
  };

  it('keeps publish order when two transactions publishing for one subject overlap (the later waits for the earlier to commit)', async () => {
    // The first's row is not yet visible to the relay while it is open.
    const { secondCommittedEarly, applied } = await overlapping('overlap', (em) =>
      outbox.publish(em, CounterIncremented, increments('overlap', 1, 1)),
    );

    expect(secondCommittedEarly).toBe(false); // blocked on the subject's publish lock
    expect(applied).toEqual({ overlap: [1, 2] });
  });

  it('keeps publish order for a subject locked ahead (lockSubjects): its lock is held from the transaction’s next statement, and a later publisher waits for its commit', async () => {
    const { secondCommittedEarly, applied } = await overlapping(
      'ahead',
      async (em) => {
        await outbox.lockSubjects(em, ['ahead']);
        await em.execute('select 1'); // the lock goes out with it; nothing published yet
      },
      (em) => outbox.publish(em, CounterIncremented, increments('ahead', 1, 1)),
    );

    expect(secondCommittedEarly).toBe(false); // blocked on the lock taken ahead
    expect(applied).toEqual({ ahead: [1, 2] });
  });

  it('refuses to lock subjects ahead outside a transaction', async () => {
    await expect(outbox.lockSubjects(db.orm.em.fork(), ['x'])).rejects.toThrow(
      'outbox.lockSubjects() must run inside a transaction (em.transactional)',
    );
  });

  it('refuses to publish outside a transaction, writing nothing', async () => {
    const em = db.orm.em.fork();

    await expect(
      outbox.publish(em, CounterIncremented, increments('outside', 1, 1)),
    ).rejects.toThrow('outbox.publish() must run inside a transaction (em.transactional)');
    expect(await outboxRows(db, schema, ['outside'])).toEqual([]);
  });

  it('rejects an unknown event type with InvalidEventError naming the event id; the transaction writes nothing', async () => {
    const error = await db.orm.em
      .fork()
      .transactional(async (em) => {
        // written, then rolled back
        await outbox.publish(em, CounterIncremented, increments('unknown-type', 1, 1));
        await outbox.publish(em, CounterExploded, [{ subject: 'unknown-type', data: { by: 1 } }]);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(InvalidEventError);
    const { eventId, message } = error as InvalidEventError;
    expect(eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(message).toBe(`event ${eventId}: unknown event type counter.exploded v1`);
    expect(await outboxRows(db, schema, ['unknown-type'])).toEqual([]);
  });

  it('rejects a payload failing its schema with InvalidEventError naming the event id and the field; the transaction writes nothing', async () => {
    const error = await db.orm.em
      .fork()
      .transactional(async (em) => {
        // written, then rolled back
        await outbox.publish(em, CounterIncremented, increments('bad-payload', 1, 1));
        // A payload the types refuse, as untyped code could still send it.
        const data = { by: 'three', seq: 2 } as unknown as Increment;
        await outbox.publish(em, CounterIncremented, [{ subject: 'bad-payload', data }]);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(InvalidEventError);
    const { eventId, message } = error as InvalidEventError;
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(message).toMatch(
      new RegExp(`^event ${eventId}: counter\\.incremented v1 payload is invalid: by: `),
    );
    expect(await outboxRows(db, schema, ['bad-payload'])).toEqual([]);
  });

  it('never crashes on an unknown event type: skips it (nothing applied, recorded or dead-lettered) and applies later events', async () => {
    const unknown = foreignEnvelope('counter.renamed', 'renamed', { name: 'visits' });
    await transport.send([rawMessage('renamed', unknown)]);
    const [later] = await publishIn(db, outbox, increments('renamed', 1, 1));

    const applied = await appliedTo(['renamed'], 1);
    // Had the skipped message been dead-lettered, it would precede this later marker there.
    await transport.send([rawMessage('renamed', 'marker: not an envelope')]);
    const letters = await deadLettered('renamed', 1);

    expect(applied.map((e) => e.eventId)).toEqual([later!.id]);
    expect(letters.map((m) => m.value)).toEqual(['marker: not an envelope']);
    expect(await inboxRows(db, schema, [unknown.id])).toEqual([]);
  });

  it('never crashes on a message that is not JSON, not an envelope, or whose payload fails its schema: dead-letters each at once and applies later events', async () => {
    const notJson = '{"specversion":"1.0",';
    const notEnvelope = JSON.stringify({ hello: 'world' });
    const badPayload = foreignEnvelope(
      'counter.incremented',
      'garbled',
      { by: 'three', seq: 1 },
      1,
    );
    const futureVersion = foreignEnvelope('counter.incremented', 'garbled', { by: 1, seq: 1 }, 9);
    await transport.send([
      rawMessage('garbled', notJson),
      rawMessage('garbled', notEnvelope),
      rawMessage('garbled', badPayload),
      rawMessage('garbled', futureVersion),
    ]);
    const [later] = await publishIn(db, outbox, increments('garbled', 1, 1));

    const applied = await appliedTo(['garbled'], 1);
    const letters = await deadLettered('garbled', 4);

    expect(applied.map((e) => e.eventId)).toEqual([later!.id]);
    expect(letters.map((m) => m.value)).toEqual([
      notJson,
      notEnvelope,
      JSON.stringify(badPayload),
      JSON.stringify(futureVersion),
    ]);
    expect(letters.map((m) => m.headers['eventgraph-dlq-error'])).toEqual([
      'message is not JSON',
      'envelope field "id" must be a non-empty string',
      expect.stringMatching(
        new RegExp(`^event ${badPayload.id}: counter\\.incremented v1 payload is invalid: by: `),
      ),
      `event ${futureVersion.id}: unknown event type counter.incremented v9`,
    ]);
    for (const letter of letters) {
      expect(letter.headers).toMatchObject({
        'eventgraph-dlq-error-type': 'InvalidEventError',
        'eventgraph-dlq-attempts': '1',
        'eventgraph-dlq-original-topic': TOPIC,
        'eventgraph-dlq-group': GROUP,
      });
    }
    // Dead letters with an event id are recorded in the inbox.
    expect(await inboxRows(db, schema, [badPayload.id, futureVersion.id])).toEqual(
      [badPayload.id, futureVersion.id].sort().map((eventId) => ({
        group: GROUP,
        eventId,
        deadLettered: true,
      })),
    );
  });

  it('dead-letters an event of a handled type at a version the catalogue holds but the consumer has no handler for, and applies later events', async () => {
    const unhandled = foreignEnvelope(
      'counter.incremented',
      'unhandled-version',
      { by: 1, seq: 1, reason: 'v2' },
      2,
    );
    await transport.send([rawMessage('unhandled-version', unhandled)]);
    const [later] = await publishIn(db, outbox, increments('unhandled-version', 2, 2));

    const applied = await appliedTo(['unhandled-version'], 1);
    const [letter] = await deadLettered('unhandled-version', 1);

    expect(applied.map((e) => e.eventId)).toEqual([later!.id]);
    expect(letter!.value).toBe(JSON.stringify(unhandled));
    expect(letter!.headers).toMatchObject({
      'eventgraph-dlq-error': `event ${unhandled.id}: consumer ${GROUP} has no handler for counter.incremented v2`,
      'eventgraph-dlq-error-type': 'InvalidEventError',
      'eventgraph-dlq-attempts': '1',
      'eventgraph-dlq-group': GROUP,
    });
    expect(await inboxRows(db, schema, [unhandled.id])).toEqual([
      { group: GROUP, eventId: unhandled.id, deadLettered: true },
    ]);
  });

  it(`dead-letters an event whose handler keeps failing after ${MAX_ATTEMPTS} attempts, with error, attempts and origin in headers; its effect is rolled back and later events are applied`, async () => {
    const [first, failing, third] = await publishIn(db, outbox, [
      ...increments('falling', 1, 1),
      { subject: 'falling', data: { by: -1, seq: 2 } },
      ...increments('falling', 3, 3),
    ]);

    const [letter] = await deadLettered('falling', 1);
    const applied = await appliedTo(['falling'], 2);

    expect(letter!.value).toBe(JSON.stringify(failing));
    expect(letter!.headers).toMatchObject({
      ce_id: failing!.id,
      'eventgraph-dlq-error': 'counter cannot decrease (by -1)',
      'eventgraph-dlq-error-type': 'Error',
      'eventgraph-dlq-attempts': String(MAX_ATTEMPTS),
      'eventgraph-dlq-original-topic': TOPIC,
      // Same key, same partition count: the DLQ partition is the original one.
      'eventgraph-dlq-original-partition': String(letter!.partition),
      'eventgraph-dlq-group': GROUP,
    });
    expect(letter!.headers['eventgraph-dlq-original-offset']).toMatch(/^\d+$/);
    expect(seqsBySubject(applied)).toEqual({ falling: [1, 3] });
    expect(applied.map((e) => e.eventId)).toEqual([first!.id, third!.id]);
    expect(await inboxRows(db, schema, [first!.id, failing!.id, third!.id])).toEqual(
      [
        { eventId: first!.id, deadLettered: false },
        { eventId: failing!.id, deadLettered: true },
        { eventId: third!.id, deadLettered: false },
      ]
        .sort((a, b) => a.eventId.localeCompare(b.eventId))
        .map((row) => ({ group: GROUP, ...row })),
    );
  });

  it('dead-letters an event whose handler fails with a programmer error (TypeError) at its first failure, never retrying it, and applies later events', async () => {
    const [first, buggy, third] = await publishIn(db, outbox, [
      ...increments(BUGGY_SUBJECT, 1, BUGGY_SEQ - 1),
      { subject: BUGGY_SUBJECT, data: { by: 1, seq: BUGGY_SEQ } },
      ...increments(BUGGY_SUBJECT, BUGGY_SEQ + 1, BUGGY_SEQ + 1),
    ]);

    const [letter] = await deadLettered(BUGGY_SUBJECT, 1);
    const applied = await appliedTo([BUGGY_SUBJECT], 2);

    expect(letter!.headers).toMatchObject({
      ce_id: buggy!.id,
      'eventgraph-dlq-error-type': 'TypeError',
      'eventgraph-dlq-attempts': '1',
      'eventgraph-dlq-group': GROUP,
    });
    expect(letter!.headers['eventgraph-dlq-error']).toMatch(/Cannot read properties of undefined/);
    // Once in its batch, which failed as a whole, and once alone: no retry of its own.
    expect(buggyCalls.filter((id) => id === buggy!.id)).toHaveLength(2);
    expect(applied.map((e) => e.eventId)).toEqual([first!.id, third!.id]);
  });

  it('runs a handler’s after-commit task once its effect is committed, and never for an attempt that rolled back', async () => {
    afterCommit.length = 0;
    await publishIn(db, outbox, [
      ...increments('after-commit', 1, 1),
      { subject: 'after-commit', data: { by: -1, seq: 2 } },
      ...increments('after-commit', 3, 3),
    ]);
    await deadLettered('after-commit', 1);
    await appliedTo(['after-commit'], 2);
    await waitFor(() => afterCommit.length >= 2, { what: 'two after-commit tasks' });

    expect(afterCommit).toEqual([
      { seq: 1, visible: true },
      { seq: 3, visible: true },
    ]);
  });

  it('gives a batch handler every new event once, many per call, in one transaction with the inbox', async () => {
    bulk = await startEventConsumer({
      group: 'counters.bulk',
      topics: [TOPIC],
      batchHandler: {
        types: [CounterIncremented],
        async handle({ em, events }) {
          // The group starts at the topic's beginning: count this test's events only.
          bulkBatches.push(events.filter(({ event }) => event.subject.startsWith('bulk-')).length);
          // One statement for the whole batch, as bulk ingest does.
          await em.execute(
            `insert into "${schema}".counter_effects (event_id, source, subject, seq, by, consumer)
             select (e->>'id')::uuid, e->>'source', e->>'subject', (e->'data'->>'seq')::int,
                    (e->'data'->>'by')::int, 'bulk'
             from jsonb_array_elements(?::jsonb) as e`,
            [JSON.stringify(events.map(({ event }) => event))],
          );
        },
      },
      orm: db.orm,
      schema,
      catalogue: counterCatalogue,
      transport,
      logger,
    });
    const subjects = ['bulk-a', 'bulk-b', 'bulk-c'];
    const published = await publishIn(
      db,
      outbox,
      subjects.flatMap((subject) => increments(subject, 1, 40)),
    );

    const applied = await waitFor(
      async () => {
        const rows = (await effects(db, schema, { subjects })).filter((e) => e.consumer === 'bulk');
        return rows.length >= published.length && rows;
      },
      { timeoutMs: DELIVERY_MS, what: `${published.length} bulk effects` },
    );
    // Redelivered copies change nothing: the inbox holds their ids.
    const [relayed] = await outboxRows(db, schema, ['bulk-a']);
    await transport.send([
      {
        topic: relayed!.topic,
        key: relayed!.key,
        value: relayed!.value,
        headers: relayed!.headers,
      },
    ]);
    await sleep(500);
    const after = (await effects(db, schema, { subjects })).filter((e) => e.consumer === 'bulk');
    await bulk.stop();

    expect(applied.map((e) => e.eventId).sort()).toEqual(published.map((e) => e.id).sort());
    expect(after).toHaveLength(published.length);
    expect(seqsBySubject(applied)).toEqual({
      'bulk-a': Array.from({ length: 40 }, (_, i) => i + 1),
      'bulk-b': Array.from({ length: 40 }, (_, i) => i + 1),
      'bulk-c': Array.from({ length: 40 }, (_, i) => i + 1),
    });
    expect(Math.max(...bulkBatches)).toBeGreaterThan(1);
    expect(bulkBatches.reduce((sum, size) => sum + size, 0)).toBe(published.length);
  });

  it('hands a trickle of events to a consumer with a batch window in a batch or two, not one each', async () => {
    const batches: number[] = [];
    windowed = await startEventConsumer({
      group: 'counters.windowed',
      topics: [TOPIC],
      batchHandler: {
        types: [CounterIncremented],
        async handle({ events }) {
          const mine = events.filter(({ event }) => event.subject === 'windowed').length;
          if (mine > 0) batches.push(mine);
        },
      },
      batchWindowMs: 3000,
      orm: db.orm,
      schema,
      catalogue: counterCatalogue,
      transport,
      logger,
    });
    // Ten events a tenth of a second apart, each in its own transaction: without the window
    // each reaches the consumer on its own (the relay sends every commit within ~10 ms).
    for (let seq = 1; seq <= 10; seq++) {
      await publishIn(db, outbox, increments('windowed', seq, seq));
      await sleep(100);
    }
    await waitFor(() => batches.reduce((sum, size) => sum + size, 0) >= 10, {
      timeoutMs: DELIVERY_MS,
      what: 'ten windowed events',
    });
    await windowed.stop();
    windowed = undefined;

    expect(batches.reduce((sum, size) => sum + size, 0)).toBe(10);
    // One window may close in the middle of the trickle: two batches at most.
    expect(batches.length).toBeLessThanOrEqual(2);
  });

  it('changes nothing when an event is delivered again (the same envelope sent twice more through the transport)', async () => {
    const [original] = await publishIn(db, outbox, increments('redelivered', 1, 1));
    await appliedTo(['redelivered'], 1);
    const duplicatesBefore = await counted(metrics, 'duplicate');

    const [relayed] = await outboxRows(db, schema, ['redelivered']);
    const again: TransportMessage = {
      topic: relayed!.topic,
      key: relayed!.key,
      value: relayed!.value,
      headers: relayed!.headers,
    };
    await transport.send([again, again]);
    const [later] = await publishIn(db, outbox, increments('redelivered', 2, 2));
    const applied = await appliedTo(['redelivered'], 2);

    expect(applied.map((e) => e.eventId)).toEqual([original!.id, later!.id]);
    expect(await inboxRows(db, schema, [original!.id])).toHaveLength(1);
    expect((await counted(metrics, 'duplicate')) - duplicatesBefore).toBe(2);
  });
});
