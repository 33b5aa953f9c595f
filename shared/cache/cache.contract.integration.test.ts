/**
 * The cache contract (shared/testing/cache-contract.ts) on real Redis, and how the Redis
 * adapter lays keys out there: `<prefix><key>` with the TTL in milliseconds, a rate-limit
 * window as a sorted set shared by two clients (as between processes). The in-memory
 * adapter is cache.contract.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describeCacheContract } from '../testing/cache-contract.ts';
import { testLogger, testRedis } from '../testing/index.ts';
import { startCache } from './index.ts';
import type { Cache } from './index.ts';

const logger = testLogger();
const redis = testRedis();

describeCacheContract('Redis (startCache with a url)', {
  mode: 'redis',
  newPrefix: () => `${redis.prefix}${randomBytes(4).toString('hex')}:`,
  open: (prefix) => startCache({ url: redis.url, prefix, logger, connectTimeoutMs: 3000 }),
});

// The gateway's caches send each event-loop turn's commands in one write.
describeCacheContract('Redis (startCache with a url, auto-pipelining)', {
  mode: 'redis',
  newPrefix: () => `${redis.prefix}${randomBytes(4).toString('hex')}:`,
  open: (prefix) =>
    startCache({ url: redis.url, prefix, logger, connectTimeoutMs: 3000, autoPipelining: true }),
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
