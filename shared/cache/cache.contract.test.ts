/**
 * The cache contract (shared/testing/cache-contract.ts) on the in-memory adapter, what is
 * particular to it (LRU eviction, caches sharing a prefix), and failing fast on an
 * unreachable Redis. The contract on real Redis is cache.contract.integration.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { describeCacheContract } from '../testing/cache-contract.ts';
import { testLogger } from '../testing/index.ts';
import { CacheUnavailableError, createMemoryCache, startCache } from './index.ts';
import type { Cache } from './index.ts';

const logger = testLogger();

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

describeCacheContract('memory (createMemoryCache)', {
  mode: 'memory',
  newPrefix: () => `mem:${randomBytes(4).toString('hex')}:`,
  open: async (prefix) => createMemoryCache(prefix),
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
