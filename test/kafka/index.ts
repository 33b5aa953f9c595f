/**
 * Apache Kafka for tests and benchmarks: real brokers (the `kafka_2.13` release that
 * docker-compose.yml runs), in KRaft mode, on fixed local ports, started from the jars Maven
 * fetched from Maven Central (`pom.xml` beside this file). Needs Java 17+ and Maven; where
 * those are missing, point `KAFKA_BROKERS` at any Kafka instead.
 *
 * - One node (the default) is a combined broker and controller with replication factor 1
 *   for the internal topics; three nodes form a cluster of combined nodes with replication
 *   factor 3 and `min.insync.replicas=2`, for fault tests.
 * - Each node's storage is formatted in a fresh directory under the OS temp dir; `stop()`
 *   ends every JVM and deletes it. A cluster left behind by a killed run (same base port) is
 *   ended and removed by the next start, and the JVMs are killed if this process exits
 *   without stopping them.
 * - Settings are tuned for tests: no initial rebalance delay, short broker sessions (a dead
 *   node is fenced after 3 s), small internal topics, group session timeouts from 1 s.
 * - Every node can be killed (any signal), restarted from its log directory, or paused and
 *   resumed (SIGSTOP/SIGCONT), for fault tests.
 *
 * The classpath Maven resolves is cached under `~/.cache/eventgraph/` (keyed by the pom), so a
 * warm start does not run Maven at all; Maven's own repository (`~/.m2`) keeps the jars.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';

/** Options for {@link startKafka}. */
export interface KafkaClusterOptions {
  /** Nodes in the cluster, each a broker and a controller. Default 1. */
  readonly nodes?: number;
  /**
   * Client port of the first node; node i (0-based) listens for clients on `basePort + i`
   * and for its controller quorum on `basePort + 10 + i`. Default 19092.
   */
  readonly basePort?: number;
  /** Interface every listener binds and advertises. Default 127.0.0.1. */
  readonly host?: string;
  /** Partitions of auto-created topics. Default 3, as docker-compose.yml. */
  readonly defaultPartitions?: number;
  /** Heap of each node's JVM, in MiB. Default 768 (three nodes fit a 2-core, 24 GiB box). */
  readonly heapMb?: number;
  /** Longest wait for the cluster to serve. Default 90 s (a first run downloads the jars). */
  readonly startTimeoutMs?: number;
  /** Extra `server.properties` entries for every node, overriding the defaults. */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
}

/** One node of a {@link KafkaCluster}. */
export interface KafkaNode {
  /** The node id (1-based), as Kafka reports it in metadata. */
  readonly id: number;
  /** `host:port` of its client listener. */
  readonly address: string;
  /** Its JVM's process id while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL) and resolves once the JVM has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again from its log directory; resolves once it serves clients. */
  start(): Promise<void>;
  /** Freezes the JVM (SIGSTOP): connections stay open and nothing answers. */
  pause(): void;
  /** Thaws a paused JVM (SIGCONT). */
  resume(): void;
}

/** A running cluster; see {@link startKafka}. */
export interface KafkaCluster {
  /** Client addresses, one per node. */
  readonly brokers: string[];
  /** `brokers` joined with ',' (a bootstrap.servers string). */
  readonly bootstrap: string;
  readonly nodes: readonly KafkaNode[];
  /**
   * Creates a topic with exactly `partitions` partitions (replication factor: the cluster's
   * default unless given). Resolves false when it already existed.
   */
  createTopic(name: string, partitions: number, replicationFactor?: number): Promise<boolean>;
  /** Ends every node and deletes the cluster's directory. Idempotent. */
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const POM = join(here, 'pom.xml');
const LOG4J_CONFIG = join(here, 'log4j2.properties');
const CONTROLLER_PORT_OFFSET = 10;
const MAX_NODES = 9;
const STOP_GRACE_MS = 10_000;

function javaCommand(): string {
  const home = process.env['JAVA_HOME'];
  return home ? join(home, 'bin', 'java') : 'java';
}

function run(file: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new Error(
          missing
            ? `${what}: '${file}' was not found. The Kafka test broker needs Java 17+ and ` +
                'Maven (Debian: apt-get install openjdk-17-jre-headless maven); or set ' +
                'KAFKA_BROKERS to a running Kafka.'
            : `${what} failed: ${`${stderr}\n${stdout}`.trim().slice(-4000)}`,
          { cause: error },
        ),
      );
    });
  });
}

