/**
 * Event consumer: applies events from the transport exactly once in effect. Each event's
 * handler runs in a database transaction that also records `(group, event id)` in the
 * `inbox` table, so a redelivery (crash before the offset commit, rebalance, relay resend)
 * finds its id and changes nothing.
 *
 * Batches are applied in one transaction when they can be; if that fails, events are applied
 * one by one with retries and exponential back-off with full jitter (shared/async). Transient
 * failures (connection loss, deadlock, serialization, lock timeout) are retried for as long as
 * they last — the partition waits rather than dead-letter a good event. A programmer error
 * (TypeError, ReferenceError, RangeError, SyntaxError: the handler's bug, which the same
 * event meets again on every attempt) and an error marked `retriable: false` are not retried:
 * the message is dead-lettered at its first failure. Any other failure is retried
 * `maxAttempts` times, then the message goes to `<topic>.dlq` with the error, the attempt
 * count and its original topic/partition/offset in headers, and consumption moves on.
 * Messages that cannot be valid (not an envelope, payload fails its schema) go to the DLQ
 * at once; types without a handler are skipped. Nothing a message contains stops a consumer.
 *
 * Handlers are bound to event type definitions with `on(definition, handler)`, which types
 * the handler's payload by the definition's schema: a handler for another event type does
 * not compile. A binding holds one version; an event of a type the consumer handles, at a
 * version the catalogue holds but the consumer has no handler for, is dead-lettered (the
 * catalogue's rule: consumers handle every version still in flight).
 *
 * Tracing (when on): each handler call runs in a CONSUMER span whose parent is the event's
 * `traceparent`, so what the handler publishes continues the trace that caused the event; a
 * batch handler's span links to every event's trace instead. A failed attempt's span ends
 * with the error; the retry makes a new one.
 */
import { backoffDelay, sleep } from '../async/index.ts';
import { prepared } from '../db/index.ts';
import type { EntityManager, MikroORM } from '../db/index.ts';
import { consumeBatchSpan, consumeSpan, startConsumeSpan } from '../observability/index.ts';
import type { ConsumedEventSpan, Logger } from '../observability/index.ts';
import type { EventCatalogue, EventData, EventType } from './catalogue.ts';
import { parseEnvelope } from './envelope.ts';
import type { EventEnvelope } from './envelope.ts';
import { InvalidEventError } from './invalid-event-error.ts';
import type { EventMetrics } from './metrics.ts';
import { dlqTopic } from './transport.ts';
import type { BatchControl, ConsumedMessage, EventTransport, Subscription } from './transport.ts';

/** What a handler of events of `T` (a definition, or a union of them) receives. */
export interface HandlerContext<T extends EventType = EventType> {
  /** In the transaction that also records the event in the inbox. */
  readonly em: EntityManager;
  readonly event: EventEnvelope<EventData<T>> & { readonly type: T['type'] };
  /** The payload as parsed by the catalogue schema. */
  readonly data: EventData<T>;
  readonly logger: Logger;
  /**
   * Runs `task` once the transaction that applied this event has committed (never if it
   * rolls back). For side effects outside the database that must not see uncommitted state,
   * such as dropping a cache entry; a failing task is logged, not retried.
   */
  readonly afterCommit: (task: () => Promise<void>) => void;
}

export type EventHandler<T extends EventType = EventType> = (
  context: HandlerContext<T>,
) => Promise<void>;

/** A handler tied to the event type definition it handles; build it with {@link on}. */
export interface HandlerBinding {
  readonly definition: EventType;
  readonly handler: EventHandler;
}

/**
 * Binds `handler` to the events of `definition` (that type, that version). The handler's
 * payload type comes from the definition's schema, so a handler written for another event
 * type is a compile error here.
 */
export function on<T extends EventType>(
  definition: T,
  handler: EventHandler<NoInfer<T>>,
): HandlerBinding {
  // The consumer calls it only with events the catalogue parsed as `definition`.
  return { definition, handler: handler as EventHandler };
}

/**
 * One new event of a batch, with its payload as its definition's schema parsed it. A union of
 * definitions gives a union discriminated by `type`.
 */
export type BatchEvent<T extends EventType = EventType> = T extends EventType
  ? {
      readonly type: T['type'];
      readonly event: EventEnvelope<EventData<T>> & { readonly type: T['type'] };
      readonly data: EventData<T>;
      /**
       * The context to publish this event's consequences under (`EventToPublish.traceparent`):
       * its own consumer span, as a handler of one event would publish under. Untraced: none.
       */
      readonly traceparent: string | undefined;
    }
  : never;

