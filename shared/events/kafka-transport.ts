/**
 * Kafka adapter of the transport (kafkajs). Idempotent producer with acks=all (exactly one
 * copy per send and in order, where the broker supports it); consumers commit a
 * partition's offsets only after its batch was handled (at-least-once). Topic and group names
 * carry `topicPrefix` so environments and test runs sharing a cluster stay apart.
 *
 * Two kafkajs 2.2.4 faults around a partition leader's death are guarded here (found by
 * backbone.faults.integration.test.ts on a three-node cluster):
 * - `sendBatch` can resolve without writing some partitions: when the request to one leader
 *   fails and its retry finds the partition moved to a broker that already answered for its
 *   own partitions, kafkajs sends nothing more and reports success. So every send checks that
 *   each partition it assigned a message to acknowledged a write, and fails otherwise.
 * - after a failed produce whose records the old leader had replicated, the producer's
 *   sequence numbers no longer match the log and every later send to that partition fails
 *   with OUT_OF_ORDER_SEQUENCE_NUMBER, forever. The producer is then replaced (a new producer
 *   id, sequences from 0); what the caller resends may land twice, which consumers dedupe.
 */
import kafkajs from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, Producer } from 'kafkajs';
import { backoffDelay, retry, sleep } from '../async/index.ts';
import type { Logger } from '../observability/index.ts';
import './kafkajs-patch.ts';
import type {
  ConsumedMessage,
  EventTransport,
  SubscribeOptions,
  Subscription,
  TopicSpec,
  TransportMessage,
} from './transport.ts';

const { Kafka, logLevel, CompressionTypes, Partitioners } = kafkajs;

export interface KafkaTransportOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** Prepended to every topic and group name. @default '' */
  topicPrefix?: string;
  /** Partitions of topics created by `ensureTopics` without a count. @default 3 */
  defaultPartitions?: number;
  /** Idempotent producer (needs broker support). @default true */
  idempotent?: boolean;
  /** Consumer session timeout; a rebalance waits about this long. @default 30000 */
  sessionTimeoutMs?: number;
  /**
   * Longest a fetch waits for new data. Bounds delivery latency on brokers that answer an
   * idle fetch only at its deadline, and how long stop waits. @default 250
   */
  maxWaitTimeMs?: number;
  /**
   * Producer batch compression. Off by default, as in Kafka's own clients: small JSON events
   * gain little, and on a busy host the CPU is worth more than the bytes. @default 'none'
   */
  compression?: 'none' | 'gzip';
  /** Partitions a consumer handles at once (order holds within each). @default 3 */
  partitionsConsumedConcurrently?: number;
  /** How long start-up waits for the brokers. @default 10000 */
  connectTimeoutMs?: number;
}

/** What a windowed fetch waits for at most: about a thousand small events. */
const WINDOWED_FETCH_MIN_BYTES = 512 * 1024;