/**
 * The broker's runtime classpath. Maven resolves it once per pom (downloading into ~/.m2 on
 * first use); later calls read the cached list as long as every jar on it is still there.
 */
export async function kafkaClasspath(): Promise<string> {
  const pom = await readFile(POM);
  const key = createHash('sha256').update(pom).digest('hex').slice(0, 16);
  const cacheDir = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'eventgraph');
  const cached = join(cacheDir, `kafka-classpath-${key}.txt`);
  if (existsSync(cached)) {
    const classpath = (await readFile(cached, 'utf8')).trim();
    if (classpath && classpath.split(':').every((jar) => existsSync(jar))) return classpath;
  }
  await mkdir(cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`;
  await run(
    process.env['MAVEN_CMD'] ?? 'mvn',
    [
      '--batch-mode',
      '--quiet',
      '-Dstyle.color=never',
      '--file',
      POM,
      'dependency:build-classpath',
      `-Dmdep.outputFile=${partial}`,
    ],
    'Fetching Kafka with Maven',
  );
  await rename(partial, cached);
  return (await readFile(cached, 'utf8')).trim();
}

function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function processIsKafka(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends the JVMs of a cluster that a dead process left in `dir`, and removes the directory.
 * Refuses when the process that started that cluster still runs (another test run).
 */
async function removeLeftovers(dir: string, basePort: number): Promise<void> {
  if (!existsSync(dir)) return;
  const ownerFile = join(dir, 'owner');
  const owner = existsSync(ownerFile) ? Number(await readFile(ownerFile, 'utf8')) : undefined;
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
    throw new Error(
      `Cannot start Kafka on port ${basePort}: process ${owner} runs a test Kafka there ` +
        '(another test run?). Wait for it, or set KAFKA_BROKERS to a running Kafka.',
    );
  }
  for (const entry of await readdir(dir)) {
    const pidFile = join(dir, entry, 'pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(await readFile(pidFile, 'utf8'));
    if (!processIsKafka(pid)) continue;
    process.kill(pid, 'SIGKILL');
    while (processIsKafka(pid)) await sleep(50);
  }
  await rm(dir, { recursive: true, force: true });
}

function serverProperties(
  options: Required<Omit<KafkaClusterOptions, 'startTimeoutMs' | 'heapMb'>>,
  index: number,
  logDir: string,
): string {
  const { nodes, basePort, host } = options;
  const replicas = Math.min(3, nodes);
  const minIsr = replicas >= 3 ? 2 : 1;
  const voters = Array.from(
    { length: nodes },
    (_, i) => `${i + 1}@${host}:${basePort + CONTROLLER_PORT_OFFSET + i}`,
  ).join(',');
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': index + 1,
    'controller.quorum.voters': voters,
    listeners: `PLAINTEXT://${host}:${basePort + index},CONTROLLER://${host}:${basePort + CONTROLLER_PORT_OFFSET + index}`,
    'advertised.listeners': `PLAINTEXT://${host}:${basePort + index}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': logDir,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    'num.partitions': options.defaultPartitions,
    'default.replication.factor': replicas,
    'min.insync.replicas': minIsr,
    'unclean.leader.election.enable': false,
    'offsets.topic.replication.factor': replicas,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 10,
    'share.coordinator.state.topic.replication.factor': replicas,
    'share.coordinator.state.topic.min.isr': minIsr,
    // Tests: groups form at once, sessions may be short, a dead node is fenced within 3 s.
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': 1000,
    'broker.heartbeat.interval.ms': 500,
    'broker.session.timeout.ms': 3000,
    // Two cores: fewer threads than the server defaults.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'background.threads': 4,
    'num.replica.fetchers': 1,
    'log.cleaner.threads': 1,
    ...options.settings,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n')}\n`;
}

