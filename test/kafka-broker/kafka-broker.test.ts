// Smoke tests for the Kafka test broker (./index.ts), driven by kafkajs over TCP against a broker
// this file starts itself on ports 19192-19194 (clear of the shared default 19092-19094).
// Proves: produce (headers, gzip) → consumer group → commit → a new member resumes exactly after
// the committed offsets; admin.createTopics gives exact partition counts and reports existing
// topics; idempotent producers work (needs the proxy's controller-id rewrite).

import { setTimeout as sleep } from 'node:timers/promises';
import { CompressionTypes, Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Consumer, IHeaders, KafkaMessage } from 'kafkajs';
import { startTestBroker } from './index.ts';
import type { TestBroker } from './index.ts';

const BASE_PORT = 19192;
const GROUP_TIMEOUTS = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000 };

let broker: TestBroker;
let kafka: Kafka;
const run = `${process.pid}-${Date.now()}`;

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/** Bounds a promise so a hung client call fails the test instead of the whole run. */
async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(timeoutMs, undefined, { signal: controller.signal }).then(() => {
        throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
      }),
    ]);
  } finally {
    controller.abort();
  }
}

interface Received {
  seq: number;
  partition: number;
  offset: string;
  headers: Record<string, string>;
}

function decode(partition: number, message: KafkaMessage): Received {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
  const { seq } = JSON.parse(message.value!.toString()) as { seq: number };
  return { seq, partition, offset: message.offset, headers };
}

function messages(from: number, to: number) {
  return Array.from({ length: to - from }, (_, i) => {
    const seq = from + i;
    const headers: IHeaders = { 'x-seq': String(seq), 'x-source': 'kafka-broker-test' };
    return { key: `key-${seq % 7}`, value: JSON.stringify({ seq }), headers };
  });
}

async function startConsumer(groupId: string, topic: string, into: Received[]): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId, ...GROUP_TIMEOUTS, maxWaitTimeInMs: 500 });
  await within('consumer.connect', consumer.connect(), 10_000);
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      into.push(decode(partition, message));
    },
  });
  return consumer;
}

