/**
 * A service's whole event set-up in one call: its topic and dead-letter topic, its outbox,
 * the relay that drains it, and the consumers it starts — all on the service's own Postgres
 * schema. `createSubgraph` uses it; so does anything that must behave like a service (the
 * benchmark). `stop()` stops the consumers (committing what they processed), then the relay
 * (flushing what is pending); the transport belongs to the caller.
 */
import type { MikroORM } from '../db/index.ts';
import type { Logger } from '../observability/index.ts';
import type { EventCatalogue } from './catalogue.ts';
import { startEventConsumer } from './consumer.ts';
import type { BatchHandler, EventConsumerOptions, HandlerBinding } from './consumer.ts';
import type { EventMetrics } from './metrics.ts';
import { createOutbox } from './outbox.ts';
import type { Outbox, Publish } from './outbox.ts';
import { startOutboxRelay } from './outbox-relay.ts';
import type { OutboxRelay, OutboxRelayOptions } from './outbox-relay.ts';
import { dlqTopic, eventsTopic } from './transport.ts';
import type { EventTransport, Subscription } from './transport.ts';

export interface ServiceEventsOptions {
  orm: MikroORM;
  /** Postgres schema holding the service's `outbox` and `inbox`. */
  schema: string;
  /** The publishing service: envelope `source` and topic `<source>.events`. */
  source: string;
  catalogue: EventCatalogue;
  transport: EventTransport;
  logger: Logger;
  metrics?: EventMetrics;
  /** PostgreSQL URL of `orm`'s database, for the relay's own session (see outbox-relay). */
  url: string;
  /** Relay tuning. */
  relay?: Pick<OutboxRelayOptions, 'batchSize' | 'pollIntervalMs' | 'lingerMs' | 'maxBackoffMs'>;
}

export interface ConsumeOptions extends Pick<
  EventConsumerOptions,
  'maxAttempts' | 'retryBaseMs' | 'retryMaxMs' | 'batchWindowMs'
> {
  /** Consumer group, `<service>.<purpose>`. */
  group: string;
  topics: readonly string[];
  /** One handler per event type definition (see `on`); or, for bulk work, one `batchHandler`. */
  handlers?: readonly HandlerBinding[];
  batchHandler?: BatchHandler;
}

/** Publishing and consuming domain events, bound to a service's outbox and inbox. */
export interface ServiceEvents {
  /** Writes events of one type to the outbox in `em`'s transaction (see outbox.ts). */
  publish: Publish;
  /** Takes subjects' publish locks ahead, with the transaction's next statement (outbox.ts). */
  lockSubjects: Outbox['lockSubjects'];
  /** Starts a consumer group; it is stopped with the rest. */
  consume(options: ConsumeOptions): Promise<void>;
  readonly relay: OutboxRelay;
  stop(): Promise<void>;
}

export async function startServiceEvents(options: ServiceEventsOptions): Promise<ServiceEvents> {
  const { orm, schema, catalogue, transport, logger, metrics } = options;
  const topic = eventsTopic(options.source);
  await transport.ensureTopics([{ topic }, { topic: dlqTopic(topic) }]);
  const outbox = createOutbox({ schema, source: options.source, catalogue });
  const relay = await startOutboxRelay({
    orm,
    outbox,
    transport,
    logger,
    ...(metrics ? { metrics } : {}),
    url: options.url,
    ...options.relay,
  });
  const consumers: Subscription[] = [];
  return {
    publish: (em, type, events) => outbox.publish(em, type, events),
    lockSubjects: (em, subjects) => outbox.lockSubjects(em, subjects),
    async consume(consume) {
      consumers.push(
        await startEventConsumer({
          ...consume,
          orm,
          schema,
          catalogue,
          transport,
          logger,
          ...(metrics ? { metrics } : {}),
        }),
      );
    },
    relay,
    async stop() {
      await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
      await relay.stop();
    },
  };
}