/** Polls `check` until it returns true; rejects with `what` after `timeoutMs`. */
async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(what());
    await sleep(100);
  }
}

function admin(brokers: string[]): kafkajs.Admin {
  return new kafkajs.Kafka({
    clientId: 'eventgraph-test-kafka',
    brokers,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
}

/** Node ids the cluster reports as serving (registered and not fenced), asked of `brokers`. */
async function servingIds(brokers: string[]): Promise<number[]> {
  const client = admin(brokers);
  await client.connect();
  try {
    return (await client.describeCluster()).brokers.map((b) => b.nodeId);
  } finally {
    await client.disconnect();
  }
}

function logTail(dir: string): string {
  for (const file of ['server.log', 'stdout.log']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8').trim();
    if (text) return `${path}:\n${text.split('\n').slice(-25).join('\n')}`;
  }
  return `(no log in ${dir})`;
}

/** How {@link Node} runs: its directory, its JVM's arguments and its cluster's addresses. */
interface NodeSetup {
  readonly index: number;
  readonly address: string;
  readonly dir: string;
  readonly javaArgs: readonly string[];
  readonly cluster: readonly string[];
  readonly startTimeoutMs: number;
}

class Node implements KafkaNode {
  readonly id: number;
  readonly address: string;
  readonly #setup: NodeSetup;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(setup: NodeSetup) {
    this.#setup = setup;
    this.id = setup.index + 1;
    this.address = setup.address;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  spawn(): void {
    if (this.#child) throw new Error(`Kafka node ${this.id} is already running`);
    const out = openSync(join(this.#setup.dir, 'stdout.log'), 'a');
    const child = spawn(javaCommand(), this.#setup.javaArgs, { stdio: ['ignore', out, out] });
    closeSync(out);
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      const gone = () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      };
      child.once('exit', gone);
      child.once('error', gone);
    });
    // Lets the next start end this JVM if the process that started it dies without stopping it.
    if (child.pid) writeFileSync(join(this.#setup.dir, 'pid'), String(child.pid));
  }

  /** Resolves once this node serves: it answers metadata requests and lists itself. */
  async waitServing(): Promise<void> {
    let exited = false;
    void this.#exited.then(() => (exited = true));
    await until(
      async () => {
        if (exited) throw new Error('exited');
        return (await servingIds([this.address])).includes(this.id);
      },
      this.#setup.startTimeoutMs,
      () =>
        `Kafka node ${this.id} (${this.address}) did not serve within ${this.#setup.startTimeoutMs} ms`,
    ).catch((error: Error) => {
      throw new Error(
        `${exited ? `Kafka node ${this.id} exited while starting` : error.message}. ${logTail(this.#setup.dir)}`,
        { cause: error },
      );
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    if (signal !== 'SIGCONT') child.kill('SIGCONT');
    child.kill(signal);
    await this.#exited;
  }

  /** SIGTERM (a controlled shutdown), then SIGKILL when it takes longer than `graceMs`. */
  async terminate(graceMs: number): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort for process exit. */
  killNow(): void {
    this.#child?.kill('SIGKILL');
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitServing();
    // The rest of the cluster must see it too before clients are pointed at it.
    await until(
      async () => (await servingIds([...this.#setup.cluster])).includes(this.id),
      this.#setup.startTimeoutMs,
      () => `the cluster did not list restarted Kafka node ${this.id}`,
    );
  }

  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }
}

/**
 * Starts a Kafka cluster on fixed ports and resolves once every node serves and the group
 * coordinator answers. Rejects with the reason (a port taken, Java or Maven missing, a node's
 * log tail) when it cannot.
 */
export async function startKafka(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const resolved = {
    nodes: options.nodes ?? 1,
    basePort: options.basePort ?? 19092,
    host: options.host ?? '127.0.0.1',
    defaultPartitions: options.defaultPartitions ?? 3,
    settings: options.settings ?? {},
  };
  const heapMb = options.heapMb ?? 768;
  const startTimeoutMs = options.startTimeoutMs ?? 90_000;
  const { nodes: count, basePort, host } = resolved;
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new Error(`Kafka nodes must be 1..${MAX_NODES}, got ${count}`);
  }

  const clusterDir = join(tmpdir(), `eventgraph-kafka-${basePort}`);
  await removeLeftovers(clusterDir, basePort);
  for (let i = 0; i < count; i++) {
    for (const port of [basePort + i, basePort + CONTROLLER_PORT_OFFSET + i]) {
      if (!(await portIsFree(host, port))) {
        throw new Error(
          `Cannot start Kafka: ${host}:${port} is taken. Stop what listens there, choose ` +
            'another base port, or set KAFKA_BROKERS to a running Kafka.',
        );
      }
    }
  }

  await mkdir(clusterDir, { recursive: true });
  await writeFile(join(clusterDir, 'owner'), String(process.pid));
  const classpath = await kafkaClasspath();
  const clusterId = randomBytes(16).toString('base64url');
  const brokers = Array.from({ length: count }, (_, i) => `${host}:${basePort + i}`);
  const nodes = await Promise.all(
    brokers.map(async (address, i) => {
      const dir = join(clusterDir, `node-${i + 1}`);
      const logDir = join(dir, 'data');
      await mkdir(logDir, { recursive: true });
      const properties = join(dir, 'server.properties');
      await writeFile(properties, serverProperties(resolved, i, logDir));
      const jvm = [
        `-Xms${Math.min(256, heapMb)}m`,
        `-Xmx${heapMb}m`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        `-Dkafka.logs.dir=${dir}`,
        `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
        '-cp',
        classpath,
      ];
      await run(
        javaCommand(),
        // `--cluster-id=`: one id in 64 starts with '-', which the tool would take for a flag.
        [
          ...jvm,
          'kafka.tools.StorageTool',
          'format',
          `--cluster-id=${clusterId}`,
          '-c',
          properties,
        ],
        `Formatting Kafka node ${i + 1}'s storage`,
      );
      const javaArgs = [...jvm, 'kafka.Kafka', properties];
      return new Node({ index: i, address, dir, javaArgs, cluster: brokers, startTimeoutMs });
    }),
  );

  const onExit = () => {
    for (const node of nodes) node.killNow();
    rmSync(clusterDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.off('exit', onExit);
      await Promise.all(nodes.map((node) => node.terminate(STOP_GRACE_MS)));
      await rm(clusterDir, { recursive: true, force: true });
    })());

  try {
    for (const node of nodes) node.spawn();
    await Promise.all(nodes.map((node) => node.waitServing()));
    await until(
      async () => (await servingIds(brokers)).length === count,
      startTimeoutMs,
      () => `not every Kafka node joined the cluster within ${startTimeoutMs} ms`,
    );
    // The group coordinator answers once __consumer_offsets exists, and idempotent producers
    // get an id once the producer-id machinery has loaded: both now, so that the first test
    // neither waits for them nor meets their "coordinator is loading" answers.
    const warm = new kafkajs.Kafka({
      clientId: 'eventgraph-test-kafka',
      brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const warmAdmin = warm.admin();
    await warmAdmin.connect();
    try {
      await warmAdmin.describeGroups(['eventgraph-test-kafka-warmup']);
    } finally {
      await warmAdmin.disconnect();
    }
    const warmProducer = warm.producer({ idempotent: true });
    await warmProducer.connect();
    await warmProducer.disconnect();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    brokers,
    bootstrap: brokers.join(','),
    nodes,
    async createTopic(name, partitions, replicationFactor) {
      const client = new kafkajs.Kafka({
        clientId: 'eventgraph-test-kafka',
        brokers,
        logLevel: kafkajs.logLevel.NOTHING,
      }).admin();
      await client.connect();
      try {
        return await client.createTopics({
          topics: [
            {
              topic: name,
              numPartitions: partitions,
              ...(replicationFactor === undefined ? {} : { replicationFactor }),
            },
          ],
          waitForLeaders: true,
        });
      } finally {
        await client.disconnect();
      }
    },
    stop,
  };
}
