/**
 * One process of a topology: `node platform/start.ts` with `SERVICE=<name>` on a port of its
 * own, as a container of the Deployment runs it. It can be killed with any signal (kill -9 by
 * default), started again on the same port, and waited on until `/ready` answers; every line
 * it writes (JSON, one object a line) is kept, by incarnation, for assertions and failure
 * messages.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceName } from '../../platform/services.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARENT_WATCH = fileURLToPath(new URL('./parent-watch.ts', import.meta.url));

/** A line a process wrote: its JSON fields when it was JSON, else the text alone. */
export interface LogLine {
  /** The process, e.g. `orders-2`. */
  readonly process: string;
  /** 1 for the first start, 2 after the first restart, … */
  readonly incarnation: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** The parsed line (pino: `level`, `time`, `msg`, …); undefined when not JSON. */
  readonly entry?: Readonly<Record<string, unknown>>;
}

/** How an incarnation ended. */
export interface Exit {
  readonly incarnation: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The harness sent the signal (kill, stop), as opposed to the process ending by itself. */
  readonly expected: boolean;
}

export interface ServiceProcess {
  /** `<service>-<n>`, n from 1. */
  readonly name: string;
  readonly service: ServiceName;
  /** Its HTTP port; the same across restarts. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its `/ready` (the gateway's is on its operator port). */
  readonly readyUrl: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Incarnations started so far. */
  readonly incarnation: number;
  logs(): readonly LogLine[];
  exits(): readonly Exit[];
  /** Starts an incarnation (unless one runs) and resolves once it is ready. */
  start(): Promise<void>;
  /** Resolves once `/ready` answers 200; rejects, with the process's last lines, when it exits first. */
  untilReady(timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Freezes it (SIGSTOP): its connections stay open and nothing it does moves on. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** SIGTERM, as an operator stops it; SIGKILL when it is not gone within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Its last `lines` lines, for a failure message. */
  tail(lines?: number): string;
}

export interface ServiceProcessOptions {
  readonly name: string;
  readonly service: ServiceName;
  readonly port: number;
  /** Where `/ready` is answered (the gateway's operator port); default: `port`. */
  readonly readyPort?: number;
  /** The whole environment besides PATH (a developer's own settings must not leak in). */
  readonly env: Readonly<Record<string, string>>;
  /** Called when it answers /ready: it may get traffic. */
  readonly onReady: () => void;
  /** Called when it must get no more traffic: it exited, or is being stopped. */
  readonly onGone: () => void;
  /** Called with every line as it is written. */
  readonly onLine?: (line: LogLine) => void;
  readonly readyTimeoutMs?: number;
}

export function serviceProcess(options: ServiceProcessOptions): ServiceProcess {
  const { name } = options;
  const readyUrl = `http://127.0.0.1:${options.readyPort ?? options.port}/ready`;
  const lines: LogLine[] = [];
  const exits: Exit[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let incarnation = 0;
  let signalled = false;

  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const keep = (stream: 'stdout' | 'stderr', from: NodeJS.ReadableStream, at: number) => {
    createInterface({ input: from, crlfDelay: Infinity }).on('line', (text) => {
      if (!text.trim()) return;
      let entry: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object') entry = parsed as Record<string, unknown>;
      } catch {
        // Not JSON (a crash's stack trace): kept as text.
      }
      const line = { process: name, incarnation: at, stream, text, ...(entry ? { entry } : {}) };
      lines.push(line);
      options.onLine?.(line);
    });
  };

  const spawnOne = () => {
    incarnation++;
    signalled = false;
    const current = incarnation;
    const started = spawn(process.execPath, ['--import', PARENT_WATCH, 'platform/start.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      // stdin stays open for parent-watch: it closes when this process is gone.
      stdio: ['pipe', 'pipe', 'pipe'],
      // A group of its own: a Ctrl-C at the terminal reaches the harness, which stops it.
      detached: true,
    });
    child = started;
    keep('stdout', started.stdout, current);
    keep('stderr', started.stderr, current);
    exited = new Promise((resolve) => {
      started.once('exit', (code, signal) => {
        exits.push({ incarnation: current, code, signal, expected: signalled });
        options.onGone();
        resolve();
      });
    });
  };

  const tail = (count = 30) =>
    lines
      .slice(-count)
      .map((line) => `  [${line.process}#${line.incarnation}] ${line.text}`)
      .join('\n');

  const untilReady = async (timeoutMs = options.readyTimeoutMs ?? 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!running()) {
        const exit = exits.at(-1);
        throw new Error(
          `${name} exited (${exit?.signal ?? exit?.code}) before it was ready:\n${tail()}`,
        );
      }
      const ok = await fetch(readyUrl, { signal: AbortSignal.timeout(3000) })
        .then((response) => response.ok)
        .catch(() => false);
      if (ok) {
        options.onReady();
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${tail()}`);
      }
      await sleep(100);
    }
  };

  const signal = async (sig: NodeJS.Signals) => {
    if (!running()) return;
    signalled = true;
    child!.kill(sig);
    await exited;
  };

  return {
    name,
    service: options.service,
    port: options.port,
    url: `http://127.0.0.1:${options.port}`,
    readyUrl,
    get pid() {
      return running() ? child!.pid : undefined;
    },
    get running() {
      return running();
    },
    get incarnation() {
      return incarnation;
    },
    logs: () => lines,
    exits: () => exits,
    async start() {
      if (!running()) spawnOne();
      await untilReady();
    },
    untilReady,
    kill: (sig = 'SIGKILL') => signal(sig),
    pause: () => void (running() && child!.kill('SIGSTOP')),
    resume: () => void (running() && child!.kill('SIGCONT')),
    async stop(graceMs = 20_000) {
      if (!running()) return;
      // Out of rotation first, as Kubernetes ends a pod's endpoints before its SIGTERM.
      options.onGone();
      const timer = setTimeout(() => child?.kill('SIGKILL'), graceMs);
      await signal('SIGTERM');
      clearTimeout(timer);
    },
    tail,
  };
}
