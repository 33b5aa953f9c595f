/**
 * `npm run topology`: the deployment's shape on this machine (topology.ts) until Ctrl-C.
 *
 *   npm run topology -- [--replicas 2] [--replicas orders=3 ...] [--gateways 2]
 *                       [--session-timeout-ms 6000] [--kafka-port 19492]
 *
 * `--replicas n` sets every subgraph's replica count, `--replicas <subgraph>=n` one
 * subgraph's (later flags win); one replica each and one gateway by default. It runs on the
 * local PostgreSQL (TEST_DATABASE_URL, a new database dropped at the end) and Redis
 * (TEST_REDIS_URL, a key prefix deleted at the end), and on the Kafka of KAFKA_BROKERS, or,
 * when that is unset, on a Kafka of its own (test/kafka) on `--kafka-port`. Platform settings
 * in the environment (ADMIN_EMAIL, LOG_LEVEL, …; docs/configuration.md) reach every process,
 * except those the topology sets itself.
 *
 * It prints the gateways' front URL and each process's, writes every process's log to a
 * file of its own, echoes warnings and errors, and reads commands on stdin: `kill <process>
 * [signal]`, `start <process>`, `status`. Ctrl-C stops everything and removes what it made.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SUBGRAPHS } from '../../platform/services.ts';
import type { SubgraphName } from '../../platform/services.ts';
import { SETTINGS } from '../../platform/settings.ts';
import { DEFAULT_TEST_SERVERS } from '../../shared/testing/test-env.ts';
import { startKafka } from '../kafka/index.ts';
import type { KafkaCluster } from '../kafka/index.ts';
import { startTopology } from './topology.ts';
import type { LogLine, Topology } from './topology.ts';

const USAGE =
  'Usage: npm run topology -- [--replicas <n | subgraph=n> ...] [--gateways 1] ' +
  '[--session-timeout-ms 6000] [--kafka-port 19492]';
const SUBGRAPH_NAMES = SUBGRAPHS.map((s) => s.name as SubgraphName);
/** What the topology sets in every process itself; the same names in the environment are ignored. */
const SET_BY_TOPOLOGY = new Set([
  'SERVICE',
  'PORT',
  'HOST',
  'NODE_ENV',
  'LOG_FORMAT',
  'GATEWAY_TOKEN_SECRET',
  'GATEWAY_OPERATOR_PORT',
  'DATABASE_URL',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'KAFKA_BROKERS',
  'KAFKA_TOPIC_PREFIX',
  'KAFKA_SESSION_TIMEOUT_MS',
  ...SUBGRAPH_NAMES.map((name) => `${name.toUpperCase()}_URL`),
]);

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function count(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    fail(`--${flag}: expected a whole number ≥ ${min}, got "${value}"`);
  return n;
}

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', multiple: true, default: [] },
    gateways: { type: 'string', default: '1' },
    'session-timeout-ms': { type: 'string', default: '6000' },
    'kafka-port': { type: 'string', default: '19492' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const replicas: Partial<Record<SubgraphName, number>> = {};
for (const spec of values.replicas) {
  const [name, n] = spec.includes('=') ? spec.split('=') : [undefined, spec];
  if (name === undefined) {
    for (const subgraph of SUBGRAPH_NAMES) replicas[subgraph] = count('replicas', n, 1);
  } else if (SUBGRAPH_NAMES.includes(name as SubgraphName)) {
    replicas[name as SubgraphName] = count('replicas', n, 1);
  } else {
    fail(`--replicas: no subgraph "${name}" (${SUBGRAPH_NAMES.join(', ')})`);
  }
}
const gateways = count('gateways', values.gateways, 1);
const sessionTimeoutMs = count('session-timeout-ms', values['session-timeout-ms'], 1000);
const kafkaPort = count('kafka-port', values['kafka-port'], 1);

const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'eventgraph-topology-'));
const say = (message: string) => process.stderr.write(`[topology] ${message}\n`);

let kafka: KafkaCluster | undefined;
let topology: Topology | undefined;
let stopping = false;

