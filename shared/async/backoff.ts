/**
 * Exponential backoff with full jitter, the one retry delay of the kernel and the services.
 *
 * Full jitter (a delay drawn uniformly from 0 up to the exponential ceiling) rather than
 * decorrelated jitter: it spreads the retries of many clients that failed at the same moment
 * (every consumer of a broker that restarted, every replica of a relay) as widely as any
 * scheme does, it is a function of the attempt number alone, so a caller that counts its own
 * attempts (ioredis' `retryStrategy`, a loop that retries some failures without counting
 * them) needs no state beside it, and the sleep it asks for is never longer than the
 * ceiling, so every call site keeps the longest wait it had.
 */
import { setTimeout as timer } from 'node:timers/promises';

export interface Backoff {
  /** Ceiling of the first retry's delay; it doubles per attempt. */
  baseMs: number;
  /** Ceiling that doubling stops at. */
  maxMs: number;
  /** A number in [0, 1); `Math.random` unless a test fixes it. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): uniform in
 * [0, min(maxMs, baseMs × 2^(attempt − 1))).
 */
export function backoffDelay(attempt: number, backoff: Backoff): number {
  const doublings = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** doublings);
  return Math.floor((backoff.random ?? Math.random)() * ceiling);
}

export interface RetryOptions extends Backoff {
  /** Calls at most, the first included; unbounded when omitted (stop with `shouldRetry`). */
  attempts?: number;
  /** Whether the failure of call number `attempt` is worth another call. @default always */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Told of each failure that will be retried, and how long until the retry. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** How to wait; a test passes one that does not. @default a timer */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Calls `run` until it resolves, waiting a `backoffDelay` between calls; rejects with the
 * last failure once `attempts` calls failed or `shouldRetry` says no.
 */
export async function retry<T>(
  run: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const wait = options.sleep ?? ((ms: number) => timer(ms));
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      const last = options.attempts !== undefined && attempt >= options.attempts;
      if (last || !(options.shouldRetry?.(error, attempt) ?? true)) throw error;
      const delayMs = backoffDelay(attempt, options);
      options.onRetry?.(error, attempt, delayMs);
      await wait(delayMs);
    }
  }
}
