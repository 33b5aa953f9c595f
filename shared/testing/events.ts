/**
 * Fixtures for the event backbone's tests: a catalogue of `counter.incremented` (v1, which
 * the consumers handle, and v2, which none does), a countable effect (each applied event writes one `counter_effects` row, in the consumer's
 * transaction), queries that read effects, inbox and outbox back, and readers that collect a
 * topic's messages (dead-letter topics above all) from either transport.
 */
import kafkajs from 'kafkajs';
import { z } from 'zod';
import { Migration, startDatabase } from '../db/index.ts';
import type { Database, MigrationObject } from '../db/index.ts';
import { EVENT_TABLES_MIGRATIONS, createCatalogue, defineEventType } from '../events/index.ts';
import type {
  ConsumedMessage,
  EventEnvelope,
  EventHandler,
  EventToPublish,
  EventTransport,
  Outbox,
  TransportMessage,
} from '../events/index.ts';
import type { Logger } from '../observability/index.ts';
import type { TestKafka } from './index.ts';

const { Kafka, logLevel } = kafkajs;

/** A counter went up `by`; `seq` numbers the counter's increments 1, 2, 3, … in publish order. */
export interface Increment {
  by: number;
  seq: number;
}

export const CounterIncremented = defineEventType(
  'counter.incremented',
  1,
  z.object({ by: z.number().int(), seq: z.number().int().positive() }),
);

/** A later version the catalogue holds and no fixture consumer has a handler for. */
export const CounterIncrementedV2 = defineEventType(
  'counter.incremented',
  2,
  z.object({ by: z.number().int(), seq: z.number().int().positive(), reason: z.string() }),
);

export const counterCatalogue = createCatalogue([CounterIncremented, CounterIncrementedV2]);

class CreateCounterEffects extends Migration {
  override up(): void {
    this.addSql(`
      create table counter_effects (
        id bigserial primary key,
        event_id uuid not null,
        source text not null,
        subject text not null,
        seq int not null,
        by int not null,
        consumer text not null
      )`);
  }
}

/** The event tables (outbox, inbox) and the effect table, as a service would migrate them. */
export const COUNTER_MIGRATIONS: MigrationObject[] = [
  ...EVENT_TABLES_MIGRATIONS,
  { name: 'Migration20260201000000_counter_effects', class: CreateCounterEffects },
];

/** A service's database (its own Postgres schema in the test database), migrated. */
export function startCounterDatabase(
  url: string,
  schema: string,
  logger: Logger,
): Promise<Database> {
  return startDatabase({
    url,
    schema,
    dataDir: 'unused-with-a-url',
    entities: [],
    migrations: COUNTER_MIGRATIONS,
    logger,
  });
}

/** Increments `from`..`to` (as `seq`) of one counter, each by 1. */
export function increments(
  subject: string,
  from: number,
  to: number,
): EventToPublish<typeof CounterIncremented>[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({
    subject,
    data: { by: 1, seq: from + i },
  }));
}

/** Publishes `counter.incremented` events through the outbox in a transaction of its own, as a resolver would. */
export function publishIn(
  db: Database,
  outbox: Outbox,
  events: readonly EventToPublish<typeof CounterIncremented>[],
): Promise<EventEnvelope<Increment>[]> {
  return db.orm.em.fork().transactional((em) => outbox.publish(em, CounterIncremented, events));
}

/**
 * The effect of `counter.incremented`: one `counter_effects` row, written in the transaction
 * that also records the event in the inbox. A counter cannot go down: for `by < 0` the handler
 * throws after writing, so only a rollback keeps that write out.
 */
export function applyIncrement(
  schema: string,
  consumer = 'consumer',
  /** Registered as the event's after-commit task. */
  onCommitted?: (event: EventEnvelope<Increment>) => Promise<void>,
): EventHandler<typeof CounterIncremented> {
  return async ({ em, event, data, afterCommit }) => {
    if (onCommitted) afterCommit(() => onCommitted(event));
    await em.getConnection().execute(
      `insert into "${schema}".counter_effects (event_id, source, subject, seq, by, consumer)
         values (?, ?, ?, ?, ?, ?)`,
      [event.id, event.source, event.subject, data.seq, data.by, consumer],
      'run',
      em.getTransactionContext(),
    );
    if (data.by < 0) throw new Error(`counter cannot decrease (by ${data.by})`);
  };
}

export interface Effect {
  readonly eventId: string;
  readonly source: string;
  readonly subject: string;
  readonly seq: number;
  readonly consumer: string;
}