/** What a batch handler receives: every new event of its types in one transaction. */
export interface BatchHandlerContext<T extends EventType = EventType> {
  /** In the transaction that also records the events in the inbox. */
  readonly em: EntityManager;
  /** New events (never seen by this group), in delivery order, with parsed payloads. */
  readonly events: readonly BatchEvent<T>[];
  readonly logger: Logger;
  readonly afterCommit: (task: () => Promise<void>) => void;
}

/**
 * For consumers that work on whole batches (bulk ingest, set-based writes): one call per
 * transaction instead of one per event. When a batch fails it is retried event by event, so
 * the handler must also accept a batch of one.
 */
export interface BatchHandler<T extends EventType = EventType> {
  /** Event type definitions it takes; others are skipped. */
  readonly types: readonly T[];
  handle(context: BatchHandlerContext<T>): Promise<void>;
}

export interface EventConsumerOptions {
  /** Consumer group, `<service>.<purpose>`. */
  group: string;
  topics: readonly string[];
  /** One handler per event type definition (see `on`). Types without one are skipped. */
  handlers?: readonly HandlerBinding[];
  /** Instead of `handlers`: one handler for whole batches. */
  batchHandler?: BatchHandler;
  orm: MikroORM;
  /** Postgres schema holding the `inbox` table. */
  schema: string;
  catalogue: EventCatalogue;
  transport: EventTransport;
  logger: Logger;
  metrics?: EventMetrics;
  /** Attempts for a failing (non-transient) event before it is dead-lettered. @default 5 */
  maxAttempts?: number;
  /** Ceiling of the first retry's delay; doubles per attempt, with full jitter. @default 100 */
  retryBaseMs?: number;
  /** Ceiling of any retry's delay. @default 5000 */
  retryMaxMs?: number;
  /** Lets batches fill this long before they are handled (see `SubscribeOptions`). */
  batchWindowMs?: number;
}

type Prepared =
  | {
      kind: 'apply';
      message: ConsumedMessage;
      event: EventEnvelope;
      data: unknown;
      /** Undefined when the batch handler takes it. */
      handler: EventHandler | undefined;
    }
  | { kind: 'ignore'; message: ConsumedMessage; event: EventEnvelope }
  | { kind: 'invalid'; message: ConsumedMessage; error: InvalidEventError };

/** Postgres SQLSTATEs and socket errors that go away by themselves. */
const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
]);

/** True for failures worth retrying without limit: the infrastructure, not the event. */
export function isTransientError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const { code, message, cause } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08')))
      return true;
    if (
      typeof message === 'string' &&
      /Connection terminated|connection.*(closed|ended)|timeout exceeded when trying to connect/i.test(
        message,
      )
    ) {
      return true;
    }
    current = cause;
  }
  return false;
}

/**
 * Errors that say the handler's code is wrong, not the event or the moment: retrying meets
 * them again. The same four kafkajs gives up on at once (its UNRECOVERABLE_ERRORS).
 */
const PROGRAMMER_ERRORS = [TypeError, ReferenceError, RangeError, SyntaxError];

/** True for a TypeError, ReferenceError, RangeError or SyntaxError (subclasses included). */
function isProgrammerError(error: unknown): boolean {
  return PROGRAMMER_ERRORS.some((kind) => error instanceof kind);
}

/** The handlers by definition; refuses two for one definition, or one the catalogue lacks. */
function handlersByDefinition(
  group: string,
  catalogue: EventCatalogue,
  bindings: readonly HandlerBinding[],
): Map<EventType, EventHandler> {
  const handlers = new Map<EventType, EventHandler>();
  for (const { definition, handler } of bindings) {
    if (handlers.has(definition)) {
      throw new Error(
        `consumer ${group}: two handlers for ${definition.type} v${definition.version}`,
      );
    }
    handlers.set(definition, handler);
  }
  assertInCatalogue(group, catalogue, handlers.keys());
  return handlers;
}

/** Each definition must be the catalogue's own: events are parsed by the catalogue's schema. */
function assertInCatalogue(
  group: string,
  catalogue: EventCatalogue,
  definitions: Iterable<EventType>,
): void {
  for (const definition of definitions) {
    if (catalogue.find(definition.type, definition.version) !== definition) {
      throw new Error(
        `consumer ${group}: ${definition.type} v${definition.version} is not in its catalogue`,
      );
    }
  }
}

