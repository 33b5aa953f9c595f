/**
 * Child processes of `bench:gateway`: each one node 24 running a `.ts` file directly,
 * optionally pinned to CPUs (`taskset -c`, which execs node, so the child's pid is node's and
 * its CPU and RSS read from /proc are node's), stopped by the bench's clean-up or on demand,
 * with a bounded tail of its stderr for the error when it dies.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { onCleanup, sleep } from './harness.ts';
import { processCpuMs, processPeakRss } from './platform-process.ts';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Peak resident set size so far, in bytes (Linux VmHWM). */
  peakRss(): number;
  /** CPU time the process has used so far (user + system), in ms (Linux /proc). */
  cpuMs(): number;
  /** SIGTERM, then resolves once it exited (at once when it already had). */
  stop(): Promise<void>;
}

export interface ChildOptions<T> {
  /** Shown in errors and used for the CPU profile's file name. */
  name: string;
  script: string;
  args?: readonly string[];
  env: Record<string, string>;
  /** `taskset -c` list, e.g. `1` or `0-2`; unset: not pinned. */
  cpus?: string | undefined;
  /** Write a V8 CPU profile (`node --cpu-prof`) into this directory. */
  cpuProfileDir?: string | undefined;
  /** An IPC channel to the child (`child.send`, `process.on('message')`). @default false */
  ipc?: boolean;
  /** Reads the child's stdout lines until it returns a value; null: resolve at once. */
  ready: ((line: string) => T | undefined) | null;
}

/** Bytes of a child's stderr kept for the error message when it dies. */
const STDERR_TAIL = 4000;

/** Starts a child and resolves once `ready` sees its output say so. */
export function startChild<T>(options: ChildOptions<T>): Promise<{ proc: Proc; value: T }> {
  const { name, ready } = options;
  const profile = options.cpuProfileDir
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${options.cpuProfileDir}`,
        `--cpu-prof-name=${name.replaceAll(' ', '-')}.cpuprofile`,
      ]
    : [];
  const node = [process.execPath, ...profile, options.script, ...(options.args ?? [])];
  const [command, ...args] = options.cpus ? ['taskset', '-c', options.cpus, ...node] : node;
  const child = spawn(command!, args, {
    env: { ...process.env, ...options.env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  onCleanup(`stop ${name}`, stop);
  const proc: Proc = {
    name,
    child,
    peakRss: () => processPeakRss(child.pid),
    cpuMs: () => processCpuMs(child.pid),
    stop,
  };
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited with ${code ?? signal}: ${stderr}`)),
    );
    if (!ready) {
      child.stdout!.resume();
      resolve({ proc, value: undefined as T });
      return;
    }
    let buffered = '';
    let found = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (found) return;
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const value = ready(line);
        if (value !== undefined) {
          found = true;
          buffered = '';
          resolve({ proc, value });
          return;
        }
      }
    });
  });
}

/** Polls `probe` every 100 ms until it is true; throws when the process exits or after 60 s. */
export async function waitUntil(
  proc: Proc,
  what: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited with ${proc.child.exitCode}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${proc.name} was not ${what} after 60 s`);
}
