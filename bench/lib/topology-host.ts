/**
 * A multi-process layout of `bench:platform`, run in a child process of the benchmark
 * (deployments.ts starts it): the topology harness (test/topology) starts a process per replica
 * of each service and the round-robin fronts before them in this process, so what the fronts
 * cost is this process's CPU, measured apart from the load generator's. It takes one
 * `TopologyRequest` on its IPC channel, answers one `TopologyReport` once every process is
 * ready (or start-up failed), and stops the topology and exits when the channel closes: the
 * benchmark is done with it, or gone.
 */
import { SUBGRAPHS } from '../../platform/services.ts';
import { commonEnvSchema } from '../../shared/config/index.ts';
import { startTopology } from '../../test/topology/topology.ts';
import { echoErrorLine } from './platform-process.ts';
import type { LogLine, Topology } from '../../test/topology/topology.ts';

/** What a deployment runs on: each deployment has its own of each. */
export interface Backends {
  /** An empty database; the benchmark drops it at its clean-up. */
  readonly databaseUrl: string;
  readonly redis: { readonly url: string; readonly prefix: string };
  readonly kafka: { readonly brokers: readonly string[]; readonly topicPrefix: string };
}

export interface TopologyRequest extends Backends {
  /** Processes of each subgraph. */
  readonly replicas: number;
  readonly gateways: number;
  /** Settings of every process besides those the harness sets (docs/configuration.md). */
  readonly env: Readonly<Record<string, string>>;
  readonly readyTimeoutMs: number;
}

export interface TopologyProcess {
  readonly name: string;
  readonly service: string;
  readonly pid: number | undefined;
}

export type TopologyReport =
  | { readonly type: 'ready'; readonly url: string; readonly processes: TopologyProcess[] }
  | { readonly type: 'failed'; readonly message: string };

/** What an unset KAFKA_SESSION_TIMEOUT_MS gives, as in the one-process layout (the harness's default is short, for its kill tests). */
const SESSION_TIMEOUT_MS = commonEnvSchema.shape.KAFKA_SESSION_TIMEOUT_MS.parse(undefined);

const answer = (report: TopologyReport) => {
  if (process.connected) process.send!(report);
};

const gone = new Promise<void>((resolve) => process.once('disconnect', resolve));

process.once('message', (request: TopologyRequest) => {
  void run(request).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`topology-host: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
});

async function run(request: TopologyRequest): Promise<void> {
  let topology: Topology;
  try {
    topology = await startTopology({
      replicas: Object.fromEntries(SUBGRAPHS.map((s) => [s.name, request.replicas])),
      gateways: request.gateways,
      database: { url: request.databaseUrl, drop: async () => undefined },
      redis: request.redis,
      kafka: request.kafka,
      kafkaSessionTimeoutMs: SESSION_TIMEOUT_MS,
      nodeEnv: 'production',
      env: request.env,
      readyTimeoutMs: request.readyTimeoutMs,
      onLine: (line: LogLine) => echoErrorLine(line.process, line.text),
    });
  } catch (error) {
    answer({ type: 'failed', message: (error as Error).message });
    return;
  }
  answer({
    type: 'ready',
    url: topology.url,
    processes: topology.processes.map((p) => ({ name: p.name, service: p.service, pid: p.pid })),
  });
  await gone;
  await topology.stop();
}
