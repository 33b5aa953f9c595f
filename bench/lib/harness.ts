/**
 * Benchmark plumbing: progress lines on stderr, and clean-up that runs on normal exit, on
 * failure and on Ctrl-C / SIGTERM (a second signal exits at once).
 */
import { performance } from 'node:perf_hooks';

const started = performance.now();

/** A progress line on stderr, stamped with the time since start. */
export function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stderr.write(`[bench +${seconds.padStart(5)}s] ${message}\n`);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface CleanupStep {
  readonly name: string;
  readonly run: () => Promise<void>;
}

const steps: CleanupStep[] = [];
let cleaning: Promise<void> | undefined;

/** Registers a clean-up step; steps run in reverse order of registration. */
export function onCleanup(name: string, run: () => Promise<void>): void {
  steps.push({ name, run });
}

/** Removes a step registered earlier (because its resource was closed in the normal course). */
export function offCleanup(name: string): void {
  const index = steps.findIndex((step) => step.name === name);
  if (index >= 0) steps.splice(index, 1);
}

/** Runs every registered step once, newest first; each is bounded by `timeoutMs`. */
export function cleanup(timeoutMs = 15_000): Promise<void> {
  cleaning ??= (async () => {
    for (const step of steps.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          step.run(),
          new Promise<void>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`timed out after ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } catch (error) {
        progress(`clean-up: ${step.name} failed: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  })();
  return cleaning;
}

let signalled = false;

/** True once Ctrl-C / SIGTERM arrived: failures after it are the shutdown's, not the run's. */
export function interrupted(): boolean {
  return signalled;
}

/** Ctrl-C / SIGTERM: clean up, then exit 130 / 143. A second signal exits immediately. */
export function cleanUpOnSignals(): void {
  const handle = (signal: NodeJS.Signals, code: number) => () => {
    if (signalled) {
      process.stderr.write(`[bench] second ${signal}: exiting without clean-up\n`);
      process.exit(code);
    }
    signalled = true;
    progress(`${signal}: stopping and cleaning up (again to force)`);
    void cleanup().finally(() => process.exit(code));
  };
  process.on('SIGINT', handle('SIGINT', 130));
  process.on('SIGTERM', handle('SIGTERM', 143));
}

/**
 * Runs a benchmark's `main` and exits with its code; a failure is printed, cleaned up after
 * and exits 1 (unless a signal is already stopping the run, whose handler cleans up).
 */
export function runBenchmark(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    async (error: unknown) => {
      if (interrupted()) return;
      progress(`failed: ${(error as Error).stack ?? String(error)}`);
      await cleanup();
      process.exit(1);
    },
  );
}
