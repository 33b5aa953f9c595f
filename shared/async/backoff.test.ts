/**
 * The backoff helper, deterministic: the random source and the sleep are the test's. Delays
 * are full jitter under a ceiling that doubles from `baseMs` up to `maxMs`; `retry` calls
 * again after each such delay until the call succeeds, `attempts` are spent, or
 * `shouldRetry` refuses.
 */
import { backoffDelay, retry } from './backoff.ts';

/** A random source that returns `values` in turn. */
function randoms(...values: number[]): () => number {
  let next = 0;
  return () => values[next++ % values.length]!;
}

describe('backoffDelay', () => {
  const backoff = { baseMs: 100, maxMs: 1000 };

  it('draws from zero up to a ceiling that doubles per attempt and stops at maxMs', () => {
    const almostOne = 0.999_999;
    const ceilings = [1, 2, 3, 4, 5, 6, 50].map((attempt) =>
      backoffDelay(attempt, { ...backoff, random: () => almostOne }),
    );
    expect(ceilings).toEqual([99, 199, 399, 799, 999, 999, 999]);
  });

  it('is the random fraction of the ceiling: full jitter, down to no wait at all', () => {
    expect(backoffDelay(3, { ...backoff, random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { ...backoff, random: () => 0.5 })).toBe(200);
    expect(backoffDelay(3, { ...backoff, random: () => 0.25 })).toBe(100);
  });

  it('stays finite for attempt numbers no loop reaches', () => {
    expect(backoffDelay(10_000, { ...backoff, random: () => 0.5 })).toBe(500);
    expect(backoffDelay(0, { ...backoff, random: () => 0.5 })).toBe(50);
  });

  it('uses Math.random when no source is given, within the ceiling', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(2, backoff);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(200);
    }
  });
});

describe('retry', () => {
  /** A call that fails `failures` times, then answers its attempt number. */
  function failingTimes(failures: number, error: () => Error = () => new Error('not yet')) {
    const calls: number[] = [];
    const run = async (attempt: number) => {
      calls.push(attempt);
      if (calls.length <= failures) throw error();
      return attempt;
    };
    return { run, calls };
  }

  it('calls again after each jittered delay until the call succeeds', async () => {
    const slept: number[] = [];
    const retried: [string, number, number][] = [];
    const { run, calls } = failingTimes(3);

    const result = await retry(run, {
      baseMs: 100,
      maxMs: 1000,
      random: randoms(0.5, 0.25, 0.75),
      sleep: async (ms) => void slept.push(ms),
      onRetry: (error, attempt, delayMs) =>
        retried.push([(error as Error).message, attempt, delayMs]),
    });

    expect(result).toBe(4);
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(slept).toEqual([50, 50, 300]);
    expect(retried).toEqual([
      ['not yet', 1, 50],
      ['not yet', 2, 50],
      ['not yet', 3, 300],
    ]);
  });

  it('rejects with the last failure once `attempts` calls failed, without sleeping after it', async () => {
    const slept: number[] = [];
    let n = 0;
    const { run, calls } = failingTimes(10, () => new Error(`failure ${++n}`));

    await expect(
      retry(run, {
        attempts: 3,
        baseMs: 10,
        maxMs: 10,
        random: () => 0,
        sleep: async (ms) => void slept.push(ms),
      }),
    ).rejects.toThrow('failure 3');
    expect(calls).toEqual([1, 2, 3]);
    expect(slept).toEqual([0, 0]);
  });

  it('rejects at once when shouldRetry refuses the failure', async () => {
    const slept: number[] = [];
    const { run, calls } = failingTimes(5, () => new TypeError('a bug'));

    await expect(
      retry(run, {
        baseMs: 10,
        maxMs: 10,
        shouldRetry: (error) => !(error instanceof TypeError),
        sleep: async (ms) => void slept.push(ms),
      }),
    ).rejects.toThrow(TypeError);
    expect(calls).toEqual([1]);
    expect(slept).toEqual([]);
  });

  it('resolves at the first call without waiting', async () => {
    const slept: number[] = [];
    const sleep = async (ms: number) => void slept.push(ms);
    await expect(retry(async () => 'ok', { baseMs: 10, maxMs: 10, sleep })).resolves.toBe('ok');
    expect(slept).toEqual([]);
  });
});
