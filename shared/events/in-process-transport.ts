/**
 * In-process adapter of the transport, for embedded mode (one process, no broker). Topics are
 * in-memory partitioned logs (key hash → partition, so one key keeps its order); each group
 * keeps a committed offset per partition and handles one batch per partition at a time, like
 * a Kafka consumer group with one member. New groups start from the oldest retained message.
 *
 * Nothing is persisted: a crash loses messages the relay already marked sent but no consumer
 * has handled yet. Graceful `stop()` lets batches in hand finish first. Embedded mode is for
 * development; production runs Kafka.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { sleep } from '../async/index.ts';
import type { Logger } from '../observability/index.ts';
import type {
  ConsumedMessage,
  EventTransport,
  SubscribeOptions,
  Subscription,
  TopicSpec,
  TransportMessage,
} from './transport.ts';

export interface InProcessTransportOptions {
  logger: Logger;
  /** Partitions of topics created implicitly or without a count. @default 3 */
  defaultPartitions?: number;
  /** Largest batch handed to a consumer. @default 200 */
  maxBatchSize?: number;
  /** Delay before a failed batch is delivered again. @default 200 */
  redeliveryDelayMs?: number;
  /** Messages kept per partition when nobody consumes them (oldest go first). @default 100000 */
  maxRetained?: number;
}

interface Partition {
  /** Offset of `log[0]`: older messages were trimmed once every group had them. */
  base: number;
  log: TransportMessage[];
}

interface Member {
  readonly options: SubscribeOptions;
  readonly committed: Map<string, number>;
  readonly running: Map<string, Promise<void>>;
  active: boolean;
}

export function createInProcessTransport(options: InProcessTransportOptions): EventTransport {
  const { logger } = options;
  const defaultPartitions = options.defaultPartitions ?? 3;
  const maxBatchSize = options.maxBatchSize ?? 200;
  const redeliveryDelayMs = options.redeliveryDelayMs ?? 200;
  const maxRetained = options.maxRetained ?? 100_000;
  const topics = new Map<string, Partition[]>();
  const members = new Map<string, Member>();
  // Deliveries run in the async context of the transport's creation, never in the sender's:
  // a relay sends from inside its database transaction, whose context must not leak into
  // consumers (they would join the sender's transaction).
  const detached = AsyncLocalStorage.snapshot();

  const partitionsOf = (topic: string, count = defaultPartitions): Partition[] => {
    let partitions = topics.get(topic);
    if (!partitions) {
      partitions = Array.from({ length: count }, () => ({ base: 0, log: [] }));
      topics.set(topic, partitions);
    }
    return partitions;
  };

  const partitionFor = (key: string, count: number): number =>
    createHash('md5').update(key).digest().readUInt32BE(0) % count;

  const trim = (topic: string, index: number) => {
    const partition = topics.get(topic)![index]!;
    let lowest = Infinity;
    for (const member of members.values()) {
      if (member.options.topics.includes(topic)) {
        lowest = Math.min(lowest, member.committed.get(`${topic}/${index}`) ?? partition.base);
      }
    }
    if (lowest === Infinity || lowest <= partition.base) return;
    partition.log.splice(0, lowest - partition.base);
    partition.base = lowest;
  };

  /** Delivers a partition to a member until it has caught up; one loop per partition. */
  const pump = (member: Member, topic: string, index: number) => {
    const slot = `${topic}/${index}`;
    if (member.running.has(slot) || !member.active) return;
    const loop = async () => {
      const partition = topics.get(topic)![index]!;
      const windowMs = member.options.batchWindowMs ?? 0;
      let waited = false;
      while (member.active) {
        const from = member.committed.get(slot) ?? partition.base;
        const start = Math.max(from, partition.base);
        const pending = partition.log.slice(
          start - partition.base,
          start - partition.base + maxBatchSize,
        );
        if (pending.length === 0) break;
        if (windowMs > 0 && !waited && pending.length < maxBatchSize) {
          // Let the batch fill for its window (see SubscribeOptions.batchWindowMs).
          waited = true;
          await sleep(windowMs);
          continue;
        }
        waited = false;
        const batch: ConsumedMessage[] = pending.map((message, i) => ({
          ...message,
          partition: index,
          offset: String(start + i),
        }));
        try {
          const processed = await member.options.eachBatch(batch, {
            heartbeat: async () => {},
            isActive: () => member.active,
          });
          member.committed.set(slot, start + Math.min(processed, batch.length));
          const end = partition.base + partition.log.length;
          member.options.onLag?.(topic, index, end - (start + processed));
          trim(topic, index);
          if (processed < batch.length && !member.active) break;
        } catch (error) {
          logger.warn(
            { err: error, group: member.options.group, topic, partition: index },
            'batch failed; redelivering',
          );
          await sleep(redeliveryDelayMs);
        }
      }
    };
    const running = loop().finally(() => {
      member.running.delete(slot);
      // A message may have arrived after the last look: pump again if so.
      const partition = topics.get(topic)![index]!;
      const next = member.committed.get(slot) ?? partition.base;
      if (member.active && next < partition.base + partition.log.length) pump(member, topic, index);
    });
    member.running.set(slot, running);
  };

  const pumpTopic = (topic: string) => {
    const partitions = topics.get(topic);
    if (!partitions) return;
    for (const member of members.values()) {
      if (!member.options.topics.includes(topic)) continue;
      partitions.forEach((_, index) => pump(member, topic, index));
    }
  };

  return {
    kind: 'in-process',

    async ensureTopics(specs: readonly TopicSpec[]) {
      for (const { topic, partitions } of specs) partitionsOf(topic, partitions);
    },

    async send(messages: readonly TransportMessage[]) {
      const touched = new Set<string>();
      for (const message of messages) {
        const partitions = partitionsOf(message.topic);
        const partition = partitions[partitionFor(message.key, partitions.length)]!;
        partition.log.push(message);
        if (partition.log.length > maxRetained) {
          const dropped = partition.log.length - maxRetained;
          partition.log.splice(0, dropped);
          partition.base += dropped;
        }
        touched.add(message.topic);
      }
      // Delivery runs after the sender's await resumes: send never waits for handlers.
      setImmediate(() => detached(() => touched.forEach(pumpTopic)));
    },

    async subscribe(subscribe: SubscribeOptions): Promise<Subscription> {
      if (members.has(subscribe.group)) {
        throw new Error(`in-process transport: group ${subscribe.group} already has a member`);
      }
      const member: Member = {
        options: subscribe,
        committed: new Map(),
        running: new Map(),
        active: true,
      };
      members.set(subscribe.group, member);
      for (const topic of subscribe.topics) {
        const partitions = partitionsOf(topic);
        if (subscribe.fromBeginning === false) {
          partitions.forEach((partition, index) =>
            member.committed.set(`${topic}/${index}`, partition.base + partition.log.length),
          );
        }
      }
      setImmediate(() => detached(() => subscribe.topics.forEach(pumpTopic)));
      return {
        async stop() {
          if (!member.active) return;
          member.active = false;
          await Promise.all(member.running.values());
          members.delete(subscribe.group);
        },
      };
    },

    async ping() {},

    async stop() {
      const all = [...members.values()];
      for (const member of all) member.active = false;
      await Promise.all(all.flatMap((member) => [...member.running.values()]));
      members.clear();
    },
  };
}
