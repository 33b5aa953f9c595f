/**
 * The event bus port: publish envelopes to a topic; consume a set of topics as a named
 * consumer group. Delivery is at-least-once and ordered per subject; handlers must be
 * idempotent. Two adapters: Kafka (kafkajs) and an in-process bus for embedded mode.
 *
 * This is the minimal contract of the foundation; the transactional outbox, inbox,
 * retries and dead-lettering arrive with the event-backbone work.
 */
import type { EventEnvelope } from './envelope.ts';

export interface DeliveredEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type EventHandler = (event: EventEnvelope, delivery: DeliveredEvent) => Promise<void>;

export interface SubscribeOptions {
  /** Consumer group, `<service>.<purpose>`; each group sees every event once. */
  group: string;
  topics: string[];
  handle: EventHandler;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface EventBus {
  readonly mode: 'kafka' | 'in-process';
  publish(topic: string, events: readonly EventEnvelope[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  ping(): Promise<void>;
  /** Stops every subscription, then the producer. */
  stop(): Promise<void>;
}
