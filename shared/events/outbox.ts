/**
 * Transactional outbox: `publish()` takes an event type's definition and occurrences of it
 * (aggregate and payload, typed by the definition's schema), validates them against the
 * catalogue and writes them to the service's `outbox` table in the caller's transaction, so an
 * event exists exactly when the state change that caused it committed. The relay
 * (outbox-relay.ts) sends the rows.
 *
 * Per-aggregate commit order: publishing takes a transaction-scoped advisory lock on each
 * subject, so two transactions publishing for one aggregate commit one after the other and
 * the later one's rows get the higher ids; the relay sends in id order. A transaction that
 * knows a subject before it has the event (a new aggregate's id) may take the lock ahead with
 * `lockSubjects`, which goes out with its next statement and saves `publish` a round trip. A
 * trigger NOTIFYs the relays at commit.
 *
 * Tracing: each envelope carries the `traceparent` of the span active when it was published
 * (a GraphQL request, or the consumer span of the event being handled), and so does its Kafka
 * header `traceparent`, so a trace survives the outbox. Untraced, neither is set.
 */
import { Migration } from '@mikro-orm/migrations';
import type { MigrationObject } from '@mikro-orm/core';
import { prepared, sentWithNext } from '../db/index.ts';
import type { EntityManager } from '../db/index.ts';
import { currentTraceparent } from '../observability/index.ts';
import { illFormedIn } from '../text/index.ts';
import { dataSchemaUri } from './catalogue.ts';
import type { EventCatalogue, EventData, EventInput, EventType } from './catalogue.ts';
import { createEnvelope } from './envelope.ts';
import type { EnvelopeDeps, EventEnvelope } from './envelope.ts';
import { InvalidEventError } from './invalid-event-error.ts';
import { eventsTopic } from './transport.ts';

/** The event tables every service owns, in its own schema. Runs before its own migrations. */
class CreateEventTables extends Migration {
  override up(): void {
    this.addSql(`
      create table outbox (
        id bigserial primary key,
        event_id uuid not null unique,
        topic text not null,
        key text not null,
        value text not null,
        headers jsonb not null default '{}',
        created_at timestamptz not null default clock_timestamp(),
        sent_at timestamptz
      )`);
    this.addSql('create index outbox_unsent on outbox (id) where sent_at is null');
    this.addSql('create index outbox_sent_at on outbox (sent_at) where sent_at is not null');
    this.addSql(`
      create table inbox (
        consumer_group text not null,
        event_id text not null,
        processed_at timestamptz not null default clock_timestamp(),
        dead_lettered boolean not null default false,
        primary key (consumer_group, event_id)
      )`);
  }
}

/** NOTIFY on every insert into the outbox, delivered at commit: saves publish a round trip. */
class NotifyOnOutboxInsert extends Migration {
  override up(): void {
    this.addSql(`
      create function outbox_notify() returns trigger language plpgsql as $$
      begin
        perform pg_notify('eventgraph_outbox_' || tg_table_schema, '');
        return null;
      end $$`);
    this.addSql(
      'create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify()',
    );
  }
}

export const EVENT_TABLES_MIGRATIONS: MigrationObject[] = [
  { name: 'Migration20260101000000_eventgraph_outbox_inbox', class: CreateEventTables },
  { name: 'Migration20260101000001_eventgraph_outbox_notify', class: NotifyOnOutboxInsert },
];

/** NOTIFY channel the outbox signals on commit; the relay LISTENs on it. */
export function outboxChannel(schema: string): string {
  return `eventgraph_outbox_${schema}`;
}

export interface OutboxOptions {
  /** Postgres schema holding the `outbox` table (the service's schema). */
  schema: string;
  /** The publishing service: envelope `source`, and the topic `<source>.events`. */
  source: string;
  catalogue: EventCatalogue;
  deps?: EnvelopeDeps;
}

/** One occurrence of an event type, to publish: the aggregate it happened to and its payload. */
export interface EventToPublish<T extends EventType = EventType> {
  /** Aggregate id: the envelope's `subject` and the Kafka key. */
  subject: string;
  data: EventInput<T>;
  /** The cause's trace context; by default the span active when publishing. */
  traceparent?: string | undefined;
}

/** Publishes events of one type; the payloads must fit the definition's schema. */
export type Publish = <T extends EventType>(
  em: EntityManager,
  type: T,
  events: readonly EventToPublish<NoInfer<T>>[],
) => Promise<EventEnvelope<EventData<T>>[]>;

export interface Outbox {
  /** Postgres schema holding the `outbox` table. */
  readonly schema: string;
  /**
   * Writes events of `type` to the outbox inside `em`'s transaction and returns their
   * envelopes. Throws `InvalidEventError` (naming the event id) for a type the catalogue does
   * not hold or a payload its schema refuses, and a plain Error when called outside a
   * transaction.
   */
  publish: Publish;
  /**
   * Takes the subjects' publish locks in `em`'s transaction with its next statement that goes
   * out (`sentWithNext`), just before it, for a caller that knows them before it has its
   * events (the id it gives a new aggregate, the orders of a batch); `publish` then does not
   * take them again. The caller sees to two things: a statement goes out before `publish` is
   * called (one held for the commit does not), and the locks come in the order the
   * transaction's other locks keep elsewhere (that statement's own locks come after them).
   * Throws a plain Error when called outside a transaction.
   */
  lockSubjects(em: EntityManager, subjects: readonly string[]): Promise<void>;
  /** True for a transaction (MikroORM transaction context) in which `publish` wrote rows. */
  publishedIn(transaction: object): boolean;
}