export async function startEventConsumer(options: EventConsumerOptions): Promise<Subscription> {
  const { orm, group, logger, metrics, catalogue, transport } = options;
  const inbox = `"${options.schema}".inbox`;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBaseMs = options.retryBaseMs ?? 100;
  const retryMaxMs = options.retryMaxMs ?? 5000;
  const { batchHandler } = options;
  if (batchHandler && options.handlers) {
    throw new Error(`consumer ${group}: give either handlers or a batchHandler, not both`);
  }
  const handlers = handlersByDefinition(group, catalogue, options.handlers ?? []);
  const batchTypes = new Set(batchHandler?.types ?? []);
  assertInCatalogue(group, catalogue, batchTypes);
  // A message of one of these types is parsed, so a version nobody knows is dead-lettered.
  const handledTypes = new Set([...handlers.keys(), ...batchTypes].map(({ type }) => type));
  // Groups are `<service>.<purpose>`: the service is what spans name.
  const service = group.split('.')[0] ?? group;
  const system = transport.kind === 'kafka' ? 'kafka' : 'in-process';

  const prepare = (message: ConsumedMessage): Prepared => {
    try {
      const event = parseEnvelope(message.value);
      if (!handledTypes.has(event.type)) return { kind: 'ignore', message, event };
      const data = catalogue.parse(event);
      const definition = catalogue.definitionOf(event)!; // parse found it
      const handler = handlers.get(definition);
      if (!handler && !batchTypes.has(definition)) {
        throw new InvalidEventError(
          event.id,
          `consumer ${group} has no handler for ${event.type} v${definition.version}`,
        );
      }
      return { kind: 'apply', message, event, data, handler };
    } catch (error) {
      if (error instanceof InvalidEventError) return { kind: 'invalid', message, error };
      throw error;
    }
  };

  /** What an event's consumer span says of it. */
  const spanOf = (event: EventEnvelope, message: ConsumedMessage): ConsumedEventSpan => ({
    service,
    system,
    topic: message.topic,
    group,
    eventId: event.id,
    eventType: event.type,
    subject: event.subject,
    partition: message.partition,
    offset: message.offset,
    traceparent: event.traceparent ?? message.headers['traceparent'],
  });

  /** Applies events in one transaction; returns those that were new (not in the inbox). */
  const applyAll = async (items: Extract<Prepared, { kind: 'apply' }>[]) => {
    if (items.length === 0) return [];
    const committed: (() => Promise<void>)[] = [];
    const afterCommit = (task: () => Promise<void>) => void committed.push(task);
    const applied = await orm.em
      .fork({ disableContextResolution: true })
      .transactional(async (em) => {
        const rows = await em.getConnection().execute<{ event_id: string }[]>(
          prepared(`insert into ${inbox} (consumer_group, event_id)
             select ?::text, id from jsonb_array_elements_text(?::jsonb) as id
             on conflict do nothing returning event_id`),
          // Arrays go as JSON: the driver would expand a JS array into a parameter list.
          [group, JSON.stringify(items.map((item) => item.event.id))],
          'all',
          em.getTransactionContext(),
        );
        const fresh = new Set(rows.map((row) => row.event_id));
        const applied: typeof items = [];
        for (const item of items) {
          // A batch may hold one event twice (a relay resend): apply its first copy only.
          if (!fresh.delete(item.event.id)) continue;
          const { handler, event, data, message } = item;
          if (handler) {
            await consumeSpan(spanOf(event, message), () =>
              handler({ em, event, data, logger, afterCommit }),
            );
          }
          applied.push(item);
        }
        if (batchHandler && applied.length > 0) {
          // Each event gets the span a handler of one event would run in; the batch's span
          // covers the handler's work and links to every event's trace.
          const spans = applied.map(({ event, message }) =>
            startConsumeSpan(spanOf(event, message)),
          );
          try {
            await consumeBatchSpan(
              {
                service,
                system,
                group,
                traceparents: applied.map(({ event }) => event.traceparent),
              },
              () =>
                batchHandler.handle({
                  em,
                  events: applied.map(({ event, data }, index) => ({
                    type: event.type,
                    event,
                    data,
                    traceparent: spans[index]!.traceparent,
                  })),
                  logger,
                  afterCommit,
                }),
            );
          } catch (error) {
            for (const span of spans) span.end(error);
            throw error;
          }
          for (const span of spans) span.end();
        }
        return applied;
      });
    for (const task of committed) {
      await task().catch((error: unknown) =>
        logger.warn({ err: error, group }, 'after-commit task of an event handler failed'),
      );
    }
    return applied;
  };

  const deadLetter = async (
    message: ConsumedMessage,
    error: Error,
    attempts: number,
    eventId?: string,
  ) => {
    await transport.send([
      {
        topic: dlqTopic(message.topic),
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          'eventgraph-dlq-error': error.message.slice(0, 2000),
          'eventgraph-dlq-error-type': error.name,
          'eventgraph-dlq-attempts': String(attempts),
          'eventgraph-dlq-original-topic': message.topic,
          'eventgraph-dlq-original-partition': String(message.partition),
          'eventgraph-dlq-original-offset': message.offset,
          'eventgraph-dlq-group': group,
          'eventgraph-dlq-at': new Date().toISOString(),
        },
      },
    ]);
    if (eventId) {
      await orm.em
        .getConnection()
        .execute(
          `insert into ${inbox} (consumer_group, event_id, dead_lettered) values (?, ?, true) on conflict do nothing`,
          [group, eventId],
        );
    }
    metrics?.deadLettered.inc({ group, topic: message.topic });
    logger.error(
      {
        err: error,
        group,
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        eventId,
        attempts,
      },
      'event dead-lettered',
    );
  };

  const inInbox = async (eventId: string) => {
    const rows = await orm.em
      .getConnection()
      .execute<unknown[]>(`select 1 from ${inbox} where consumer_group = ? and event_id = ?`, [
        group,
        eventId,
      ]);
    return rows.length > 0;
  };

  /** Applies one event with retries; resolves false if the subscription lost the partition. */
  const applyOne = async (item: Extract<Prepared, { kind: 'apply' }>, control: BatchControl) => {
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await applyAll([item]);
        metrics?.consumed.inc({
          group,
          type: item.event.type,
          outcome: applied.length ? 'applied' : 'duplicate',
        });
        return true;
      } catch (error) {
        metrics?.handlerErrors.inc({ group, type: item.event.type });
        // A programmer error inside a transient one (a TypeError whose cause is a lost
        // connection, as fetch throws) is the connection's: transient wins.
        const transient = isTransientError(error);
        const retriable =
          transient ||
          (!isProgrammerError(error) && (error as { retriable?: unknown }).retriable !== false);
        if (!transient) failures++;
        if (!retriable || failures >= maxAttempts) {
          await deadLetter(item.message, error as Error, failures, item.event.id);
          metrics?.consumed.inc({ group, type: item.event.type, outcome: 'dead_lettered' });
          return true;
        }
        logger.warn(
          { err: error, group, eventId: item.event.id, type: item.event.type, attempt, transient },
          'event handler failed; retrying',
        );
        await sleep(backoffDelay(attempt, { baseMs: retryBaseMs, maxMs: retryMaxMs }));
        if (!control.isActive()) return false;
        await control.heartbeat();
      }
    }
  };

  const eachBatch = async (messages: readonly ConsumedMessage[], control: BatchControl) => {
    const prepared = messages.map(prepare);
    const applicable = prepared.filter(
      (p): p is Extract<Prepared, { kind: 'apply' }> => p.kind === 'apply',
    );
    let processed = messages.length;
    try {
      const applied = await applyAll(applicable);
      if (metrics) {
        // `applied` holds each applied item once; every other copy was a duplicate.
        const appliedItems = new Set<Prepared>(applied);
        for (const item of applicable) {
          metrics.consumed.inc({
            group,
            type: item.event.type,
            outcome: appliedItems.has(item) ? 'applied' : 'duplicate',
          });
        }
      }
    } catch (batchError) {
      // Find the culprit: apply one by one, in order, each with its own retries.
      logger.debug(
        { err: batchError, group, size: applicable.length },
        'batch failed; applying one by one',
      );
      for (let index = 0; index < prepared.length; index++) {
        const item = prepared[index]!;
        if (item.kind !== 'apply') continue;
        if (!control.isActive() || !(await applyOne(item, control))) {
          processed = index;
          break;
        }
      }
    }
    for (const item of prepared.slice(0, processed)) {
      if (item.kind === 'ignore') {
        metrics?.consumed.inc({ group, type: item.event.type, outcome: 'ignored' });
      } else if (item.kind === 'invalid') {
        // A redelivered invalid message with a known id was dead-lettered before.
        if (item.error.eventId && (await inInbox(item.error.eventId))) continue;
        await deadLetter(item.message, item.error, 1, item.error.eventId);
        metrics?.consumed.inc({ group, type: 'invalid', outcome: 'dead_lettered' });
      }
    }
    return processed;
  };

  await transport.ensureTopics([
    ...options.topics.map((topic) => ({ topic })),
    ...options.topics.map((topic) => ({ topic: dlqTopic(topic) })),
  ]);
  return transport.subscribe({
    group,
    topics: options.topics,
    ...(options.batchWindowMs ? { batchWindowMs: options.batchWindowMs } : {}),
    eachBatch,
    onLag: (topic, partition, lag) =>
      metrics?.consumerLag.set({ group, topic, partition: String(partition) }, lag),
  });
}
