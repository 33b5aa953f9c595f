/**
 * What every benchmark sets up the same way: its run id, flag parsing, a logger for the code
 * under test, a throw-away database, a Redis key prefix and the Kafka bus (Apache Kafka started
 * by test/kafka, or `KAFKA_BROKERS`). Everything it creates registers its clean-up with the
 * harness.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import pg from 'pg';
import { pino } from 'pino';
import { redactUrl } from '../../shared/config/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { kafkaClasspath, startKafka } from '../../test/kafka/index.ts';
import { interrupted, onCleanup, progress, sleep } from './harness.ts';

/** A short id, unique per run: names the database, the topic prefix and the groups. */
export const newRunId = (): string => `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Flags

export interface FlagParsers {
  /** Prints the problem and the usage, then exits 2. */
  readonly fail: (message: string) => never;
  readonly int: (name: string, value: string, min?: number) => number;
  /** Undefined stays undefined: the code's default applies. */
  readonly optionalInt: (
    name: string,
    value: string | undefined,
    min?: number,
  ) => number | undefined;
  readonly oneOf: <T extends string>(name: string, value: string, choices: readonly T[]) => T;
  readonly optionalOneOf: <T extends string>(
    name: string,
    value: string | undefined,
    choices: readonly T[],
  ) => T | undefined;
}

/** Flag value checks that print the problem and `usage`, then exit 2. */
export function flagParsers(usage: string): FlagParsers {
  const fail = (message: string): never => {
    console.error(`${message}\n\n${usage}`);
    process.exit(2);
  };
  const optionalInt = (name: string, value: string | undefined, min = 1) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      fail(`--${name} must be an integer >= ${min}, got '${value}'`);
    return n;
  };
  const optionalOneOf = <T extends string>(
    name: string,
    value: string | undefined,
    choices: readonly T[],
  ) => {
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      fail(`--${name} must be one of ${choices.join(', ')}, got '${value}'`);
    }
    return value as T;
  };
  return {
    fail,
    int: (name, value, min) => optionalInt(name, value, min)!,
    optionalInt,
    oneOf: (name, value, choices) => optionalOneOf(name, value, choices)!,
    optionalOneOf,
  };
}

// ---------------------------------------------------------------------------------------------
// Logging: the code under test logs through pino; lines are counted, and shown on stderr
// from BENCH_LOG_LEVEL (default warn) up.

export interface BenchLogger {
  readonly logger: Logger;
  /** `level: message` → lines logged. */
  readonly counts: ReadonlyMap<string, number>;
  /** The counted lines other than info (warnings, errors, debug), for the report. */
  notable(): string | undefined;
}

export function createBenchLogger(): BenchLogger {
  const counts = new Map<string, number>();
  const shownLevel = pino.levels.values[process.env['BENCH_LOG_LEVEL'] ?? 'warn'] ?? 40;
  const logger = pino(
    { level: 'debug', base: {} },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { level: number; msg?: string };
        const key = `${pino.levels.labels[entry.level] ?? entry.level}: ${entry.msg ?? ''}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (entry.level >= shownLevel && !interrupted()) process.stderr.write(line);
      },
    },
  );
  return {
    logger,
    counts,
    notable() {
      const lines = [...counts].filter(([key]) => !key.startsWith('info:'));
      return lines.length > 0 ? lines.map(([k, v]) => `${v}× "${k}"`).join(', ') : undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Database

/** The server the benchmarks create their databases on. */
export const serverUrl =
  process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** One query on a connection of its own (default: the server's maintenance database). */
export async function adminQuery<T extends pg.QueryResultRow>(
  sql: string,
  url = serverUrl,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  readonly name: string;
  /** URL of the new database (credentials of `serverUrl`). */
  readonly url: string;
  readonly serverVersion: string;
}

/** Creates database `eventgraph_bench_<runId>` on `serverUrl`; dropped at clean-up. */
export async function createBenchDatabase(runId: string): Promise<BenchDatabase> {
  const name = `eventgraph_bench_${runId}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  progress(`creating database ${name} on ${redactUrl(serverUrl)}`);
  const [version] = await adminQuery<{ server_version: string }>('show server_version');
  await adminQuery(`create database "${name}"`);
  onCleanup('drop database', async () => {
    await adminQuery(`drop database if exists "${name}" with (force)`);
    progress(`dropped database ${name}`);
  });
  return { name, url: url.toString(), serverVersion: version?.server_version ?? '?' };
}

// ---------------------------------------------------------------------------------------------
// Accounts

const SET_ROLE = fileURLToPath(new URL('../../subgraphs/users/set-role.ts', import.meta.url));

/** `users:set-role <email> ADMIN` on the database; false while users does not know the account. */
function setRoleAdmin(databaseUrl: string, email: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SET_ROLE, email, 'ADMIN'],
      // Only what the command reads: a developer's own settings must not leak in.
      { env: { PATH: process.env['PATH'], DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' } },
      (error, _stdout, stderr) => {
        if (!error) resolve(true);
        else if (stderr.includes('no account has the email')) resolve(false);
        else reject(new Error(`users:set-role failed: ${stderr.trim()}`, { cause: error }));
      },
    );
  });
}

/**
 * Makes an account an ADMIN as production does (it refuses ADMIN_EMAIL): the admin command
 * `npm run users:set-role -- <email> ADMIN` on the platform's database, repeated until users
 * has learned of the account by event; then waits until auth has applied user.role_changed.
 * That ends the account's sessions: sign in again for a token with the ADMIN role.
 */
export async function grantAdmin(
  databaseUrl: string,
  email: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const until = async (what: string, check: () => Promise<boolean>) => {
    while (!(await check())) {
      if (performance.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
      await sleep(100);
    }
  };
  await until(`users:set-role did not find ${email}`, () => setRoleAdmin(databaseUrl, email));
  await until('auth did not apply user.role_changed', async () => {
    const [row] = await adminQuery<{ role: string }>(
      'select role from auth.credentials where email = $1',
      databaseUrl,
      [email],
    );
    return row?.role === 'ADMIN';
  });
}

// ---------------------------------------------------------------------------------------------
// Redis

/** The Redis the benchmarks that start services use (keys under a prefix of the run's own). */
export const redisUrl = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** `eventgraph:bench:<runId>:`; every key under it is deleted at clean-up. */
export function benchRedisPrefix(runId: string): string {
  const prefix = `eventgraph:bench:${runId}:`;
  onCleanup('delete Redis keys', async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      let deleted = 0;
      for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
        const batch = keys as string[];
        if (batch.length > 0) deleted += await redis.unlink(...batch);
      }
      progress(`deleted ${deleted} Redis keys under ${prefix}`);
    } finally {
      redis.disconnect();
    }
  });
  return prefix;
}

// ---------------------------------------------------------------------------------------------
// Kafka

export interface Bus {
  readonly brokers: readonly string[];
  readonly description: string;
  /** Prepended to every topic and group name of the run. */
  readonly topicPrefix: string;
}

export interface BusOptions {
  readonly runId: string;
  /** Kafka nodes to start: 1 (as docker-compose.yml runs) or 3. Ignored with KAFKA_BROKERS. */
  readonly nodes: number;
  /** Client port of the first node (the next `nodes` ports, and 10 above, are taken too). */
  readonly basePort: number;
}

/**
 * The brokers of `KAFKA_BROKERS` when set (the run's topics and consumer groups, found by
 * its prefix, are deleted at clean-up), else Apache Kafka started by `test/kafka` (its JVMs
 * are processes of their own; stopped and their data deleted at clean-up).
 */
export async function startBus(options: BusOptions): Promise<Bus> {
  const topicPrefix = `bench-${options.runId}.`;
  const external = process.env['KAFKA_BROKERS'];
  if (external) {
    const brokers = external
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    onCleanup('delete Kafka topics and groups', () => deleteRunLeftovers(brokers, topicPrefix));
    return { brokers, description: `KAFKA_BROKERS=${external}`, topicPrefix };
  }
  const { nodes, basePort } = options;
  progress(`starting Apache Kafka: ${nodes} node(s) from port ${basePort} (test/kafka)`);
  const startedAt = performance.now();
  const cluster = await startKafka({ nodes, basePort });
  onCleanup('stop Kafka', async () => {
    await cluster.stop();
    progress('stopped Kafka and deleted its data');
  });
  const version = await kafkaVersion();
  progress(
    `Kafka ${version} serves after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`,
  );
  return {
    brokers: cluster.brokers,
    description:
      `Apache Kafka ${version} (test/kafka: KRaft, one JVM per node), ` +
      `${nodes} node${nodes > 1 ? 's' : ''} at ${cluster.bootstrap}`,
    topicPrefix,
  };
}

/** The release test/kafka runs: the version of the kafka_2.13 jar on its classpath. */
async function kafkaVersion(): Promise<string> {
  const classpath = await kafkaClasspath();
  return /kafka_2\.13-([^/:]+)\.jar/.exec(classpath)?.[1] ?? '(version unknown)';
}

/**
 * Deletes the consumer groups and topics whose names start with the run's prefix (groups
 * first: a group is deleted only once empty, which it is after the run's stop). Each is tried
 * even when the other fails: a broker may lack one of the APIs.
 */
async function deleteRunLeftovers(brokers: readonly string[], prefix: string): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: 'eventgraph-bench-cleanup',
    brokers: [...brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const ofRun = (names: string[]) => names.filter((name) => name.startsWith(prefix));
  const attempt = async (what: string, run: () => Promise<number>) => {
    try {
      progress(`deleted ${await run()} ${what} of the run`);
    } catch (error) {
      progress(`could not delete the run's ${what}: ${(error as Error).message}`);
    }
  };
  try {
    await attempt('consumer groups', async () => {
      const groups = ofRun((await admin.listGroups()).groups.map((group) => group.groupId));
      if (groups.length > 0) await admin.deleteGroups(groups);
      return groups.length;
    });
    await attempt('topics', async () => {
      const topics = ofRun(await admin.listTopics());
      if (topics.length > 0) await admin.deleteTopics({ topics });
      return topics.length;
    });
  } finally {
    await admin.disconnect();
  }
}
