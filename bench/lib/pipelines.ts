/**
 * The pipelines the events benchmark drives: the event backbone itself (outbox → relay →
 * transport → consumer with inbox and an effect table), and the baselines it is compared
 * with in the same run — plain PostgreSQL INSERT transactions, and the bus alone (raw
 * kafkajs with the Kafka adapter's settings, or the in-process transport) without any
 * outbox, inbox or database.
 */
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import type { Consumer, IHeaders, Producer } from 'kafkajs';
import pg from 'pg';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { Migration, defineEntity, p, startDatabase } from '../../shared/db/index.ts';
import type { Database } from '../../shared/db/index.ts';
import {
  EVENT_TABLES_MIGRATIONS,
  createCatalogue,
  createEnvelope,
  createEventMetrics,
  dataSchemaUri,
  defineEventType,
  on,
  startServiceEvents,
} from '../../shared/events/index.ts';
import type {
  EventEnvelope,
  EventMetrics,
  EventTransport,
  HandlerContext,
  NewEvent,
  OutboxRelay,
  TransportMessage,
} from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { mark, now } from './timeline.ts';
import type { Pipeline, Timeline } from './timeline.ts';

const { Kafka, CompressionTypes, Partitioners, logLevel } = kafkajs;

/**
 * The Kafka adapter's defaults (shared/events/kafka-transport.ts), which the raw kafkajs
 * baseline copies and the report names when no flag overrides them.
 */
export const KAFKA_DEFAULTS = {
  maxWaitTimeMs: 250,
  compression: 'none',
  partitionsConsumedConcurrently: 3,
  sessionTimeoutMs: 30_000,
} as const;

// ---------------------------------------------------------------------------------------------
// The benchmark's event type and effect

export const SOURCE = 'bench';
export const TOPIC = `${SOURCE}.events`;
export const TICK = 'bench.tick';

const tickV1 = defineEventType(
  TICK,
  1,
  z.object({ seq: z.number().int().nonnegative(), sentAt: z.string() }),
);
type Tick = z.infer<typeof tickV1.schema>;

export const catalogue = createCatalogue([tickV1]);

const EffectEntity = defineEntity({
  name: 'BenchEffect',
  tableName: 'effect',
  properties: {
    seq: p.integer().primary(),
    eventId: p.uuid(),
  },
});

class CreateEffectTable extends Migration {
  override up(): void {
    this.addSql(`
      create table effect (
        seq integer primary key,
        event_id uuid not null,
        applied_at timestamptz not null default clock_timestamp()
      )`);
  }
}

/** The event a sequence number stands for; subjects are disjoint between publishers. */
export function tickEvent(seq: number, publisher: number, subjects: number): NewEvent<Tick> {
  return {
    type: TICK,
    subject: `agg-${publisher}-${seq % subjects}`,
    data: { seq, sentAt: new Date().toISOString() },
  };
}

/**
 * A consumer's totals from its metrics: events by outcome (applied, duplicate, ignored,
 * dead_lettered), plus `handler_errors` (failed attempts) and `dead_lettered_total`.
 */
export async function consumerOutcomes(metrics: EventMetrics): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  const add = (key: string, value: number) => (totals[key] = (totals[key] ?? 0) + value);
  for (const { labels, value } of (await metrics.consumed.get()).values) {
    add(String(labels.outcome), value);
  }
  for (const { value } of (await metrics.handlerErrors.get()).values) add('handler_errors', value);
  for (const { value } of (await metrics.deadLettered.get()).values) {
    add('dead_lettered_total', value);
  }
  return totals;
}

/** The Kafka headers the outbox writes for an envelope (CloudEvents Kafka binding, structured). */
export function cloudEventHeaders(envelope: EventEnvelope): Record<string, string> {
  return {
    'content-type': 'application/cloudevents+json; charset=UTF-8',
    ce_id: envelope.id,
    ce_type: envelope.type,
    ce_source: envelope.source,
    ce_subject: envelope.subject,
    ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
  };
}

/** The envelope and headers the outbox would write for an event (for the baselines). */
function asMessage(event: NewEvent<Tick>): { envelope: EventEnvelope<Tick>; headers: IHeaders } {
  const envelope = createEnvelope(SOURCE, event, dataSchemaUri(TICK, 1));
  return { envelope, headers: cloudEventHeaders(envelope) };
}

