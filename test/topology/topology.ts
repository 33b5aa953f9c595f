/**
 * The deployment's shape on one machine: each service in processes of its own (`node
 * platform/start.ts`, `SERVICE=<name>`), N replicas per subgraph and M gateways, on a real
 * PostgreSQL (a database of the topology's own), Redis (a key prefix of its own) and Kafka (a
 * topic and group prefix of its own).
 *
 * The gateway knows one URL per subgraph (`AUTH_URL`, …), so, as a Kubernetes Service does,
 * a round-robin front (front.ts) stands before each subgraph's replicas and the gateway is
 * given the front's URL; another front stands before the gateways, and is the topology's
 * `url` for clients, HTTP and WebSocket alike. A process is in its front's rotation from its
 * first 200 on `/ready` until it exits or is being stopped.
 *
 * `stop()` stops every process (SIGTERM, then SIGKILL), drops the database, deletes the Redis
 * keys and (unless `keepTopics`) the topics; `startTopology` does the same when start-up fails. If the harness dies
 * without stopping, its processes stop themselves (parent-watch.ts).
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import { Redis } from 'ioredis';
import { SUBGRAPHS } from '../../platform/services.ts';
import type { ServiceName, SubgraphName } from '../../platform/services.ts';
import { startFront } from './front.ts';
import { unusedPort } from './ports.ts';
import type { Front } from './front.ts';
import { serviceProcess } from './service-process.ts';
import type { Exit, LogLine, ServiceProcess } from './service-process.ts';

export type { Front, FrontStats } from './front.ts';
export type { Exit, LogLine, ServiceProcess } from './service-process.ts';

const SUBGRAPH_NAMES = SUBGRAPHS.map((s) => s.name as SubgraphName);

export interface TopologyOptions {
  /** Replicas of each subgraph; one for a subgraph not named. */
  readonly replicas?: Partial<Record<SubgraphName, number>>;
  /** Gateway processes. @default 1 */
  readonly gateways?: number;
  /** An empty database of the topology's own; dropped at stop. */
  readonly database: { readonly url: string; drop(): Promise<void> };
  /** Every key under `prefix` is deleted at stop. */
  readonly redis: { readonly url: string; readonly prefix: string };
  /** Topics and consumer groups under `topicPrefix`; its topics are deleted at stop. */
  readonly kafka: { readonly brokers: readonly string[]; readonly topicPrefix: string };
  /** Leave the topics at stop: the caller throws the whole Kafka away. @default false */
  readonly keepTopics?: boolean;
  /**
   * KAFKA_SESSION_TIMEOUT_MS of every process: how long a killed member holds its partitions.
   * @default 6000
   */
  readonly kafkaSessionTimeoutMs?: number;
  /** NODE_ENV of every process. @default 'development' */
  readonly nodeEnv?: 'development' | 'production' | 'test';
  /** More settings for every process (docs/configuration.md), e.g. `ADMIN_EMAIL`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Longest wait for a process to answer /ready. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** Called with every line any process writes, as it is written. */
  readonly onLine?: (line: LogLine) => void;
}

