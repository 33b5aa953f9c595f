/**
 * The deployment layouts `bench:platform` measures, side by side: how the platform's services
 * are spread over processes. Every layout runs NODE_ENV=production on the same kind of
 * PostgreSQL database, Redis prefix and Kafka topic prefix, and every platform process counts
 * its SQL round trips (sql-count.ts), so the figures of one layout compare with another's.
 *
 * - `one`: `npm start`'s single process (every subgraph and the gateway), platform-process.ts.
 * - `services`: a process per service (`SERVICE=<name>`: the gateway and five subgraphs).
 * - `replicas2`: two processes of every subgraph and two gateways.
 *
 * The multi-process layouts run through the topology harness (test/topology), which puts a
 * round-robin front before each subgraph's processes and one before the gateways; it runs in a
 * child process of its own (topology-host.ts), whose CPU is therefore what the fronts cost.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SERVICES } from '../../platform/services.ts';
import { onCleanup, progress } from './harness.ts';
import {
  processCpuMs,
  processPeakRss,
  REPO_ROOT,
  sqlCountingEnv,
  sqlQueriesOf,
  startPlatformProcess,
} from './platform-process.ts';
import type { SourceTree } from './platform-process.ts';
import type { Backends, TopologyReport, TopologyRequest } from './topology-host.ts';

/** A layout's processes: one, or a topology of `replicas` per subgraph and `gateways`. */
export const LAYOUTS = {
  one: undefined,
  services: { replicas: 1, gateways: 1 },
  replicas2: { replicas: 2, gateways: 2 },
} as const;
export type LayoutName = keyof typeof LAYOUTS;
export const LAYOUT_NAMES = Object.keys(LAYOUTS) as LayoutName[];

/** What a process of the one-process layout is, in the per-kind figures. */
export const ONE_PROCESS_KIND = 'platform';
/** The fronts' process, in the per-kind figures. */
export const FRONTS_KIND = 'fronts';
/** The kinds of process in the order a report lists them. */
export const KINDS_IN_ORDER: readonly string[] = [
  ONE_PROCESS_KIND,
  ...SERVICES.map((service) => service.name),
  FRONTS_KIND,
];

export interface DeploymentProcess {
  /** `platform`, or the harness's `<service>-<n>`. */
  readonly name: string;
  /** `platform` (everything in one process) or the service it runs (`gateway`, `orders`, …). */
  readonly kind: string;
  readonly pid: number | undefined;
}

export interface Deployment {
  readonly layout: LayoutName;
  /** Where clients send GraphQL: `<url>/graphql`. */
  readonly url: string;
  /** One line for the report: what runs where. */
  readonly description: string;
  /** The platform's processes. */
  readonly processes: readonly DeploymentProcess[];
  /** The process of the round-robin fronts, in the multi-process layouts. */
  readonly fronts?: DeploymentProcess;
}

export interface DeploymentOptions extends Backends {
  /** Names the deployment in progress lines. */
  readonly name: string;
  readonly layout: LayoutName;
  /** The one-process layout runs any tree; the others run this checkout (the harness's). */
  readonly tree: SourceTree;
  /** Every other setting (docs/configuration.md), the same in every process. */
  readonly settings: Readonly<Record<string, string>>;
}

/** Longest wait for a process to answer /ready: a dozen start at once on a small machine. */
const READY_TIMEOUT_MS = 240_000;
/** How long the topology process may take to stop its processes and remove what it made. */
const HOST_STOP_TIMEOUT_MS = 60_000;
const TOPOLOGY_HOST = fileURLToPath(new URL('./topology-host.ts', import.meta.url));

