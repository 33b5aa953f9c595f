/**
 * A consumer-group member in a process of its own, for tests that must kill a member the
 * hard way (SIGKILL: no LeaveGroup, no offset commit, its database transaction rolled back):
 * it applies `counter.incremented` events into `<schema>.counter_effects` as `name`, like the
 * in-process members of the fault suites. Start it with {@link forkCounterConsumer}; it
 * reports `ready` over IPC once it has joined the group, and stops gracefully on SIGTERM.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { on, startEventConsumer, startKafkaTransport } from '../events/index.ts';
import {
  CounterIncremented,
  applyIncrement,
  counterCatalogue,
  startCounterDatabase,
} from './events.ts';
import { testLogger } from './index.ts';

export interface CounterConsumerConfig {
  readonly databaseUrl: string;
  /** Schema holding the inbox and `counter_effects` (already migrated). */
  readonly schema: string;
  readonly brokers: readonly string[];
  readonly topicPrefix: string;
  readonly group: string;
  readonly topic: string;
  /** Recorded as the `consumer` of its effects. */
  readonly name: string;
  readonly sessionTimeoutMs: number;
}

interface ReadyMessage {
  readonly ready: true;
}

/** Forks the member; resolves once it has joined its group. */
export async function forkCounterConsumer(config: CounterConsumerConfig): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(config)], {
    // Not the jest worker's flags: a plain Node process that strips types itself.
    execArgv: ['--disable-warning=ExperimentalWarning'],
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message: ReadyMessage) => (message.ready ? resolve() : undefined));
    child.once('exit', (code, signal) =>
      reject(new Error(`counter consumer ${config.name} exited (${code ?? signal}) before ready`)),
    );
  });
  child.removeAllListeners('exit');
  return child;
}

async function main(config: CounterConsumerConfig): Promise<void> {
  const logger = testLogger();
  const db = await startCounterDatabase(config.databaseUrl, config.schema, logger);
  const transport = await startKafkaTransport({
    brokers: config.brokers,
    clientId: `counter-consumer-${config.name}`,
    topicPrefix: config.topicPrefix,
    logger,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxWaitTimeMs: 200,
  });
  const subscription = await startEventConsumer({
    group: config.group,
    topics: [config.topic],
    handlers: [on(CounterIncremented, applyIncrement(config.schema, config.name))],
    orm: db.orm,
    schema: config.schema,
    catalogue: counterCatalogue,
    transport,
    logger,
  });
  process.once('SIGTERM', () => {
    void (async () => {
      await subscription.stop();
      await transport.stop();
      await db.stop();
      process.exit(0);
    })();
  });
  const ready: ReadyMessage = { ready: true };
  process.send?.(ready);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await main(JSON.parse(process.argv[2]!) as CounterConsumerConfig);
}