export function createOutbox(options: OutboxOptions): Outbox {
  const table = `"${options.schema}".outbox`;
  const topic = eventsTopic(options.source);
  const publishing = new WeakSet<object>();
  /** A transaction's subjects whose locks it holds (or has sent with its next statement). */
  const lockedIn = new WeakMap<object, Set<string>>();
  const LOCK_SUBJECTS = prepared(`select pg_advisory_xact_lock(hashtextextended(?::text || k, 0))
    from jsonb_array_elements_text(?::jsonb) as k order by k`);

  /**
   * Locks the subjects `ctx` does not hold yet, in order (so that two transactions locking
   * overlapping sets wait rather than deadlock); with the next statement when `held`. Arrays
   * travel as JSON: the driver would expand a JS array into a parameter list.
   */
  const lock = async (
    em: EntityManager,
    ctx: object,
    subjects: Iterable<string>,
    held: boolean,
  ) => {
    let locked = lockedIn.get(ctx);
    if (!locked) lockedIn.set(ctx, (locked = new Set()));
    const fresh = [...new Set(subjects)].filter((subject) => !locked.has(subject)).sort();
    if (fresh.length === 0) return;
    await em
      .getConnection()
      .execute(
        held ? sentWithNext(LOCK_SUBJECTS) : LOCK_SUBJECTS,
        [`${options.schema}:`, JSON.stringify(fresh)],
        'run',
        ctx,
      );
    for (const subject of fresh) locked.add(subject);
  };
  /** `em`'s transaction context; outside a transaction, an Error naming the call. */
  const transactionOf = (em: EntityManager, call: string): object => {
    const ctx = em.isInTransaction() ? em.getTransactionContext<object>() : undefined;
    if (!ctx) throw new Error(`outbox.${call}() must run inside a transaction (em.transactional)`);
    return ctx;
  };

  return {
    schema: options.schema,
    publishedIn: (transaction) => publishing.has(transaction),
    async lockSubjects(em, subjects) {
      await lock(em, transactionOf(em, 'lockSubjects'), subjects, true);
    },
    async publish(em, type, events) {
      if (events.length === 0) return [];
      const ctx = transactionOf(em, 'publish');
      const traceparent = currentTraceparent();
      const dataschema = dataSchemaUri(type.type, type.version);
      const envelopes = events.map((event) => {
        const envelope = createEnvelope(
          options.source,
          { ...event, type: type.type, traceparent: event.traceparent || traceparent },
          dataschema,
          options.deps,
        );
        // Publish what the catalogue's schema produced (defaults applied, unknown keys
        // stripped); it refuses a type or version it does not hold.
        const data = options.catalogue.parse(envelope) as EventData<typeof type>;
        // Text a consumer's database would refuse or alter never leaves (../text).
        const illFormed = illFormedIn(data, 'data');
        if (illFormed) {
          throw new InvalidEventError(envelope.id, `${illFormed.where} ${illFormed.problem}`);
        }
        return { ...envelope, data };
      });
      // The subjects' locks now (unless taken ahead), so that a later transaction publishing
      // for one of them waits for this one's commit; the rows wait and go out with the
      // transaction's next statement, usually its commit (see shared/db/fewer-round-trips.ts).
      await lock(
        em,
        ctx,
        envelopes.map((e) => e.subject),
        false,
      );
      await em.getConnection().execute(
        sentWithNext(
          prepared(`insert into ${table} (event_id, topic, key, value, headers)
           select (e->>'id')::uuid, e->>'topic', e->>'key', e->>'value', e->'headers'
           from jsonb_array_elements(?::jsonb) as e`),
        ),
        [
          JSON.stringify(
            envelopes.map((e) => ({
              id: e.id,
              topic,
              key: e.subject,
              value: JSON.stringify(e),
              headers: kafkaHeaders(e),
            })),
          ),
        ],
        'run',
        ctx,
      );
      // The outbox_notify trigger has queued the NOTIFY; Postgres delivers it at commit.
      publishing.add(ctx);
      return envelopes;
    },
  };
}

/**
 * CloudEvents Kafka binding, structured mode: the envelope is the value; ce_* mirror it. The
 * trace context goes in `traceparent`, the W3C header name OpenTelemetry's Kafka propagation
 * reads (the envelope's own `traceparent` attribute is what the consumers use).
 */
function kafkaHeaders(event: EventEnvelope): Record<string, string> {
  return {
    'content-type': 'application/cloudevents+json; charset=UTF-8',
    ce_id: event.id,
    ce_type: event.type,
    ce_source: event.source,
    ce_subject: event.subject,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
}
