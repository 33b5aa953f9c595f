/**
 * Kafka adapter of the event bus (kafkajs). Key = subject, value = the JSON envelope,
 * CloudEvents attributes mirrored in `ce_*` headers. Consumers run one group per
 * `<service>.<purpose>` and commit only after the handler resolved (at-least-once).
 * Topic and group names carry `topicPrefix` so environments and test runs stay apart.
 */
import kafkajs from 'kafkajs';
import type { Consumer, Producer } from 'kafkajs';
import type { Logger } from '../observability/index.ts';
import type { EventBus, Subscription } from './bus.ts';
import { parseEnvelope } from './envelope.ts';

const { Kafka, logLevel, CompressionTypes } = kafkajs;

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every topic and group name. @default '' */
  topicPrefix?: string;
  logger: Logger;
  /** Consumer session timeout; a rebalance waits about this long. @default 30000 */
  sessionTimeoutMs?: number;
  /** How long start-up waits for the brokers. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Longest a consumer's fetch waits for new data. Bounds how long a retry after a failed
   * handler and a consumer's disconnect wait behind an idle long-poll. @default 1000
   */
  maxWaitTimeMs?: number;
}

export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

export async function startKafkaBus(options: KafkaBusOptions): Promise<EventBus> {
  const { logger } = options;
  const prefix = options.topicPrefix ?? '';
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectTimeoutMs ?? 10_000,
    retry: { retries: 3 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        const method =
          level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
        logger[method]({ component: 'kafkajs', ...extra }, message);
      },
  });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  try {
    await producer.connect();
  } catch (error) {
    await producer.disconnect().catch(() => undefined);
    throw new BrokerUnavailableError(
      `KAFKA_BROKERS: cannot connect to ${options.brokers.join(',')} (${(error as Error).message})`,
      { cause: error },
    );
  }
  const consumers = new Set<Consumer>();

  return {
    mode: 'kafka',
    async publish(topic, events) {
      if (events.length === 0) return;
      await producer.send({
        topic: prefix + topic,
        compression: CompressionTypes.GZIP,
        messages: events.map((event) => ({
          key: event.subject,
          value: JSON.stringify(event),
          headers: {
            ce_id: event.id,
            ce_type: event.type,
            ce_source: event.source,
            ...(event.traceparent ? { traceparent: event.traceparent } : {}),
          },
        })),
      });
    },
    async subscribe({ group, topics, handle }): Promise<Subscription> {
      const consumer = kafka.consumer({
        groupId: prefix + group,
        sessionTimeout: options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 10)),
        maxWaitTimeInMs: options.maxWaitTimeMs ?? 1000,
      });
      consumers.add(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: topics.map((t) => prefix + t), fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          if (!message.value) return;
          const event = parseEnvelope(message.value.toString('utf8'));
          await handle(event, {
            topic: topic.slice(prefix.length),
            partition,
            offset: message.offset,
          });
        },
      });
      return {
        async stop() {
          consumers.delete(consumer);
          await consumer.disconnect();
        },
      };
    },
    async ping() {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      await Promise.all([...consumers].map((consumer) => consumer.disconnect()));
      consumers.clear();
      await producer.disconnect();
    },
  };
}