async function stop(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say(
    `stopping every process, dropping the database, deleting the Redis keys and ${kafka ? 'stopping Kafka' : 'the topics'}…`,
  );
  await topology?.stop().catch((error: unknown) => {
    const causes = error instanceof AggregateError ? error.errors : [error];
    for (const cause of causes) say(`clean-up: ${(cause as Error).message}`);
  });
  await kafka?.stop().catch((error: unknown) => say(`Kafka: ${(error as Error).message}`));
  say(`stopped; the logs stay in ${logDir}`);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

/** Each process's lines to its file; warnings and errors to the terminal too. */
function onLine(line: LogLine): void {
  appendFileSync(path.join(logDir, `${line.process}.log`), `${line.text}\n`);
  const level = line.entry?.['level'];
  if (!line.entry || level === 'warn' || level === 'error' || level === 'fatal') {
    process.stderr.write(`[${line.process}] ${line.text}\n`);
  }
}

async function database(): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_SERVERS.postgresUrl;
  const name = `eventgraph_topology_${id}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`drop database if exists "${name}" with (force)`),
  };
}

function status(current: Topology): void {
  for (const p of current.processes) {
    const last = p.exits().at(-1);
    const state = p.running ? `running, pid ${p.pid}` : `exited (${last?.signal ?? last?.code})`;
    const front = current.front(p.service).stats().get(p.name);
    const traffic = front
      ? `through the front: requests ${front.requests}, WebSockets ${front.webSockets}`
      : 'out of rotation';
    console.log(`  ${p.name.padEnd(12)} ${p.url.padEnd(24)} ${state}; ${traffic}`);
  }
}

/** `kill <process> [signal]`, `start <process>`, `status`. */
async function command(current: Topology, text: string): Promise<void> {
  const [verb, name, signal] = text.trim().split(/\s+/);
  if (!verb) return;
  try {
    if (verb === 'status') return status(current);
    if ((verb === 'kill' || verb === 'start') && name) {
      const target = current.process(name);
      if (verb === 'kill') {
        await target.kill((signal ?? 'SIGKILL') as NodeJS.Signals);
        say(`${name} exited`);
      } else {
        say(`starting ${name}…`);
        await target.start();
        say(`${name} is ready`);
      }
      return;
    }
    say('commands: kill <process> [signal], start <process>, status');
  } catch (error) {
    say((error as Error).message);
  }
}

try {
  let brokers = process.env['KAFKA_BROKERS']?.split(',');
  if (!brokers) {
    say(`KAFKA_BROKERS is unset: starting Kafka on 127.0.0.1:${kafkaPort}…`);
    kafka = await startKafka({ basePort: kafkaPort });
    brokers = kafka.brokers;
  }
  const passed = Object.fromEntries(
    Object.keys(SETTINGS)
      .filter((name) => !SET_BY_TOPOLOGY.has(name) && process.env[name] !== undefined)
      .map((name) => [name, process.env[name]!]),
  );
  const processes = SUBGRAPH_NAMES.reduce((sum, name) => sum + (replicas[name] ?? 1), 0) + gateways;
  say(`starting ${processes} processes; logs in ${logDir}`);
  const started = Date.now();
  topology = await startTopology({
    replicas,
    gateways,
    database: await database(),
    redis: {
      url: process.env['TEST_REDIS_URL'] ?? DEFAULT_TEST_SERVERS.redisUrl,
      prefix: `eventgraph:topology:${id}:`,
    },
    kafka: { brokers, topicPrefix: `topology-${id}.` },
    keepTopics: kafka !== undefined,
    kafkaSessionTimeoutMs: sessionTimeoutMs,
    env: passed,
    onLine,
  });
  say(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  status(topology);
  console.log(`\nGraphQL (HTTP and WebSocket): ${topology.url}/graphql`);
  say('commands on stdin: kill <process> [signal], start <process>, status; Ctrl-C stops');
  const current = topology;
  const input = createInterface({ input: process.stdin });
  let queue = Promise.resolve();
  input.on('line', (text) => {
    queue = queue.then(() => command(current, text));
  });
} catch (error) {
  say((error as Error).message);
  await stop(1);
}