export interface Topology {
  /** The gateways' front, `http://127.0.0.1:<port>`: GraphQL at `/graphql`, HTTP and WebSocket. */
  readonly url: string;
  /** Every process: the subgraphs' replicas, then the gateways. */
  readonly processes: readonly ServiceProcess[];
  /** The processes of one service, in order (`orders-1`, `orders-2`, …). */
  replicas(service: ServiceName): ServiceProcess[];
  /** The process named `<service>-<n>`. */
  process(name: string): ServiceProcess;
  /** The front of a service's processes (the gateways' is the topology's `url`). */
  front(service: ServiceName): Front;
  readonly databaseUrl: string;
  readonly kafka: { readonly brokers: readonly string[]; readonly topicPrefix: string };
  /** Ends the harness did not cause: a crash, an exit on its own. */
  unexpectedExits(): { process: string; exit: Exit }[];
  /** What a failure message needs: each process's state, unexpected exits, warnings, last lines. */
  report(): string;
  /** Runs `body`; when it fails, the error's message gets `report()` appended. */
  reporting<T>(body: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const gatewayTokenSecret = randomBytes(48).toString('base64url');
  const fronts = new Map<ServiceName, Front>();
  const processes: ServiceProcess[] = [];
  let stopped: Promise<void> | undefined;

  const common: Record<string, string> = {
    NODE_ENV: options.nodeEnv ?? 'development',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    GATEWAY_TOKEN_SECRET: gatewayTokenSecret,
    DATABASE_URL: options.database.url,
    REDIS_URL: options.redis.url,
    REDIS_KEY_PREFIX: options.redis.prefix,
    KAFKA_BROKERS: options.kafka.brokers.join(','),
    KAFKA_TOPIC_PREFIX: options.kafka.topicPrefix,
    KAFKA_SESSION_TIMEOUT_MS: String(options.kafkaSessionTimeoutMs ?? 6000),
    ...options.env,
  };

  const taken = new Set<number>();
  const add = async (service: ServiceName, index: number, env: Record<string, string>) => {
    const name = `${service}-${index}`;
    const front = fronts.get(service)!;
    const port = await unusedPort(taken);
    const operatorPort = service === 'gateway' ? await unusedPort(taken) : undefined;
    processes.push(
      serviceProcess({
        name,
        service,
        port,
        ...(operatorPort ? { readyPort: operatorPort } : {}),
        env: {
          ...common,
          ...env,
          SERVICE: service,
          PORT: String(port),
          ...(operatorPort ? { GATEWAY_OPERATOR_PORT: String(operatorPort) } : {}),
          // Names its PostgreSQL sessions (pg_stat_activity.application_name).
          PGAPPNAME: name,
        },
        onReady: () => front.enter(name, port),
        onGone: () => front.leave(name),
        ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
        ...(options.onLine ? { onLine: options.onLine } : {}),
      }),
    );
  };

  // Dies with this process: parent-watch stops the children, this kills what is still there.
  const killAll = () => {
    for (const p of processes) if (p.pid) process.kill(p.pid, 'SIGKILL');
  };
  process.once('exit', killAll);

  const topology: Topology = {
    get url() {
      return fronts.get('gateway')!.url;
    },
    processes,
    replicas: (service) => processes.filter((p) => p.service === service),
    process(name) {
      const found = processes.find((p) => p.name === name);
      if (!found) throw new Error(`no process ${name} in this topology`);
      return found;
    },
    front(service) {
      const front = fronts.get(service);
      if (!front) throw new Error(`no front for ${service}`);
      return front;
    },
    databaseUrl: options.database.url,
    kafka: options.kafka,
    unexpectedExits: () =>
      processes.flatMap((p) =>
        p
          .exits()
          .filter((exit) => !exit.expected)
          .map((exit) => ({ process: p.name, exit })),
      ),
    report: () => report(processes),
    async reporting(body) {
      try {
        return await body();
      } catch (error) {
        if (error instanceof Error) error.message += `\n\n${report(processes)}`;
        throw error;
      }
    },
    stop: () =>
      (stopped ??= (async () => {
        const problems: unknown[] = [];
        const attempt = (work: Promise<unknown>) =>
          work.catch((error: unknown) => void problems.push(error));
        // Clients' way in first, then the subgraphs, as a rollout takes a stack down.
        await Promise.all(topology.replicas('gateway').map((p) => attempt(p.stop())));
        await Promise.all(processes.map((p) => attempt(p.stop())));
        await Promise.all([...fronts.values()].map((front) => attempt(front.close())));
        await attempt(options.database.drop());
        await attempt(deleteRedisKeys(options.redis));
        if (!options.keepTopics) await attempt(deleteTopics(options.kafka));
        process.off('exit', killAll);
        if (problems.length) throw new AggregateError(problems, 'topology clean-up failed');
      })()),
  };

  try {
    for (const service of ['gateway', ...SUBGRAPH_NAMES] as ServiceName[]) {
      fronts.set(service, await startFront(service));
    }
    for (const subgraph of SUBGRAPH_NAMES) {
      const count = options.replicas?.[subgraph] ?? 1;
      for (let i = 1; i <= count; i++) await add(subgraph, i, {});
    }
    const subgraphUrls = Object.fromEntries(
      SUBGRAPH_NAMES.map((s) => [`${s.toUpperCase()}_URL`, `${fronts.get(s)!.url}/graphql`]),
    );
    for (let i = 1; i <= (options.gateways ?? 1); i++) await add('gateway', i, subgraphUrls);
    // All at once, as a first rollout starts every pod: replicas race for the migrations.
    await Promise.all(processes.map((p) => p.start()));
  } catch (error) {
    const message = `${(error as Error).message}\n\n${report(processes)}`;
    await topology.stop().catch(() => undefined);
    throw new Error(`the topology did not start: ${message}`, { cause: error });
  }
  return topology;
}

/** A line for a failure message: its level and message first, the whole line after, cut short. */
function summary(line: LogLine): string {
  const where = `  [${line.process}#${line.incarnation}]`;
  if (!line.entry) return `${where} ${line.text.slice(0, 600)}`;
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const { level, msg, err } = line.entry as { level?: unknown; msg?: unknown; err?: unknown };
  const error = text((err as { message?: unknown } | undefined)?.message);
  return `${where} ${text(level)}: ${text(msg)}${error ? ` (${error})` : ''} ${line.text.slice(0, 400)}`;
}

/** Each process's state and last lines, unexpected exits and every warning or error. */
function report(processes: readonly ServiceProcess[]): string {
  const sections: string[] = [];
  sections.push(
    'processes: ' +
      processes
        .map((p) => {
          const last = p.exits().at(-1);
          const state = p.running
            ? `running (pid ${p.pid})`
            : `exited (${last?.signal ?? last?.code}${last?.expected ? '' : ', unexpected'})`;
          return `${p.name} #${p.incarnation} ${state}`;
        })
        .join(', '),
  );
  const problems = processes
    .flatMap((p) => p.logs())
    .filter(
      (line) => !line.entry || ['warn', 'error', 'fatal'].includes(String(line.entry['level'])),
    )
    .slice(-40);
  if (problems.length) {
    sections.push(`last warnings and errors:\n${problems.map(summary).join('\n')}`);
  }
  for (const p of processes) sections.push(`${p.name}, last lines:\n${p.tail(8)}`);
  return sections.join('\n');
}

async function deleteRedisKeys({ url, prefix }: { url: string; prefix: string }): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
      const batch = keys as string[];
      if (batch.length > 0) await redis.unlink(...batch);
    }
  } finally {
    redis.disconnect();
  }
}

async function deleteTopics({
  brokers,
  topicPrefix,
}: {
  brokers: readonly string[];
  topicPrefix: string;
}): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: 'eventgraph-topology',
    brokers: [...brokers],
    logLevel: kafkajs.logLevel.NOTHING,
    // Brokers already gone (a Kafka stopped first) fail the clean-up at once.
    retry: { retries: 1 },
  }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(topicPrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
