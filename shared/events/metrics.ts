/** Prometheus metrics of the event backbone, registered on the owning service's registry. */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export interface EventMetrics {
  readonly published: Counter<'topic'>;
  readonly consumed: Counter<'group' | 'type' | 'outcome'>;
  readonly handlerErrors: Counter<'group' | 'type'>;
  readonly deadLettered: Counter<'group' | 'topic'>;
  readonly consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  /** Set by the relay: how many outbox rows wait to be sent. */
  readonly outboxBacklog: Gauge;
}

export function createEventMetrics(registry: Registry): EventMetrics {
  const registers = [registry];
  return {
    published: new Counter({
      name: 'events_published_total',
      help: 'Events the outbox relay delivered to the transport',
      labelNames: ['topic'] as const,
      registers,
    }),
    consumed: new Counter({
      name: 'events_consumed_total',
      help: 'Events handled by consumers, by outcome (applied, duplicate, ignored, dead_lettered)',
      labelNames: ['group', 'type', 'outcome'] as const,
      registers,
    }),
    handlerErrors: new Counter({
      name: 'event_handler_errors_total',
      help: 'Failed attempts of event handlers (each retry counts)',
      labelNames: ['group', 'type'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'events_dead_lettered_total',
      help: 'Events sent to a dead-letter topic',
      labelNames: ['group', 'topic'] as const,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'event_consumer_lag',
      help: 'Messages a consumer group has not yet handled, per partition',
      labelNames: ['group', 'topic', 'partition'] as const,
      registers,
    }),
    outboxBacklog: new Gauge({
      name: 'outbox_backlog',
      help: 'Outbox rows not yet sent to the transport',
      registers,
    }),
  };
}
