/**
 * The cache contract, proven against both adapters — in-memory LRU and real Redis: values
 * round-trip, expire after their TTL, `delete` counts what existed, and every key lives
 * under the cache's prefix so two caches never see each other's entries. The atomic
 * primitives hold under concurrency: of many racing compare-and-swaps exactly one wins, and
 * a sliding-window rate limit admits exactly its limit. Adapter-specific behaviour (Redis
 * key layout and a window shared by two clients, memory LRU eviction and caches sharing a
 * prefix, failing fast on an unreachable Redis) follows the contract.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { testLogger, testRedis } from '../testing/index.ts';
import { CacheUnavailableError, createMemoryCache, startCache } from './index.ts';
import type { Cache } from './index.ts';

const logger = testLogger();
const redis = testRedis();

interface Adapter {
  readonly mode: Cache['mode'];
  /** A prefix no other test uses. */
  newPrefix(): string;
  open(prefix: string): Promise<Cache>;
}

const adapters: [string, Adapter][] = [
  [
    'memory (createMemoryCache)',
    {
      mode: 'memory',
      newPrefix: () => `mem:${randomBytes(4).toString('hex')}:`,
      open: async (prefix) => createMemoryCache(prefix),
    },
  ],
  [
    'Redis (startCache with a url)',
    {
      mode: 'redis',
      newPrefix: () => `${redis.prefix}${randomBytes(4).toString('hex')}:`,
      open: (prefix) => startCache({ url: redis.url, prefix, logger, connectTimeoutMs: 3000 }),
    },
  ],
];

