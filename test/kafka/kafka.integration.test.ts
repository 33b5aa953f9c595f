/**
 * The test Kafka launcher itself (test/kafka/index.ts), on a one-node cluster of its own at
 * 19192: topics get exactly the partitions asked for, data survives a kill -9 and a restart
 * from the log directory, a paused node serves again once resumed, a second start on the
 * same port is refused while the first runs, and stop() leaves no process and no file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { startKafka } from './index.ts';
import type { KafkaCluster } from './index.ts';

const BASE_PORT = 19192;
const clusterDir = join(tmpdir(), `eventgraph-kafka-${BASE_PORT}`);

let cluster: KafkaCluster;

function client(): kafkajs.Kafka {
  return new kafkajs.Kafka({
    clientId: 'kafka-launcher-test',
    brokers: cluster.brokers,
    logLevel: kafkajs.logLevel.NOTHING,
  });
}

/** Every value on `topic`, read from the start by a throw-away group. */
async function readAll(topic: string, expected: number): Promise<string[]> {
  const consumer = client().consumer({ groupId: `read-${topic}-${Date.now()}` });
  await consumer.connect();
  const values: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value?.toString() ?? '');
          if (values.length >= expected) resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

function isRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return false;
  }
}

beforeAll(async () => {
  cluster = await startKafka({ basePort: BASE_PORT });
});

afterAll(async () => {
  await cluster.stop();
});

it('creates a topic with exactly the partitions asked for, and says false when it exists', async () => {
  expect(await cluster.createTopic('exact', 7)).toBe(true);
  expect(await cluster.createTopic('exact', 2)).toBe(false);
  const admin = client().admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: ['exact'] });
    expect(topics[0]?.partitions).toHaveLength(7);
  } finally {
    await admin.disconnect();
  }
});

it('keeps every acknowledged record across a kill -9 and a restart from its log directory', async () => {
  await cluster.createTopic('durable', 3);
  const producer = client().producer({ idempotent: true });
  await producer.connect();
  const sent = Array.from({ length: 300 }, (_, i) => `record-${i}`);
  await producer.send({
    topic: 'durable',
    acks: -1,
    messages: sent.map((value) => ({ key: value, value })),
  });
  await producer.disconnect();

  const node = cluster.nodes[0]!;
  const pid = node.pid!;
  await node.kill('SIGKILL');
  expect(node.running).toBe(false);
  expect(isRunning(pid)).toBe(false);
  await node.start();

  expect((await readAll('durable', sent.length)).sort()).toEqual([...sent].sort());
});

it('a paused node answers nothing, and serves again once resumed', async () => {
  const node = cluster.nodes[0]!;
  node.pause();
  const admin = new kafkajs.Kafka({
    clientId: 'kafka-launcher-test',
    brokers: cluster.brokers,
    connectionTimeout: 500,
    requestTimeout: 1000,
    retry: { retries: 0 },
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  try {
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow();
  } finally {
    node.resume();
    await admin.disconnect();
  }
  const producer = client().producer();
  await producer.connect();
  await producer.send({ topic: 'after-pause', messages: [{ value: 'hello' }] });
  await producer.disconnect();
  expect(await readAll('after-pause', 1)).toEqual(['hello']);
});

it('refuses a second cluster on a port that a live run owns, naming that process', async () => {
  // This process owns the running cluster; the owner check looks at other processes, so
  // pretend the directory belongs to our parent (alive, not us).
  const ownerFile = join(clusterDir, 'owner');
  writeFileSync(ownerFile, String(process.ppid));
  try {
    await expect(startKafka({ basePort: BASE_PORT })).rejects.toThrow(
      `process ${process.ppid} runs a test Kafka there`,
    );
  } finally {
    writeFileSync(ownerFile, String(process.pid));
  }
  expect(cluster.nodes[0]!.running).toBe(true);
});

it('stop() ends every JVM and deletes the data directory', async () => {
  const pid = cluster.nodes[0]!.pid!;
  expect(existsSync(clusterDir)).toBe(true);
  await cluster.stop();
  expect(isRunning(pid)).toBe(false);
  expect(existsSync(clusterDir)).toBe(false);
  await cluster.stop(); // idempotent
});
