/**
 * A Kafka cluster of a test's own (test/kafka), for fault tests that kill, restart or pause
 * brokers and so cannot use the run's shared Kafka. Fault suites share a few fixed base
 * ports, and jest runs test files in parallel workers (and other runs may use the same
 * checkout), so whoever starts a cluster on a base port first holds a lock file for it until
 * `stop()`: a second user of the port waits its turn instead of failing on a taken port.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKafka } from '../../test/kafka/index.ts';
import type { KafkaCluster, KafkaClusterOptions } from '../../test/kafka/index.ts';

export type { KafkaCluster, KafkaNode } from '../../test/kafka/index.ts';

/** Base port of the one-node clusters of the fault suites. */
export const OWN_KAFKA_PORT = 19292;
/** Base port of the three-node clusters of the fault suites (19392-19394, 19402-19404). */
export const OWN_KAFKA_CLUSTER_PORT = 19392;

/** Longest wait for another test file's cluster on the same port to stop. */
const LOCK_WAIT_MS = 240_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid in a lock file (0 while it is being written), or undefined when there is none. */
function lockOwner(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Takes the lock of `basePort`; resolves to its release. */
async function lockPort(basePort: number): Promise<() => void> {
  const path = join(tmpdir(), `eventgraph-kafka-${basePort}.lock`);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      const release = () => rmSync(path, { force: true });
      process.once('exit', release);
      return () => {
        process.off('exit', release);
        release();
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = lockOwner(path);
    if (owner === undefined) continue; // released meanwhile
    if (owner === process.pid) {
      throw new Error(`this process already runs a test Kafka on port ${basePort}`);
    }
    // A holder that died without stopping (a killed jest worker) leaves its lock behind; an
    // empty file is one being written right now.
    if (owner > 0 && !isAlive(owner)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `waited ${LOCK_WAIT_MS / 1000} s for process ${owner} to stop its test Kafka on port ${basePort}`,
      );
    }
    await sleep(500);
  }
}

/**
 * Starts a cluster on `options.basePort` once no other test holds that port; `stop()` ends it
 * and lets the next one start.
 */
export async function startOwnKafka(
  options: KafkaClusterOptions & { basePort: number },
): Promise<KafkaCluster> {
  const unlock = await lockPort(options.basePort);
  let cluster: KafkaCluster;
  try {
    cluster = await startKafka(options);
  } catch (error) {
    unlock();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    ...cluster,
    stop: () => (stopped ??= cluster.stop().finally(unlock)),
  };
}
