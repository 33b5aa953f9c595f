/**
 * The platform as `npm start` runs it, in a child process of its own, for benchmarks that
 * load it from outside (`bench:platform`): `node platform/start.ts` in a source tree (this
 * checkout, or another revision in a temporary `git worktree`); any process's CPU time and
 * peak RSS from /proc and its SQL round trips counted by the preloaded `sql-count.ts`; the CPU
 * of a database's PostgreSQL backends, and Kafka consumer groups' lag. Everything it starts
 * registers its clean-up with the harness.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import type { Admin } from 'kafkajs';
import { unusedPort } from '../../test/topology/ports.ts';
import { interrupted, onCleanup, progress, sleep } from './harness.ts';
import { adminQuery } from './setup.ts';

/** The checkout this benchmark runs from. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU time (user + system) a process has used so far, in ms; NaN when it cannot be read. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Peak resident set size of a process so far, in bytes (Linux VmHWM); NaN when unknown. */
export function processPeakRss(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// SQL round trips, counted inside each process by sql-count.ts

const SQL_COUNT = fileURLToPath(new URL('./sql-count.ts', import.meta.url));
let sqlCountDir: string | undefined;

/** Where the counting processes' sockets are: a temporary directory, removed at clean-up. */
function sqlCountSockets(): string {
  if (!sqlCountDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eventgraph-sql-count-'));
    onCleanup('remove the SQL count sockets', async () => rmSync(dir, { recursive: true }));
    sqlCountDir = dir;
  }
  return sqlCountDir;
}

/**
 * The environment that makes a Node process count its SQL round trips (sql-count.ts preloaded
 * through NODE_OPTIONS, answering on a socket named by its pid): merged into the environment
 * of every platform process, whoever spawns it.
 */
export function sqlCountingEnv(): Record<string, string> {
  const profile = cpuProfileDir
    ? ` --cpu-prof --cpu-prof-dir=${JSON.stringify(cpuProfileDir)}`
    : '';
  return {
    NODE_OPTIONS: `--import ${JSON.stringify(SQL_COUNT)}${profile}`,
    BENCH_SQL_COUNT_DIR: sqlCountSockets(),
  };
}

let cpuProfileDir: string | undefined;

/**
 * Makes every platform process started from now on write a V8 CPU profile into `dir` when it
 * exits (`node --cpu-prof`), through the same NODE_OPTIONS as the SQL count.
 */
export function profilePlatformProcesses(dir: string): void {
  cpuProfileDir = path.resolve(dir);
}

/** SQL round trips the process started with `sqlCountingEnv()` has sent so far; NaN when it cannot say. */
export function sqlQueriesOf(pid: number | undefined, timeoutMs = 5000): Promise<number> {
  if (pid === undefined || !sqlCountDir) return Promise.resolve(NaN);
  const socket = connect(path.join(sqlCountDir, `${pid}.sock`));
  socket.setTimeout(timeoutMs, () => socket.destroy());
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('error', () => resolve(NaN));
    socket.once('close', () => resolve(text === '' ? NaN : Number(text)));
  });
}

/** Ports handed out by this benchmark run, never twice. */
const portsTaken = new Set<number>();

/** A loopback port for a process this benchmark starts (below the ephemeral range). */
export function freePort(): Promise<number> {
  return unusedPort(portsTaken);
}

const git = (args: string[], cwd = REPO_ROOT) =>
  new Promise<string>((resolve, reject) =>
    execFile('git', args, { cwd }, (error, stdout, stderr) =>
      error ? reject(new Error(`git ${args.join(' ')}: ${stderr.trim()}`)) : resolve(stdout.trim()),
    ),
  );

export interface SourceTree {
  /** Where `platform/start.ts` is. */
  readonly dir: string;
  /** The commit, abbreviated, and its subject; or 'working tree'. */
  readonly description: string;
}

/** This checkout as it is, uncommitted changes included. */
export async function currentTree(): Promise<SourceTree> {
  const head = await git(['log', '-1', '--format=%h %s']);
  const dirty = (await git(['status', '--porcelain', '--untracked-files=no'])) !== '';
  return {
    dir: REPO_ROOT,
    description: `working tree at ${head.slice(0, 60)}${dirty ? ' (with uncommitted changes)' : ''}`,
  };
}