beforeAll(async () => {
  broker = await startTestBroker({ basePort: BASE_PORT });
  kafka = new Kafka({
    clientId: 'kafka-broker-test',
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

test('advertises the proxy ports only', () => {
  expect(broker.brokers).toEqual(['127.0.0.1:19192', '127.0.0.1:19193', '127.0.0.1:19194']);
});

test('produce → consumer group → commit → a new member resumes after the commit', async () => {
  const topic = `smoke-${run}`;
  const groupId = `smoke-group-${run}`;
  await expect(broker.createTopic(topic, 3)).resolves.toBe(true);

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await within('producer.connect', producer.connect(), 10_000);
  const first: Received[] = [];
  const second: Received[] = [];
  let consumer: Consumer | undefined;
  try {
    // 20 plain messages, then one gzip batch of 10.
    await producer.send({ topic, messages: messages(0, 20) });
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages: messages(20, 30) });

    // Member 1 reads everything but commits only seq < 20: per partition, one past the last
    // offset of a seq < 20 message (each partition holds seq < 20 before seq >= 20).
    consumer = await startConsumer(groupId, topic, first);
    await waitFor('member 1 reads 30 messages', () => first.length >= 30, 20_000);
    const commit = new Map<number, bigint>();
    for (const m of first.filter((r) => r.seq < 20)) {
      const next = BigInt(m.offset) + 1n;
      if ((commit.get(m.partition) ?? -1n) < next) commit.set(m.partition, next);
    }
    const offsets = [...commit].map(([partition, offset]) => ({
      topic,
      partition,
      offset: offset.toString(),
    }));
    await within('commitOffsets', consumer.commitOffsets(offsets), 10_000);
    await within('member 1 disconnect', consumer.disconnect(), 15_000);
    consumer = undefined;

    expect(first.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(0, 30));
    for (const r of first) {
      expect(r.headers).toEqual({ 'x-seq': String(r.seq), 'x-source': 'kafka-broker-test' });
    }

    // The commit is stored by the group coordinator.
    const admin = kafka.admin();
    await within('admin.connect', admin.connect(), 10_000);
    try {
      const [stored] = await admin.fetchOffsets({ groupId, topics: [topic] });
      for (const p of stored!.partitions) {
        expect(p.offset).toBe(commit.get(p.partition)?.toString() ?? '-1');
      }
    } finally {
      await admin.disconnect();
    }

    await producer.send({ topic, messages: messages(30, 40) });

    // Member 2 of the same group: seq 20..39 exactly once — nothing committed is re-read,
    // nothing uncommitted or new is lost.
    consumer = await startConsumer(groupId, topic, second);
    await waitFor('member 2 reads 20 messages', () => second.length >= 20, 25_000);
    await sleep(1500); // would surface duplicates or re-reads
    expect(second.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(20, 40));
    for (const r of second) {
      expect(r.headers['x-seq']).toBe(String(r.seq));
    }
  } finally {
    await consumer?.disconnect();
    await producer.disconnect();
  }
}, 55_000);

test('admin.createTopics gives exact partition counts and reports existing topics', async () => {
  const admin = kafka.admin();
  await within('admin.connect', admin.connect(), 10_000);
  try {
    const topic = `created-${run}`;
    await expect(admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })).resolves.toBe(true);
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);

    // Existing topic: kafkajs maps TOPIC_ALREADY_EXISTS to false; so does createTopic().
    await expect(admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })).resolves.toBe(
      false,
    );
    await expect(broker.createTopic(topic, 5)).resolves.toBe(false);

    // validateOnly creates nothing. (waitForLeaders: false — kafkajs would otherwise fetch the
    // topic's metadata afterwards, which auto-creates it, as it would on a real broker.)
    const dryRun = `dry-run-${run}`;
    await expect(
      admin.createTopics({
        validateOnly: true,
        waitForLeaders: false,
        topics: [{ topic: dryRun, numPartitions: 2 }],
      }),
    ).resolves.toBe(true);
    expect(await admin.listTopics()).not.toContain(dryRun);

    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => `${b.host}:${b.port}`).sort()).toEqual(broker.brokers);
    expect(cluster.brokers.map((b) => b.nodeId)).toContain(cluster.controller);
  } finally {
    await admin.disconnect();
  }
}, 30_000);

test('an idempotent producer can send', async () => {
  const topic = `idempotent-${run}`;
  await broker.createTopic(topic, 1);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await within('idempotent producer.connect', producer.connect(), 10_000);
  try {
    const sent = await within(
      'idempotent send',
      producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }] }),
      10_000,
    );
    expect(sent).toEqual([
      expect.objectContaining({ topicName: topic, partition: 0, errorCode: 0 }),
    ]);
    const again = await producer.send({ topic, messages: [{ value: 'c' }] });
    expect(again[0]!.baseOffset).toBe('2');
  } finally {
    await producer.disconnect();
  }
}, 30_000);

test('acks=0 produce gets no response (the mock would send one)', async () => {
  const topic = `acks0-${run}`;
  await broker.createTopic(topic, 1);
  const warnings: string[] = [];
  const client = new Kafka({
    clientId: 'kafka-broker-test-acks0',
    brokers: broker.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      warnings.push(entry.log.message);
    },
  });
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await within('producer.connect', producer.connect(), 10_000);
  try {
    for (let i = 0; i < 3; i++) {
      await producer.send({ topic, acks: 0, messages: [{ value: `fire-${i}` }] });
      await sleep(100); // let a stray response arrive while nothing is in flight
    }
    const [acked] = await producer.send({ topic, acks: -1, messages: [{ value: 'acked' }] });
    expect(acked!.baseOffset).toBe('3');
  } finally {
    await producer.disconnect();
  }
  expect(warnings.filter((w) => w.includes('Response without match'))).toEqual([]);
}, 30_000);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
