/**
 * The transport port: moves serialized envelopes between services. Two adapters behind one
 * contract (tested against both): Kafka (kafkajs) and an in-process log for embedded mode.
 * Above it, the outbox relay sends and the event consumer receives; neither knows which
 * transport runs. Delivery is at-least-once and ordered per key within a partition.
 */

export interface TransportMessage {
  /** Logical topic (`<service>.events`); adapters add their topic prefix. */
  readonly topic: string;
  /** Aggregate id: messages with one key keep their order. */
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ConsumedMessage extends TransportMessage {
  readonly partition: number;
  readonly offset: string;
}

export interface BatchControl {
  /** Tells the group this member is alive during long batches. */
  heartbeat(): Promise<void>;
  /** False once the subscription stops or the partition was taken away (rebalance). */
  isActive(): boolean;
}

export interface SubscribeOptions {
  /** Consumer group, `<service>.<purpose>`; each group sees every message once. */
  group: string;
  topics: readonly string[];
  /**
   * Handles one partition's batch, in order, and resolves to how many of its leading
   * messages were processed (all when it stopped early for `isActive() === false`). Those
   * are committed; the rest, and the whole batch when it rejects, are delivered again.
   */
  eachBatch(messages: readonly ConsumedMessage[], control: BatchControl): Promise<number>;
  /**
   * Where a group with no committed offsets starts: every retained message (the default),
   * or only messages sent from now on (`false`: live feeds that must not replay history).
   */
  fromBeginning?: boolean;
  /**
   * For consumers that gain from bigger batches more than from fresh ones (bulk ingest): a
   * batch is handed over once this long has passed since its first message could have been,
   * or once it is full, so a trickle of events costs one batch per window instead of one
   * each. Unset: a batch goes as soon as there is anything to deliver.
   */
  batchWindowMs?: number;
  /** Reports how far the group is behind on a partition after each batch. */
  onLag?(topic: string, partition: number, lag: number): void;
}

export interface Subscription {
  /** Stops fetching, lets the batch in hand finish and commits what was processed. */
  stop(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  /** @default the transport's default partition count (3) */
  partitions?: number;
}

export interface EventTransport {
  readonly kind: 'kafka' | 'in-process';
  /** Creates missing topics; existing ones are left as they are. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Resolves once every message is durably accepted, in order per key. */
  send(messages: readonly TransportMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Rejects when the transport cannot currently reach its brokers. */
  ping(): Promise<void>;
  /** Stops every subscription, then the producer. */
  stop(): Promise<void>;
}

/** The topic a service publishes to. */
export function eventsTopic(service: string): string {
  return `${service}.events`;
}

/** The dead-letter topic of a topic. */
export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}