// ---------------------------------------------------------------------------------------------
// Counters of what the backbone's parts did

export interface BackboneCounters {
  /** transport.send calls by the relay, and the messages in them. */
  sends: number;
  sentMessages: number;
  /** Batches handed to the consumer, and the messages in them. */
  batches: number;
  batchMessages: number;
  /** Consumer batch transactions committed / rolled back. */
  commits: number;
  rollbacks: number;
  /** Every transaction committed on the consumer service's ORM (effects and its own relay's). */
  consumerServiceCommits: number;
}

/** Wraps a transport to timestamp sends and deliveries by event id (`ce_id` header). */
function instrument(
  inner: EventTransport,
  timeline: Timeline,
  counters: BackboneCounters,
): EventTransport {
  const seqOf = (message: TransportMessage) => {
    const id = message.headers['ce_id'];
    return id === undefined ? undefined : timeline.ids.get(id);
  };
  return {
    kind: inner.kind,
    ensureTopics: (topics) => inner.ensureTopics(topics),
    async send(messages) {
      await inner.send(messages);
      const time = now();
      counters.sends++;
      counters.sentMessages += messages.length;
      for (const message of messages) mark(timeline.sent, seqOf(message), time);
    },
    subscribe: (options) =>
      inner.subscribe({
        ...options,
        eachBatch(messages, control) {
          const time = now();
          counters.batches++;
          counters.batchMessages += messages.length;
          for (const message of messages) mark(timeline.delivered, seqOf(message), time);
          return options.eachBatch(messages, control);
        },
      }),
    ping: () => inner.ping(),
    stop: () => inner.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// The backbone

export interface BackboneOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly timeline: Timeline;
  /** The producing service's transport (relay) and the consuming service's (consumer). */
  readonly producerTransport: EventTransport;
  readonly consumerTransport: EventTransport;
  readonly subjects: number;
  readonly poolMax: number | undefined;
  readonly relay: { batchSize?: number; pollIntervalMs?: number; lingerMs?: number };
  /** How the handler writes its effect: an INSERT per event, or em.create flushed at commit. */
  readonly effect: 'insert' | 'persist';
}

export interface Backbone extends Pipeline {
  readonly counters: BackboneCounters;
  readonly producerMetrics: EventMetrics;
  readonly consumerMetrics: EventMetrics;
  readonly relay: OutboxRelay;
  /** Stops relay, consumer and both databases' pools. */
  stop(): Promise<void>;
}

/**
 * Two services in one database, wired as createSubgraph (shared/server/subgraph.ts) wires
 * them: the producer (`bench_producer` schema: outbox, relay with LISTEN) and the consumer
 * (`bench_consumer` schema: inbox, effect table, and its own — idle — outbox and relay), each
 * with its own ORM (own MikroORM context name), pool and metrics registry, each set up by
 * startServiceEvents as createSubgraph does. Each relay wakes on its ORM's commits that
 * published to its outbox and on the outbox trigger's NOTIFY.
 */
export async function startBackbone(options: BackboneOptions): Promise<Backbone> {
  const { logger, timeline } = options;
  const counters: BackboneCounters = {
    sends: 0,
    sentMessages: 0,
    batches: 0,
    batchMessages: 0,
    commits: 0,
    rollbacks: 0,
    consumerServiceCommits: 0,
  };
  const started: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of started.splice(0).reverse()) await close().catch(() => undefined);
  };
  try {
    const database = (schema: string, migrations: typeof EVENT_TABLES_MIGRATIONS) =>
      startDatabase({
        schema,
        url: options.url,
        dataDir: '.data/bench-unused',
        entities: schema === 'bench_consumer' ? [EffectEntity] : [],
        migrations,
        ...(options.poolMax ? { poolMax: options.poolMax } : {}),
        logger,
      });
    const producerDb: Database = await database('bench_producer', [...EVENT_TABLES_MIGRATIONS]);
    started.push(() => producerDb.stop());
    const consumerDb: Database = await database('bench_consumer', [
      ...EVENT_TABLES_MIGRATIONS,
      { name: 'Migration20260201000000_bench_effect', class: CreateEffectTable },
    ]);
    started.push(() => consumerDb.stop());

    const producerTransport = instrument(options.producerTransport, timeline, counters);
    const consumerTransport =
      options.consumerTransport === options.producerTransport
        ? producerTransport
        : instrument(options.consumerTransport, timeline, counters);

    const producerMetrics = createEventMetrics(new Registry());
    const consumerMetrics = createEventMetrics(new Registry());
    // Each service as createSubgraph sets it up: its topics, outbox, relay and consumers on its
    // own ORM. The consumer service publishes nothing, so its relay only polls.
    const producer = await startServiceEvents({
      orm: producerDb.orm,
      schema: 'bench_producer',
      source: SOURCE,
      catalogue,
      transport: producerTransport,
      logger,
      metrics: producerMetrics,
      url: producerDb.url,
      relay: options.relay,
    });
    started.push(() => producer.stop());
    const consumerService = await startServiceEvents({
      orm: consumerDb.orm,
      schema: 'bench_consumer',
      source: 'bench_consumer',
      catalogue,
      transport: consumerTransport,
      logger,
      metrics: consumerMetrics,
      url: consumerDb.url,
      relay: options.relay,
    });
    started.push(() => consumerService.stop());

    // The effect's commit time: the consumer's batch transaction is observed committing.
    const pending = new WeakMap<object, number[]>();
    consumerDb.orm.em.getEventManager().registerSubscriber({
      afterTransactionCommit: ({ transaction }: { transaction?: object }) => {
        counters.consumerServiceCommits++;
        const seqs = transaction ? pending.get(transaction) : undefined;
        if (!seqs) return;
        const time = now();
        counters.commits++;
        for (const seq of seqs) mark(timeline.effect, seq, time);
        pending.delete(transaction!);
      },
      afterTransactionRollback: ({ transaction }: { transaction?: object }) => {
        if (transaction && pending.delete(transaction)) counters.rollbacks++;
      },
    });
    const record = (em: HandlerContext['em'], seq: number) => {
      const ctx = em.getTransactionContext<object>();
      if (ctx) {
        const seqs = pending.get(ctx) ?? [];
        seqs.push(seq);
        pending.set(ctx, seqs);
      }
    };
    const applyTick =
      options.effect === 'persist'
        ? // The ORM way: the entity is flushed with the others when the batch commits.
          async ({ em, event, data }: HandlerContext<typeof tickV1>) => {
            em.create(EffectEntity, { seq: data.seq, eventId: event.id });
            record(em, data.seq);
          }
        : // Like the platform's handlers (users' user.registered): one idempotent insert each.
          async ({ em, event, data }: HandlerContext<typeof tickV1>) => {
            await em
              .createQueryBuilder(EffectEntity)
              .insert({ seq: data.seq, eventId: event.id })
              .onConflict('seq')
              .ignore()
              .execute();
            record(em, data.seq);
          };
    await consumerService.consume({
      group: 'bench.effects',
      topics: [TOPIC],
      handlers: [on(tickV1, applyTick)],
    });

    return {
      timeline,
      counters,
      producerMetrics,
      consumerMetrics,
      relay: producer.relay,
      async publish(first, count, publisher) {
        const events = Array.from({ length: count }, (_, i) =>
          tickEvent(first + i, publisher, options.subjects),
        );
        await producerDb.orm.em.fork().transactional(async (em) => {
          const envelopes = await producer.publish(em, tickV1, events);
          envelopes.forEach((envelope, i) => timeline.ids.set(envelope.id, first + i));
        });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Baseline: plain INSERT transactions

export interface PgBaseline {
  /** Inserts the rows the outbox would, in one plain transaction (no lock, no NOTIFY, no ORM). */
  insert(first: number, count: number, publisher: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPgBaseline(
  url: string,
  poolMax: number,
  subjects: number,
): Promise<PgBaseline> {
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  await pool.query(`
    create schema if not exists bench_baseline;
    create table bench_baseline.rows (
      id bigserial primary key,
      event_id uuid not null unique,
      topic text not null,
      key text not null,
      value text not null,
      headers jsonb not null default '{}',
      created_at timestamptz not null default clock_timestamp()
    )`);
  return {
    async insert(first, count, publisher) {
      const rows = Array.from({ length: count }, (_, i) => {
        const { envelope, headers } = asMessage(tickEvent(first + i, publisher, subjects));
        return {
          id: envelope.id,
          topic: TOPIC,
          key: envelope.subject,
          value: JSON.stringify(envelope),
          headers,
        };
      });
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query(
          `insert into bench_baseline.rows (event_id, topic, key, value, headers)
           select (e->>'id')::uuid, e->>'topic', e->>'key', e->>'value', e->'headers'
           from jsonb_array_elements($1::jsonb) as e`,
          [JSON.stringify(rows)],
        );
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    stop: () => pool.end(),
  };
}

// ---------------------------------------------------------------------------------------------
// Baseline: the bus alone

export interface BusBaseline extends Pipeline {
  readonly description: string;
  stop(): Promise<void>;
}

export interface RawKafkaOptions {
  readonly brokers: readonly string[];
  readonly topicPrefix: string;
  readonly partitions: number;
  readonly sessionTimeoutMs: number;
  readonly maxWaitTimeMs: number;
  readonly compression: 'none' | 'gzip';
  readonly partitionsConsumedConcurrently: number;
  readonly subjects: number;
  readonly timeline: Timeline;
}

/**
 * kafkajs directly, configured as the Kafka adapter configures it (idempotent producer,
 * acks=all, murmur2 partitioner, the same compression — none by default; same session timeout,
 * heartbeat, fetch wait and partitions consumed concurrently; offsets resolved and committed
 * per batch) and fed the same envelopes — but no outbox, relay, inbox or database: the effect
 * is "the consumer was handed the message".
 */
export async function startRawKafka(options: RawKafkaOptions): Promise<BusBaseline> {
  const { timeline } = options;
  const topic = `${options.topicPrefix}bench.raw`;
  const kafka = new Kafka({
    clientId: 'eventgraph-bench-raw',
    brokers: [...options.brokers],
    connectionTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.ERROR,
  });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const admin = kafka.admin();
  const consumer: Consumer = kafka.consumer({
    groupId: `${options.topicPrefix}bench.raw`,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 10)),
    maxWaitTimeInMs: options.maxWaitTimeMs,
    allowAutoTopicCreation: true,
  });
  const stop = async () => {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  };
  try {
    await producer.connect();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: options.partitions }],
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      eachBatchAutoResolve: false,
      autoCommit: true,
      eachBatch: async (payload) => {
        const { batch } = payload;
        if (batch.messages.length === 0) return;
        const time = now();
        for (const message of batch.messages) {
          const id = message.headers?.['ce_id']?.toString();
          mark(timeline.effect, id === undefined ? undefined : timeline.ids.get(id), time);
        }
        payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
        await payload.commitOffsetsIfNecessary();
        await payload.heartbeat();
      },
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    description: 'raw kafkajs (adapter settings, no DB)',
    timeline,
    async publish(first, count, publisher) {
      const messages = Array.from({ length: count }, (_, i) => {
        const { envelope, headers } = asMessage(tickEvent(first + i, publisher, options.subjects));
        timeline.ids.set(envelope.id, first + i);
        return { key: envelope.subject, value: JSON.stringify(envelope), headers };
      });
      await producer.sendBatch({
        acks: -1,
        compression: options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: [{ topic, messages }],
      });
    },
    stop,
  };
}

/** The in-process transport alone: send → subscribe, no outbox, inbox or database. */
export async function startTransportOnly(
  transport: EventTransport,
  subjects: number,
  timeline: Timeline,
): Promise<BusBaseline> {
  const topic = 'bench.raw';
  await transport.ensureTopics([{ topic }]);
  const subscription = await transport.subscribe({
    group: 'bench.raw',
    topics: [topic],
    eachBatch: async (messages) => {
      const time = now();
      for (const message of messages) {
        const id = message.headers['ce_id'];
        mark(timeline.effect, id === undefined ? undefined : timeline.ids.get(id), time);
      }
      return messages.length;
    },
  });
  return {
    description: `${transport.kind} transport alone (no DB)`,
    timeline,
    async publish(first, count, publisher) {
      const messages = Array.from({ length: count }, (_, i) => {
        const { envelope, headers } = asMessage(tickEvent(first + i, publisher, subjects));
        timeline.ids.set(envelope.id, first + i);
        return {
          topic,
          key: envelope.subject,
          value: JSON.stringify(envelope),
          headers: headers as Record<string, string>,
        };
      });
      await transport.send(messages);
    },
    stop: () => subscription.stop(),
  };
}
