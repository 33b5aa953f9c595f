/**
 * The cache contract every adapter keeps (in-memory LRU and Redis): values round-trip,
 * expire after their TTL, `delete` counts what existed, and every key lives under the
 * cache's prefix so two caches never see each other's entries. The atomic primitives hold
 * under concurrency: of many racing compare-and-swaps exactly one wins, and a sliding-window
 * rate limit admits exactly its limit. Each adapter's test file declares it for itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../cache/index.ts';

/** How the contract opens caches of one adapter. */
export interface CacheAdapter {
  readonly mode: Cache['mode'];
  /** A prefix no other test uses. */
  newPrefix(): string;
  open(prefix: string): Promise<Cache>;
}

/** Declares the contract's tests, as `cache contract: <name>`, for one adapter. */
export function describeCacheContract(name: string, adapter: CacheAdapter): void {
  describe(`cache contract: ${name}`, () => {
    const opened: Cache[] = [];
    let cache: Cache;
    let prefix: string;

    async function open(prefix = adapter.newPrefix()): Promise<Cache> {
      const c = await adapter.open(prefix);
      opened.push(c);
      return c;
    }

    beforeEach(async () => {
      prefix = adapter.newPrefix();
      cache = await open(prefix);
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.stop()));
    });

    it('reports its mode and prefix', () => {
      expect(cache.mode).toBe(adapter.mode);
      expect(cache.prefix).toBe(prefix);
    });

    it('answers null for a key never set', async () => {
      expect(await cache.get('missing')).toBeNull();
    });

    it('returns what was set, and the latest value after an overwrite', async () => {
      await cache.set('user:1', '{"name":"Ada"}', 10_000);
      expect(await cache.get('user:1')).toBe('{"name":"Ada"}');

      await cache.set('user:1', '{"name":"Grace"}', 10_000);
      expect(await cache.get('user:1')).toBe('{"name":"Grace"}');
    });

    it('keeps the empty string as a value (not a miss)', async () => {
      await cache.set('empty', '', 10_000);
      expect(await cache.get('empty')).toBe('');
    });

    it('deletes keys and resolves to how many existed', async () => {
      await cache.set('a', '1', 10_000);
      await cache.set('b', '2', 10_000);
      await cache.set('c', '3', 10_000);

      expect(await cache.delete('a', 'b', 'never-set')).toBe(2);

      expect(await cache.get('a')).toBeNull();
      expect(await cache.get('b')).toBeNull();
      expect(await cache.get('c')).toBe('3');
      expect(await cache.delete('a')).toBe(0);
      expect(await cache.delete()).toBe(0);
    });

    it('forgets a value once its TTL has passed', async () => {
      await cache.set('short', 'v', 80);
      await cache.set('long', 'v', 10_000);
      expect(await cache.get('short')).toBe('v');

      await sleep(250);

      expect(await cache.get('short')).toBeNull();
      expect(await cache.get('long')).toBe('v');
      expect(await cache.delete('short')).toBe(0);
    });

    it('restarts the TTL when a key is set again', async () => {
      await cache.set('k', 'first', 80);
      await cache.set('k', 'second', 10_000);

      await sleep(250);

      expect(await cache.get('k')).toBe('second');
    });

    it('keeps caches with different prefixes apart', async () => {
      const users = await open();
      const orders = await open();
      expect(users.prefix).not.toBe(orders.prefix);

      await users.set('shared-key', 'from users', 10_000);
      await orders.set('shared-key', 'from orders', 10_000);
      await users.set('only-users', 'x', 10_000);

      expect(await users.get('shared-key')).toBe('from users');
      expect(await orders.get('shared-key')).toBe('from orders');
      expect(await orders.get('only-users')).toBeNull();
      expect(await orders.delete('only-users')).toBe(0);

      expect(await orders.delete('shared-key')).toBe(1);
      expect(await users.get('shared-key')).toBe('from users');
    });

    it('reads many keys in order in one call, null for missing and expired ones', async () => {
      await cache.set('a', '1', 10_000);
      await cache.set('b', '', 10_000);
      await cache.set('short', 'gone soon', 80);
      await sleep(250);

      expect(await cache.getMany('b', 'never-set', 'a', 'short')).toEqual(['', null, '1', null]);
      expect(await cache.getMany()).toEqual([]);
    });

    describe('compareAndSwap', () => {
      it('swaps only when the current value is the expected one', async () => {
        await cache.set('token', 'a', 10_000);

        expect(await cache.compareAndSwap('token', 'b', 'c', 10_000)).toBe(false);
        expect(await cache.get('token')).toBe('a');

        expect(await cache.compareAndSwap('token', 'a', 'c', 10_000)).toBe(true);
        expect(await cache.get('token')).toBe('c');
        expect(await cache.compareAndSwap('token', 'a', 'd', 10_000)).toBe(false);
        expect(await cache.get('token')).toBe('c');
      });

      it('expects null for a missing key, which is not the empty string', async () => {
        expect(await cache.compareAndSwap('fresh', '', 'x', 10_000)).toBe(false);
        expect(await cache.get('fresh')).toBeNull();

        expect(await cache.compareAndSwap('fresh', null, 'x', 10_000)).toBe(true);
        expect(await cache.get('fresh')).toBe('x');
        expect(await cache.compareAndSwap('fresh', null, 'y', 10_000)).toBe(false);
        expect(await cache.get('fresh')).toBe('x');
      });

      it('deletes the key when next is null', async () => {
        await cache.set('session', 'live', 10_000);

        expect(await cache.compareAndSwap('session', 'other', null)).toBe(false);
        expect(await cache.get('session')).toBe('live');

        expect(await cache.compareAndSwap('session', 'live', null)).toBe(true);
        expect(await cache.get('session')).toBeNull();
        expect(await cache.delete('session')).toBe(0);
      });

      it('sees an expired value as null', async () => {
        await cache.set('old', 'stale', 80);
        await sleep(250);

        expect(await cache.compareAndSwap('old', 'stale', 'x', 10_000)).toBe(false);
        expect(await cache.compareAndSwap('old', null, 'x', 10_000)).toBe(true);
        expect(await cache.get('old')).toBe('x');
      });

      it('stores next with its TTL', async () => {
        expect(await cache.compareAndSwap('short', null, 'v', 80)).toBe(true);
        expect(await cache.compareAndSwap('long', null, 'v', 10_000)).toBe(true);
        expect(await cache.get('short')).toBe('v');

        await sleep(250);

        expect(await cache.get('short')).toBeNull();
        expect(await cache.get('long')).toBe('v');
      });

      it('rejects storing a value without ttlMs, changing nothing', async () => {
        await expect(cache.compareAndSwap('k', null, 'v')).rejects.toThrow(TypeError);
        expect(await cache.get('k')).toBeNull();
      });

      it('lets exactly one of 20 concurrent swaps from the same value win', async () => {
        await cache.set('refresh', 'token-0', 10_000);

        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            cache.compareAndSwap('refresh', 'token-0', `token-${i + 1}`, 10_000),
          ),
        );

        const winners = results.flatMap((won, i) => (won ? [i + 1] : []));
        expect(winners).toHaveLength(1);
        expect(await cache.get('refresh')).toBe(`token-${winners[0]}`);
      });
    });

    describe('hitRateLimit', () => {
      const window = { windowMs: 400, limit: 3 };

      it('allows limit hits, then refuses until the oldest leaves the window', async () => {
        const started = Date.now();
        const hits = [];
        for (let i = 0; i < 4; i++) hits.push(await cache.hitRateLimit('login:ada', window));

        expect(hits.slice(0, 3)).toEqual([
          { allowed: true, count: 1, retryAfterMs: 0 },
          { allowed: true, count: 2, retryAfterMs: 0 },
          { allowed: true, count: 3, retryAfterMs: 0 },
        ]);
        const refused = hits[3]!;
        expect(refused.allowed).toBe(false);
        expect(refused.count).toBe(3);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(400);
        expect(refused.retryAfterMs).toBeGreaterThanOrEqual(400 - (Date.now() - started) - 20);

        await sleep(450);

        expect(await cache.hitRateLimit('login:ada', window)).toEqual({
          allowed: true,
          count: 1,
          retryAfterMs: 0,
        });
      });

      it('slides: a hit leaves the window windowMs after it was made, not at a bucket edge', async () => {
        const limits = { windowMs: 400, limit: 2 };
        await cache.hitRateLimit('slide', limits); // t≈0
        await sleep(250);
        await cache.hitRateLimit('slide', limits); // t≈250
        await sleep(200); // t≈450: the first hit has left, the second has not

        expect(await cache.hitRateLimit('slide', limits)).toMatchObject({
          allowed: true,
          count: 2,
        });
        const refused = await cache.hitRateLimit('slide', limits);
        expect(refused).toMatchObject({ allowed: false, count: 2 });
        expect(refused.retryAfterMs).toBeLessThanOrEqual(400 - 200 + 20);
      });

      it('admits exactly limit of 50 concurrent hits', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, () =>
            cache.hitRateLimit('burst', { windowMs: 5000, limit: 10 }),
          ),
        );

        const allowed = results.filter((r) => r.allowed);
        expect(allowed).toHaveLength(10);
        expect(allowed.map((r) => r.count).sort((a, b) => a - b)).toEqual([
          1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ]);
        expect(results.filter((r) => !r.allowed).every((r) => r.count === 10)).toBe(true);
      });

      it('takes several hits at once, all or none (a batch of operations)', async () => {
        const limits = { windowMs: 10_000, limit: 10 };
        expect(await cache.hitRateLimit('batch', { ...limits, hits: 7 })).toEqual({
          allowed: true,
          count: 7,
          retryAfterMs: 0,
        });
        // 7 + 4 > 10: refused whole, nothing taken, and 3 still fit.
        const refused = await cache.hitRateLimit('batch', { ...limits, hits: 4 });
        expect(refused).toMatchObject({ allowed: false, count: 7 });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(10_000);
        expect(await cache.hitRateLimit('batch', { ...limits, hits: 3 })).toMatchObject({
          allowed: true,
          count: 10,
        });
        // More than the limit can never fit: refused, retry after a whole window.
        expect(await cache.hitRateLimit('huge', { ...limits, hits: 11 })).toEqual({
          allowed: false,
          count: 0,
          retryAfterMs: 10_000,
        });
      });

      it('does not record refused hits', async () => {
        const limits = { windowMs: 400, limit: 1 };
        expect((await cache.hitRateLimit('refused', limits)).allowed).toBe(true); // t≈0
        await sleep(250);
        expect((await cache.hitRateLimit('refused', limits)).allowed).toBe(false); // t≈250
        await sleep(200); // t≈450: only a recorded refusal would still be in the window

        expect(await cache.hitRateLimit('refused', limits)).toEqual({
          allowed: true,
          count: 1,
          retryAfterMs: 0,
        });
      });

      it('starts a new window when the key is deleted', async () => {
        const limits = { windowMs: 10_000, limit: 1 };
        await cache.hitRateLimit('reset', limits);
        expect((await cache.hitRateLimit('reset', limits)).allowed).toBe(false);

        expect(await cache.delete('reset')).toBe(1);

        expect(await cache.hitRateLimit('reset', limits)).toEqual({
          allowed: true,
          count: 1,
          retryAfterMs: 0,
        });
      });

      it('rejects a window or limit that is not a positive integer', async () => {
        for (const bad of [
          { windowMs: 0, limit: 1 },
          { windowMs: 1000, limit: 0 },
          { windowMs: 1.5, limit: 1 },
          { windowMs: 1000, limit: Number.NaN },
        ]) {
          await expect(cache.hitRateLimit('bad', bad)).rejects.toThrow(RangeError);
        }
        expect(await cache.delete('bad')).toBe(0);
      });
    });

    it('keeps a rate-limit log and a value apart under one key, as Redis types do', async () => {
      await cache.hitRateLimit('log', { windowMs: 10_000, limit: 5 });
      await cache.set('value', 'v', 10_000);

      await expect(cache.get('log')).rejects.toThrow(/WRONGTYPE/);
      await expect(cache.compareAndSwap('log', null, 'x', 10_000)).rejects.toThrow(/WRONGTYPE/);
      expect(await cache.getMany('log', 'value')).toEqual([null, 'v']);
      await expect(cache.hitRateLimit('value', { windowMs: 10_000, limit: 5 })).rejects.toThrow(
        /WRONGTYPE/,
      );

      await cache.set('log', 'now a value', 10_000);
      expect(await cache.get('log')).toBe('now a value');
    });

    it('keeps swaps and rate limits of different prefixes apart', async () => {
      const users = await open();
      const orders = await open();
      const limits = { windowMs: 10_000, limit: 1 };

      expect(await users.compareAndSwap('k', null, 'users', 10_000)).toBe(true);
      expect(await orders.compareAndSwap('k', null, 'orders', 10_000)).toBe(true);
      expect(await users.getMany('k')).toEqual(['users']);
      expect(await orders.getMany('k')).toEqual(['orders']);

      expect((await users.hitRateLimit('rl', limits)).allowed).toBe(true);
      expect((await orders.hitRateLimit('rl', limits)).allowed).toBe(true);
      expect((await users.hitRateLimit('rl', limits)).allowed).toBe(false);
    });

    it('answers ping while open', async () => {
      await expect(cache.ping()).resolves.toBeUndefined();
    });
  });
}