/** Broker answers meaning the producer's id/sequence state is unusable and must be renewed. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

function rejectsProducerState(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    if (typeof type === 'string' && PRODUCER_STATE_ERRORS.has(type)) return true;
    current = cause;
  }
  return false;
}

export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

export async function startKafkaTransport(options: KafkaTransportOptions): Promise<EventTransport> {
  const { logger } = options;
  const prefix = options.topicPrefix ?? '';
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
  const idempotent = options.idempotent ?? true;
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectTimeoutMs ?? 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        // kafkajs logs every error response of the broker ("[Connection] Response …") at
        // ERROR, the retriable ones too (a coordinator still loading, a leader moving),
        // then retries. What fails for good reaches our code and is logged there; one
        // response is a warning.
        const retried = level <= logLevel.ERROR && /^Response /.test(String(message));
        const method =
          level <= logLevel.ERROR && !retried ? 'error' : level <= logLevel.WARN ? 'warn' : 'debug';
        logger[method]({ component: 'kafkajs', ...extra }, message);
      },
  });
  /** The partition kafkajs chose for each message object of a send (see the header). */
  const partitionOf = new WeakMap<object, number>();
  const createProducer = (): Producer =>
    kafka.producer({
      idempotent,
      maxInFlightRequests: idempotent ? 1 : 5,
      allowAutoTopicCreation: true,
      // Murmur2 on the key, as the Java client: one aggregate, one partition, in every client.
      createPartitioner: () => {
        const partitioner = Partitioners.DefaultPartitioner();
        return (args) => {
          const partition = partitioner(args);
          partitionOf.set(args.message, partition);
          return partition;
        };
      },
    });
  let producer = createProducer();
  /** Set when the brokers rejected the producer's sequence state; renewed before the next send. */
  let renewing: Promise<void> | undefined;
  let staleProducer: Producer | undefined;
  const renewProducer = () =>
    (renewing ??= (async () => {
      const stale = staleProducer!;
      await stale.disconnect().catch(() => undefined);
      const fresh = createProducer();
      await fresh.connect();
      producer = fresh;
      staleProducer = undefined;
      logger.warn('Kafka producer renewed after the brokers rejected its sequence numbers');
    })().finally(() => (renewing = undefined)));
  const admin: Admin = kafka.admin();
  try {
    await producer.connect();
    await admin.connect();
  } catch (error) {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    throw new BrokerUnavailableError(
      `KAFKA_BROKERS: cannot connect to ${options.brokers.join(',')} (${(error as Error).message})`,
      { cause: error },
    );
  }
  const consumers = new Set<Consumer>();
  /** Groups whose consumer crashed and is being rebuilt. */
  const crashedGroups = new Set<string>();

  return {
    kind: 'kafka',

    async ensureTopics(topics: readonly TopicSpec[]) {
      if (topics.length === 0) return;
      try {
        // Only the missing ones: kafkajs logs an error for every topic that already exists.
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter(({ topic }) => !existing.has(prefix + topic));
        if (missing.length === 0) return;
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map(({ topic, partitions }) => ({
            topic: prefix + topic,
            numPartitions: partitions ?? options.defaultPartitions ?? 3,
          })),
        });
      } catch (error) {
        // Creating topics is an admin right some clusters withhold; producing may still work
        // (auto-creation, or topics made by the operator), so this is a warning, not fatal.
        logger.warn(
          { err: error, topics: topics.map((t) => prefix + t.topic) },
          'could not create topics; assuming the cluster provides them',
        );
      }
    },

    async send(messages: readonly TransportMessage[]) {
      if (messages.length === 0) return;
      const byTopic = new Map<string, TransportMessage[]>();
      for (const message of messages) {
        const list = byTopic.get(message.topic) ?? [];
        list.push(message);
        byTopic.set(message.topic, list);
      }
      if (staleProducer) await renewProducer();
      const topicMessages = [...byTopic].map(([topic, list]) => ({
        topic: prefix + topic,
        messages: list.map(({ key, value, headers }) => ({ key, value, headers: { ...headers } })),
      }));
      const sending = producer;
      let written: Awaited<ReturnType<Producer['sendBatch']>>;
      try {
        written = await sending.sendBatch({
          acks: -1,
          compression:
            options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
          topicMessages,
        });
      } catch (error) {
        if (rejectsProducerState(error) && producer === sending) staleProducer = sending;
        throw error;
      }
      const acknowledged = new Set(written.map((r) => `${r.topicName}:${r.partition}`));
      const unwritten = new Set(
        topicMessages.flatMap(({ topic, messages }) =>
          messages
            .map((message) => `${topic}:${partitionOf.get(message)}`)
            .filter((partition) => !acknowledged.has(partition)),
        ),
      );
      if (unwritten.size > 0) {
        throw new Error(
          `Kafka acknowledged no write to ${[...unwritten].join(', ')} (kafkajs lost the ` +
            'request in a leader change); the batch must be sent again',
        );
      }
    },

    async subscribe(subscribe: SubscribeOptions): Promise<Subscription> {
      let running = true;
      let consumer: Consumer;
      // kafkajs restarts a consumer after most failures itself; when it gives up (CRASH with
      // restart: false) this member is rebuilt, and until then `ping` reports it broken.
      const startMember = async (): Promise<void> => {
        consumer = kafka.consumer({
          groupId: prefix + subscribe.group,
          sessionTimeout: sessionTimeoutMs,
          heartbeatInterval: Math.min(3000, Math.floor(sessionTimeoutMs / 10)),
          // A batch window is the broker's own fetch linger: it answers once this many bytes
          // have arrived or the window has passed, whichever comes first.
          ...(subscribe.batchWindowMs
            ? { minBytes: WINDOWED_FETCH_MIN_BYTES, maxWaitTimeInMs: subscribe.batchWindowMs }
            : { maxWaitTimeInMs: options.maxWaitTimeMs ?? 250 }),
          allowAutoTopicCreation: true,
        });
        const member = consumer;
        consumers.add(member);
        member.on(member.events.CRASH, ({ payload }) => {
          logger.error(
            { err: payload.error, group: subscribe.group, restart: payload.restart },
            'Kafka consumer crashed',
          );
          if (payload.restart || !running) return;
          crashedGroups.add(subscribe.group);
          consumers.delete(member);
          void (async () => {
            await member.disconnect().catch(() => undefined);
            for (let attempt = 1; running; attempt++) {
              await sleep(backoffDelay(attempt, { baseMs: 1000, maxMs: 30_000 }));
              if (!running) return;
              try {
                await startMember();
                crashedGroups.delete(subscribe.group);
                logger.info({ group: subscribe.group, attempt }, 'Kafka consumer restarted');
                return;
              } catch (error) {
                logger.error(
                  { err: error, group: subscribe.group, attempt },
                  'Kafka consumer restart failed',
                );
              }
            }
          })();
        });
        await member.connect();
        // A topic created a moment ago (services starting together create theirs at once) is
        // unknown to the broker's metadata for a while: kafkajs then rejects, retriable.
        await retry(
          () =>
            member.subscribe({
              topics: subscribe.topics.map((topic) => prefix + topic),
              fromBeginning: subscribe.fromBeginning ?? true,
            }),
          {
            attempts: 10,
            baseMs: 200,
            maxMs: 1800,
            shouldRetry: (error) => (error as { retriable?: unknown }).retriable === true,
          },
        );
        await member.run({
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
          eachBatchAutoResolve: false,
          autoCommit: true,
          eachBatch,
        });
      };
      const eachBatch = async (payload: EachBatchPayload) => {
        const { batch } = payload;
        if (batch.messages.length === 0) return;
        const topic = batch.topic.slice(prefix.length);
        const messages: ConsumedMessage[] = batch.messages.map((message) => ({
          topic,
          partition: batch.partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? '',
          value: message.value?.toString('utf8') ?? '',
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([name, value]) => [
              name,
              Array.isArray(value) ? String(value[0]) : (value?.toString() ?? ''),
            ]),
          ),
        }));
        const processed = await subscribe.eachBatch(messages, {
          heartbeat: () => payload.heartbeat(),
          isActive: () => running && payload.isRunning() && !payload.isStale(),
        });
        if (processed === 0 || payload.isStale()) return;
        payload.resolveOffset(messages[Math.min(processed, messages.length) - 1]!.offset);
        await payload.commitOffsetsIfNecessary();
        await payload.heartbeat();
        subscribe.onLag?.(topic, batch.partition, Math.max(0, Number(batch.offsetLag())));
      };
      await startMember();
      return {
        async stop() {
          if (!running) return;
          running = false;
          crashedGroups.delete(subscribe.group);
          consumers.delete(consumer);
          await consumer.disconnect();
        },
      };
    },

    async ping() {
      if (crashedGroups.size > 0) {
        throw new Error(`consumer group(s) ${[...crashedGroups].join(', ')} crashed; restarting`);
      }
      await admin.describeCluster();
    },

    async stop() {
      await Promise.all([...consumers].map((consumer) => consumer.disconnect()));
      consumers.clear();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