/** Starts the layout; resolves once every process of it answers /ready. Stopped at clean-up. */
export async function startDeployment(options: DeploymentOptions): Promise<Deployment> {
  const shape = LAYOUTS[options.layout];
  if (!shape) return startOneProcess(options);
  if (options.tree.dir !== REPO_ROOT) {
    throw new Error(`the ${options.layout} layout runs this checkout only (test/topology's)`);
  }
  const request: TopologyRequest = {
    ...shape,
    databaseUrl: options.databaseUrl,
    redis: options.redis,
    kafka: options.kafka,
    env: { ...options.settings, ...sqlCountingEnv() },
    readyTimeoutMs: READY_TIMEOUT_MS,
  };
  const { url, processes, fronts } = await startTopologyHost(options.name, request);
  return {
    layout: options.layout,
    url,
    description:
      `${processes.length} processes (SERVICE=<name>): ${shape.gateways} gateway(s) and ` +
      `${shape.replicas} of each subgraph, behind test/topology's round-robin fronts (their ` +
      `own process, pid ${fronts.pid})`,
    processes,
    fronts,
  };
}

async function startOneProcess(options: DeploymentOptions): Promise<Deployment> {
  const platform = await startPlatformProcess({
    name: options.name,
    tree: options.tree,
    readyTimeoutMs: READY_TIMEOUT_MS,
    env: {
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redis.url,
      REDIS_KEY_PREFIX: options.redis.prefix,
      KAFKA_BROKERS: options.kafka.brokers.join(','),
      KAFKA_TOPIC_PREFIX: options.kafka.topicPrefix,
      ...options.settings,
      ...sqlCountingEnv(),
    },
  });
  return {
    layout: 'one',
    url: platform.url,
    description: `platform/start.ts in one process (pid ${platform.child.pid})`,
    processes: [{ name: 'platform', kind: ONE_PROCESS_KIND, pid: platform.child.pid }],
  };
}

/**
 * topology-host.ts in a child process: sends it the request and waits for its report. The
 * child is in a process group of its own, so a Ctrl-C at the terminal reaches only the
 * benchmark, whose clean-up closes the IPC channel: the child then stops the topology.
 */
async function startTopologyHost(
  name: string,
  request: TopologyRequest,
): Promise<{ url: string; processes: DeploymentProcess[]; fronts: DeploymentProcess }> {
  const child = spawn(process.execPath, [TOPOLOGY_HOST], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onCleanup(`stop the ${name} layout`, async () => {
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), HOST_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    progress(`stopped the ${name} layout's processes (topology pid ${child.pid})`);
  });
  const report = await new Promise<TopologyReport>((resolve, reject) => {
    child.once('message', (message) => resolve(message as TopologyReport));
    void exited.then(() =>
      reject(new Error(`the ${name} layout's topology process exited before it was ready`)),
    );
    child.send(request);
  });
  if (report.type === 'failed') throw new Error(`the ${name} layout: ${report.message}`);
  return {
    url: report.url,
    processes: report.processes.map((p) => ({ name: p.name, kind: p.service, pid: p.pid })),
    fronts: { name: 'fronts', kind: FRONTS_KIND, pid: child.pid },
  };
}

// ---------------------------------------------------------------------------------------------
// What a deployment's processes used

/** CPU ms so far of each kind of process (replicas summed), the fronts' under `fronts`. */
export function cpuByKind(deployment: Deployment): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const p of [...deployment.processes, ...(deployment.fronts ? [deployment.fronts] : [])]) {
    cpu.set(p.kind, (cpu.get(p.kind) ?? 0) + processCpuMs(p.pid));
  }
  return cpu;
}

/** SQL round trips the platform's processes have sent so far, summed; NaN when one cannot say. */
export async function sqlQueries(deployment: Deployment): Promise<number> {
  const counts = await Promise.all(deployment.processes.map((p) => sqlQueriesOf(p.pid)));
  return counts.reduce((a, b) => a + b, 0);
}

/** Peak RSS of the platform's processes, summed (bytes). */
export function peakRss(deployment: Deployment): number {
  return deployment.processes.reduce((total, p) => total + processPeakRss(p.pid), 0);
}
