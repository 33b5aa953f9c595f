export { createEnvelope, parseEnvelope } from './envelope.ts';
export type { EventEnvelope, NewEvent, EnvelopeDeps } from './envelope.ts';
export { createCatalogue, defineEventType, dataSchemaUri } from './catalogue.ts';
export { InvalidEventError } from './invalid-event-error.ts';
export type { EventCatalogue, EventData, EventInput, EventType } from './catalogue.ts';
export { dlqTopic, eventsTopic } from './transport.ts';
export type {
  BatchControl,
  ConsumedMessage,
  EventTransport,
  SubscribeOptions,
  Subscription,
  TopicSpec,
  TransportMessage,
} from './transport.ts';
export { createInProcessTransport } from './in-process-transport.ts';
export type { InProcessTransportOptions } from './in-process-transport.ts';
export { startKafkaTransport, BrokerUnavailableError } from './kafka-transport.ts';
export type { KafkaTransportOptions } from './kafka-transport.ts';
export { createOutbox, outboxChannel, EVENT_TABLES_MIGRATIONS } from './outbox.ts';
export type { EventToPublish, Outbox, OutboxOptions, Publish } from './outbox.ts';
export { DEFAULT_RELAY_LINGER_MS, startOutboxRelay } from './outbox-relay.ts';
export type { OutboxRelay, OutboxRelayOptions } from './outbox-relay.ts';
export { startEventConsumer, isTransientError, on } from './consumer.ts';
export type {
  BatchEvent,
  BatchHandler,
  BatchHandlerContext,
  EventConsumerOptions,
  EventHandler,
  HandlerBinding,
  HandlerContext,
} from './consumer.ts';
export { createEventMetrics } from './metrics.ts';
export type { EventMetrics } from './metrics.ts';
export { startServiceEvents } from './service-events.ts';
export type { ConsumeOptions, ServiceEvents, ServiceEventsOptions } from './service-events.ts';