/**
 * `rev` checked out (detached) in a temporary `git worktree`, with this checkout's
 * node_modules linked into it when both pin the same packages (the same package-lock.json);
 * otherwise `rev`'s own, installed there with `npm ci` (about a minute). Removed at clean-up
 * (a link first, so nothing of this checkout's node_modules is touched).
 */
export async function worktreeAt(rev: string): Promise<SourceTree> {
  const commit = await git(['rev-parse', '--verify', `${rev}^{commit}`]);
  const subject = await git(['log', '-1', '--format=%h %s', commit]);
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'eventgraph-bench-')), 'tree');
  progress(`checking out ${rev} (${subject.slice(0, 60)}) in a git worktree at ${dir}`);
  await git(['worktree', 'add', '--detach', dir, commit]);
  const modules = path.join(dir, 'node_modules');
  onCleanup('remove the git worktree', async () => {
    if (existsSync(modules) && lstatSync(modules).isSymbolicLink()) unlinkSync(modules);
    await git(['worktree', 'remove', '--force', dir]).catch(() => undefined);
    rmSync(path.dirname(dir), { recursive: true, force: true });
    await git(['worktree', 'prune']);
    progress(`removed the git worktree ${dir}`);
  });
  const lock = (root: string) => readFileSync(path.join(root, 'package-lock.json'), 'utf8');
  if (lock(dir) === lock(REPO_ROOT)) {
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), modules);
  } else {
    progress(`${rev} pins other packages than this checkout: npm ci in the worktree`);
    await new Promise<void>((resolve, reject) =>
      execFile('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir }, (error, _out, stderr) =>
        error ? reject(new Error(`npm ci for ${rev} failed: ${stderr.trim()}`)) : resolve(),
      ),
    );
    progress(`${rev}'s packages are installed`);
  }
  return { dir, description: `${rev} = ${subject.slice(0, 60)}` };
}

/** The levels of the platform's JSON log lines (LOG_FORMAT=json) that are echoed. */
const ECHOED_LEVELS: ReadonlySet<unknown> = new Set(['error', 'fatal']);

/**
 * Writes a platform process's log line on stderr when it is an error (or not JSON: a crash's
 * stack), as it happens: a client sees only INTERNAL_SERVER_ERROR and a request id.
 */
export function echoErrorLine(source: string, line: string): void {
  let level: unknown = 'error';
  try {
    level = (JSON.parse(line) as { level?: unknown } | null)?.level;
  } catch {
    // Not JSON: shown.
  }
  if (ECHOED_LEVELS.has(level)) process.stderr.write(`[${source}] ${line.slice(0, 2000)}\n`);
}

export interface PlatformProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The gateway's base URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** The last lines the process wrote on stderr and stdout (warnings and errors). */
  tail(): string;
  stop(): Promise<void>;
}

export interface PlatformProcessOptions {
  readonly name: string;
  readonly tree: SourceTree;
  /** The environment besides PATH (and PORT / GATEWAY_OPERATOR_PORT, chosen here). */
  readonly env: Record<string, string>;
  readonly readyTimeoutMs?: number;
}

/**
 * `node platform/start.ts` in the tree, as `npm start` runs it (`exec node platform/start.ts`);
 * resolves once the gateway's /ready answers 200 on its operator port. Stopped with SIGTERM
 * at clean-up, as an operator stops it.
 */
