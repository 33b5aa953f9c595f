/**
 * The cache contract, proven against both adapters — in-memory LRU and real Redis: values
 * round-trip, expire after their TTL, `delete` counts what existed, and every key lives
 * under the cache's prefix so two caches never see each other's entries. Adapter-specific
 * behaviour (Redis key layout, memory LRU eviction, failing fast on an unreachable Redis)
 * follows the contract.
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
});

describe('memory adapter', () => {
  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = createMemoryCache('lru:', 3);
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
    const cache = createMemoryCache('lru:', 2);
    await cache.set('a', '1', 10_000);
    await cache.set('b', '2', 10_000);
    await cache.set('a', '1 again', 10_000);

    await cache.set('c', '3', 10_000);

    expect(await cache.get('b')).toBeNull();
    expect(await cache.get('a')).toBe('1 again');
    expect(await cache.get('c')).toBe('3');
  });

  it('is what startCache gives without a url, honouring maxMemoryEntries', async () => {
    const cache = await startCache({ url: undefined, prefix: 'svc:', logger, maxMemoryEntries: 1 });
    expect(cache.mode).toBe('memory');
    expect(cache.prefix).toBe('svc:');

    await cache.set('first', '1', 10_000);
    await cache.set('second', '2', 10_000);

    expect(await cache.get('first')).toBeNull();
    expect(await cache.get('second')).toBe('2');
  });

  it('forgets everything on stop', async () => {
    const cache = createMemoryCache('stop:');
    await cache.set('k', 'v', 10_000);

    await cache.stop();

    expect(await cache.get('k')).toBeNull();
  });
});
