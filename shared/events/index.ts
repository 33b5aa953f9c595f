export { createEvent, parseEnvelope } from './envelope.ts';
export type { EventEnvelope, NewEvent, EnvelopeDeps } from './envelope.ts';
export type {
  EventBus,
  EventHandler,
  DeliveredEvent,
  SubscribeOptions,
  Subscription,
} from './bus.ts';
export { createInProcessBus } from './in-process-bus.ts';
export type { InProcessBusOptions } from './in-process-bus.ts';
export { startKafkaBus, BrokerUnavailableError } from './kafka-bus.ts';
export type { KafkaBusOptions } from './kafka-bus.ts';