/** Applied effects in the order they were applied, optionally of some subjects or one source. */
export async function effects(
  db: Database,
  schema: string,
  where: { subjects?: readonly string[]; source?: string } = {},
): Promise<Effect[]> {
  const rows = await db.orm.em
    .getConnection()
    .execute<
      { event_id: string; source: string; subject: string; seq: number; consumer: string }[]
    >(
      `select event_id, source, subject, seq, consumer from "${schema}".counter_effects
     where (?::jsonb is null or subject in (select jsonb_array_elements_text(?::jsonb)))
       and (?::text is null or source = ?)
     order by id`,
      [
        where.subjects ? JSON.stringify(where.subjects) : null,
        where.subjects ? JSON.stringify(where.subjects) : null,
        where.source ?? null,
        where.source ?? null,
      ],
    );
  return rows.map((row) => ({
    eventId: row.event_id,
    source: row.source,
    subject: row.subject,
    seq: row.seq,
    consumer: row.consumer,
  }));
}

/** Each subject's `seq`s in the order their effects were applied. */
export function seqsBySubject(applied: readonly Effect[]): Record<string, number[]> {
  const result: Record<string, number[]> = {};
  for (const effect of applied) (result[effect.subject] ??= []).push(effect.seq);
  return result;
}

/** 1..n */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

export interface InboxRow {
  readonly group: string;
  readonly eventId: string;
  readonly deadLettered: boolean;
}

/** Inbox rows of these events (all groups), ordered by event id. */
export async function inboxRows(
  db: Database,
  schema: string,
  eventIds: readonly string[],
): Promise<InboxRow[]> {
  const rows = await db.orm.em
    .getConnection()
    .execute<{ consumer_group: string; event_id: string; dead_lettered: boolean }[]>(
      `select consumer_group, event_id, dead_lettered from "${schema}".inbox
     where event_id in (select jsonb_array_elements_text(?::jsonb)) order by event_id`,
      [JSON.stringify(eventIds)],
    );
  return rows.map((row) => ({
    group: row.consumer_group,
    eventId: row.event_id,
    deadLettered: row.dead_lettered,
  }));
}

export interface OutboxRow extends TransportMessage {
  readonly eventId: string;
  readonly sent: boolean;
}

/** Outbox rows of some subjects, in id (send) order. */
export async function outboxRows(
  db: Database,
  schema: string,
  subjects: readonly string[],
): Promise<OutboxRow[]> {
  const rows = await db.orm.em.getConnection().execute<
    {
      event_id: string;
      topic: string;
      key: string;
      value: string;
      headers: Record<string, string>;
      sent: boolean;
    }[]
  >(
    `select event_id, topic, key, value, headers, sent_at is not null as sent
     from "${schema}".outbox where key in (select jsonb_array_elements_text(?::jsonb)) order by id`,
    [JSON.stringify(subjects)],
  );
  return rows.map((row) => ({
    eventId: row.event_id,
    topic: row.topic,
    key: row.key,
    value: row.value,
    headers: row.headers,
    sent: row.sent,
  }));
}

/** The event id a relayed message carries (CloudEvents `ce_id` header). */
export function eventIdOf(message: Pick<TransportMessage, 'headers'>): string {
  const id = message.headers['ce_id'];
  if (!id) throw new Error('message has no ce_id header');
  return id;
}

/** How often each value occurs. */
export function tally(values: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** Collects every message of a topic as it arrives. */
export interface TopicReader {
  /** In arrival order (per partition, in offset order). */
  readonly messages: ConsumedMessage[];
  stop(): Promise<void>;
}

/** Reads a (logical) topic through the transport itself, as a consumer group of one. */
export async function readTopic(
  transport: EventTransport,
  topic: string,
  group: string,
): Promise<TopicReader> {
  const messages: ConsumedMessage[] = [];
  const subscription = await transport.subscribe({
    group,
    topics: [topic],
    eachBatch: async (batch) => {
      messages.push(...batch);
      return batch.length;
    },
  });
  return { messages, stop: () => subscription.stop() };
}

/**
 * Reads a topic of the Kafka cluster with a plain kafkajs consumer, bypassing the transport:
 * `topic` is logical, the reader adds the run's prefix (so it proves the physical name).
 */
export async function readKafkaTopic(kafka: TestKafka, topic: string): Promise<TopicReader> {
  const client = new Kafka({
    clientId: 'topic-reader',
    brokers: kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  const consumer = client.consumer({
    groupId: `${kafka.topicPrefix}reader.${topic}`,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
  });
  const messages: ConsumedMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [kafka.topicPrefix + topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      messages.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') ?? '',
        value: message.value?.toString('utf8') ?? '',
        headers: Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
        ),
      });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}