// First in the file: ioredis keeps a 2 s timer alive after a failed connect, which has run
// out by the time the rest of the file is done (so jest exits promptly).
describe('startCache with an unreachable Redis', () => {
  it('rejects quickly with CacheUnavailableError naming REDIS_URL, hiding the password', async () => {
    const started = Date.now();

    const error = await startCache({
      url: 'redis://:hunter2@127.0.0.1:1',
      prefix: 'x:',
      logger,
      connectTimeoutMs: 3000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(Date.now() - started).toBeLessThan(2500);
    expect(error).toBeInstanceOf(CacheUnavailableError);
    expect((error as Error).message).toMatch(
      /^REDIS_URL: cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    );
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe.each(adapters)('cache contract: %s', (_name, adapter) => {
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

      expect(await cache.hitRateLimit('slide', limits)).toMatchObject({ allowed: true, count: 2 });
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

describe('Redis adapter', () => {
  let raw: Redis;
  let cache: Cache;
  const prefix = `${redis.prefix}layout:`;

  beforeAll(async () => {
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await raw.connect();
    cache = await startCache({ url: redis.url, prefix, logger });
  });

  afterAll(async () => {
    await cache?.stop();
    await raw?.quit();
  });

  it('stores each key in Redis as <prefix><key> with the TTL in milliseconds', async () => {
    await cache.set('user:42', 'cached profile', 5000);

    expect(await raw.get(`${prefix}user:42`)).toBe('cached profile');
    expect(await raw.get('user:42')).toBeNull();
    const pttl = await raw.pttl(`${prefix}user:42`);
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
  });

  it('deletes the prefixed key in Redis', async () => {
    await raw.set(`${prefix}written-elsewhere`, 'v');

    expect(await cache.get('written-elsewhere')).toBe('v');
    expect(await cache.delete('written-elsewhere')).toBe(1);
    expect(await raw.exists(`${prefix}written-elsewhere`)).toBe(0);
  });

  it('swaps the prefixed key in Redis, with its TTL, and deletes it when next is null', async () => {
    await raw.set(`${prefix}refresh`, 'written elsewhere', 'PX', 10_000);

    expect(await cache.compareAndSwap('refresh', 'written elsewhere', 'rotated', 5000)).toBe(true);

    expect(await raw.get(`${prefix}refresh`)).toBe('rotated');
    expect(await raw.exists('refresh')).toBe(0);
    const pttl = await raw.pttl(`${prefix}refresh`);
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);

    expect(await cache.compareAndSwap('refresh', 'rotated', null)).toBe(true);
    expect(await raw.exists(`${prefix}refresh`)).toBe(0);
  });

  it('reads the prefixed keys with getMany', async () => {
    await raw.set(`${prefix}many:1`, 'one', 'PX', 10_000);
    await raw.set(`${prefix}many:2`, 'two', 'PX', 10_000);

    expect(await cache.getMany('many:2', 'many:3', 'many:1')).toEqual(['two', null, 'one']);
  });

  it('keeps a rate-limit window as a sorted set at <prefix><key> expiring with the window', async () => {
    await cache.hitRateLimit('rl:ip', { windowMs: 3000, limit: 5 });
    await cache.hitRateLimit('rl:ip', { windowMs: 3000, limit: 5 });

    expect(await raw.type(`${prefix}rl:ip`)).toBe('zset');
    expect(await raw.zcard(`${prefix}rl:ip`)).toBe(2);
    expect(await raw.exists('rl:ip')).toBe(0);
    const pttl = await raw.pttl(`${prefix}rl:ip`);
    expect(pttl).toBeGreaterThan(2000);
    expect(pttl).toBeLessThanOrEqual(3000);

    expect(await cache.delete('rl:ip')).toBe(1);
    expect(await raw.exists(`${prefix}rl:ip`)).toBe(0);
  });

  it('shares one window between two clients (as between processes)', async () => {
    const other = await startCache({ url: redis.url, prefix, logger });
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? cache : other).hitRateLimit('rl:shared', { windowMs: 5000, limit: 10 }),
        ),
      );

      expect(results.filter((r) => r.allowed)).toHaveLength(10);
    } finally {
      await other.stop();
    }
  });
});

describe('memory adapter', () => {
  const opened: Cache[] = [];
  const uniquePrefix = () => `mem:${randomBytes(4).toString('hex')}:`;

  function open(prefix: string, maxEntries?: number): Cache {
    const cache = createMemoryCache(prefix, maxEntries);
    opened.push(cache);
    return cache;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.stop()));
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = open(uniquePrefix(), 3);
    await cache.set('a', '1', 10_000);
    await cache.set('b', '2', 10_000);
    await cache.set('c', '3', 10_000);
    expect(await cache.get('a')).toBe('1'); // a is now the most recently used

    await cache.set('d', '4', 10_000); // over the limit: b, the least recently used, goes

    expect(await cache.get('b')).toBeNull();
    expect(await cache.get('a')).toBe('1');
    expect(await cache.get('c')).toBe('3');
    expect(await cache.get('d')).toBe('4');
  });

  it('counts overwriting a key as a use', async () => {
    const cache = open(uniquePrefix(), 2);
    await cache.set('a', '1', 10_000);
    await cache.set('b', '2', 10_000);
    await cache.set('a', '1 again', 10_000);

    await cache.set('c', '3', 10_000);

    expect(await cache.get('b')).toBeNull();
    expect(await cache.get('a')).toBe('1 again');
    expect(await cache.get('c')).toBe('3');
  });

  it('is what startCache gives without a url, honouring maxMemoryEntries', async () => {
    const prefix = uniquePrefix();
    const cache = await startCache({ url: undefined, prefix, logger, maxMemoryEntries: 1 });
    opened.push(cache);
    expect(cache.mode).toBe('memory');
    expect(cache.prefix).toBe(prefix);

    await cache.set('first', '1', 10_000);
    await cache.set('second', '2', 10_000);

    expect(await cache.get('first')).toBeNull();
    expect(await cache.get('second')).toBe('2');
  });

  it('forgets everything on stop', async () => {
    const prefix = uniquePrefix();
    const cache = createMemoryCache(prefix);
    await cache.set('k', 'v', 10_000);

    await cache.stop();

    expect(await cache.get('k')).toBeNull();
    expect(await open(prefix).get('k')).toBeNull();
  });

  it('shares entries, swaps and rate limits between caches with the same prefix', async () => {
    const prefix = uniquePrefix();
    const auth = open(prefix);
    const gateway = open(prefix);

    await auth.set('revoked:t1', '1', 10_000);
    expect(await gateway.get('revoked:t1')).toBe('1');
    expect(await gateway.getMany('revoked:t1', 'revoked:t2')).toEqual(['1', null]);

    expect(await gateway.compareAndSwap('refresh', null, 'r1', 10_000)).toBe(true);
    expect(await auth.compareAndSwap('refresh', null, 'r2', 10_000)).toBe(false);
    expect(await auth.get('refresh')).toBe('r1');

    const limits = { windowMs: 10_000, limit: 2 };
    await auth.hitRateLimit('login', limits);
    expect(await gateway.hitRateLimit('login', limits)).toMatchObject({ allowed: true, count: 2 });
    expect((await auth.hitRateLimit('login', limits)).allowed).toBe(false);

    expect(await gateway.delete('revoked:t1')).toBe(1);
    expect(await auth.get('revoked:t1')).toBeNull();
  });

  it('does not share between different prefixes', async () => {
    const one = open(uniquePrefix());
    const two = open(uniquePrefix());

    await one.set('k', 'one', 10_000);

    expect(await two.get('k')).toBeNull();
  });

  it('keeps shared entries until the last cache with the prefix stops', async () => {
    const prefix = uniquePrefix();
    const first = createMemoryCache(prefix);
    const second = createMemoryCache(prefix);
    await first.set('k', 'v', 10_000);

    await first.stop();
    await first.stop(); // stopping twice releases one share only

    expect(await second.get('k')).toBe('v');

    await second.stop();

    expect(await open(prefix).get('k')).toBeNull();
  });

  it('sizes a shared prefix by its first cache', async () => {
    const prefix = uniquePrefix();
    open(prefix, 2);
    const later = open(prefix, 100);

    await later.set('a', '1', 10_000);
    await later.set('b', '2', 10_000);
    await later.set('c', '3', 10_000);

    expect(await later.getMany('a', 'b', 'c')).toEqual([null, '2', '3']);
  });
});