export async function startPlatformProcess(
  options: PlatformProcessOptions,
): Promise<PlatformProcess> {
  const { name, tree } = options;
  const port = await freePort();
  const operatorPort = await freePort();
  const child = spawn(process.execPath, ['platform/start.ts'], {
    cwd: tree.dir,
    // Only what is given: a developer's own settings must not leak in.
    env: {
      PATH: process.env['PATH'] ?? '',
      ...options.env,
      PORT: String(port),
      GATEWAY_OPERATOR_PORT: String(operatorPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (line: string) => {
    if (!line.trim()) return;
    echoErrorLine(name, line);
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', keep);
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
  };
  onCleanup(`stop the ${name} platform`, async () => {
    await stop();
    progress(`stopped the ${name} platform (pid ${child.pid})`);
  });

  const proc: PlatformProcess = {
    name,
    child,
    url: `http://127.0.0.1:${port}`,
    tail: () => lines.join('\n'),
    stop,
  };

  const deadline = performance.now() + (options.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the ${name} platform exited (${child.exitCode ?? child.signalCode}):\n${proc.tail()}`,
      );
    }
    if (interrupted()) throw new Error('interrupted');
    const ok = await fetch(`http://127.0.0.1:${operatorPort}/ready`)
      .then((response) => response.ok)
      .catch(() => false);
    if (ok) return proc;
    if (performance.now() > deadline)
      throw new Error(`the ${name} platform was not ready:\n${proc.tail()}`);
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: what the platform's database did

export interface DatabaseCounters {
  /** Transactions committed + rolled back (pg_stat_database; flushed by backends about every second). */
  readonly xacts: number;
  /** CPU ms of the server processes connected to the database, by pid (same machine only). */
  readonly backendCpu: ReadonlyMap<number, number>;
}

export async function databaseCounters(
  databaseUrl: string,
  database: string,
): Promise<DatabaseCounters> {
  const [row] = await adminQuery<{ xacts: string }>(
    `select xact_commit + xact_rollback as xacts from pg_stat_database where datname = $1`,
    databaseUrl,
    [database],
  );
  const pids = await adminQuery<{ pid: number }>(
    `select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
    databaseUrl,
    [database],
  );
  const backendCpu = new Map<number, number>();
  for (const { pid } of pids) {
    const cpu = processCpuMs(pid);
    if (Number.isFinite(cpu)) backendCpu.set(pid, cpu);
  }
  return { xacts: Number(row?.xacts ?? NaN), backendCpu };
}

/**
 * CPU ms the database's backends used between two samples: backends in both count their
 * difference, backends opened since count all of theirs; backends closed in between are lost
 * (the services' pools keep theirs open). NaN when no backend could be read (another machine).
 */
export function backendCpuBetween(before: DatabaseCounters, after: DatabaseCounters): number {
  if (after.backendCpu.size === 0) return NaN;
  let total = 0;
  for (const [pid, cpu] of after.backendCpu) total += cpu - (before.backendCpu.get(pid) ?? 0);
  return total;
}

// ---------------------------------------------------------------------------------------------
// Kafka: consumer lag

export interface LagProbe {
  /** Group (unprefixed) → messages its committed offsets are behind the topics' ends. */
  sample(): Promise<Map<string, number>>;
  /** Lag summed over every consumer group of the prefix (not only the sampled ones). */
  total(): Promise<number>;
  close(): Promise<void>;
}

/** Lag of the given consumer groups (names without the topic prefix), from the admin API. */
export async function lagProbe(
  brokers: readonly string[],
  prefix: string,
  groups: readonly string[],
): Promise<LagProbe> {
  const admin: Admin = new kafkajs.Kafka({
    clientId: 'eventgraph-bench-lag',
    brokers: [...brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const behind = async (groupId: string, ends: Map<string, Map<number, number>>) => {
    let lag = 0;
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId })) {
      let end = ends.get(topic);
      if (!end) {
        end = new Map(
          (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]),
        );
        ends.set(topic, end);
      }
      for (const { partition, offset } of partitions) {
        // -1: nothing committed yet (the group has not consumed anything).
        if (Number(offset) >= 0) lag += Math.max(0, (end.get(partition) ?? 0) - Number(offset));
      }
    }
    return lag;
  };
  return {
    async sample() {
      const ends = new Map<string, Map<number, number>>();
      const lag = new Map<string, number>();
      for (const group of groups) lag.set(group, await behind(prefix + group, ends));
      return lag;
    },
    async total() {
      const ends = new Map<string, Map<number, number>>();
      const { groups: all } = await admin.listGroups();
      let lag = 0;
      for (const { groupId } of all) {
        if (groupId.startsWith(prefix)) lag += await behind(groupId, ends);
      }
      return lag;
    },
    close: () => admin.disconnect(),
  };
}
