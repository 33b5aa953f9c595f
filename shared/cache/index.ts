/**
 * The cache port: string values with a TTL, every key under the service's prefix. Two
 * adapters share one contract (tested against both): Redis (ioredis) for real deployments
 * and an in-memory LRU for embedded mode. A cache is an optimisation: callers treat a miss
 * and a failure alike and fall back to the source of truth.
 */
import { Redis } from 'ioredis';
import { redactUrl } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { withTimeout } from '../async/index.ts';

export interface Cache {
  readonly mode: 'redis' | 'memory';
  /** Prefix applied to every key (e.g. `eventgraph:users:`). */
  readonly prefix: string;
  get(key: string): Promise<string | null>;
  /** Stores `value` for `ttlMs` milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(...keys: string[]): Promise<number>;
  ping(): Promise<void>;
  stop(): Promise<void>;
}

export interface CacheOptions {
  /** `redis://` URL; unset → in-memory cache. */
  url?: string | undefined;
  /** Key prefix, normally `eventgraph:<service>:`. */
  prefix: string;
  logger: Logger;
  /** Entries kept by the in-memory adapter before the least recently used go. @default 10000 */
  maxMemoryEntries?: number;
  /** How long start-up waits for Redis. @default 5000 */
  connectTimeoutMs?: number;
}

export class CacheUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CacheUnavailableError';
  }
}

export async function startCache(options: CacheOptions): Promise<Cache> {
  return options.url
    ? startRedisCache({ ...options, url: options.url })
    : createMemoryCache(options.prefix, options.maxMemoryEntries ?? 10_000);
}

/** Opens a Redis connection for the cache; fails fast at start-up, reconnects afterwards. */
export async function startRedisCache(options: CacheOptions & { url: string }): Promise<Cache> {
  const redis = createRedisClient(options.url, options.logger, options.prefix);
  try {
    await withTimeout(redis.connect(), options.connectTimeoutMs ?? 5000);
  } catch (error) {
    redis.disconnect();
    throw new CacheUnavailableError(
      `REDIS_URL: cannot connect to ${redactUrl(options.url)} (${(error as Error).message})`,
      { cause: error },
    );
  }
  return {
    mode: 'redis',
    prefix: options.prefix,
    get: (key) => redis.get(key),
    async set(key, value, ttlMs) {
      await redis.set(key, value, 'PX', Math.max(1, Math.round(ttlMs)));
    },
    async delete(...keys) {
      return keys.length ? redis.del(...keys) : 0;
    },
    async ping() {
      await redis.ping();
    },
    async stop() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * An ioredis client that does not retry while connecting for the first time (so start-up
 * fails fast with a clear error) and reconnects with capped backoff after that.
 */
export function createRedisClient(url: string, logger: Logger, keyPrefix = ''): Redis {
  let connectedOnce = false;
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    retryStrategy: (attempt) => (connectedOnce ? Math.min(attempt * 200, 2000) : null),
  });
  redis.on('ready', () => {
    connectedOnce = true;
  });
  redis.on('error', (error: Error) => {
    if (connectedOnce) logger.warn({ err: error, component: 'redis' }, 'redis connection error');
  });
  return redis;
}

export function createMemoryCache(prefix: string, maxEntries = 10_000): Cache {
  // Map keeps insertion order: re-inserting on read makes the first key the least recent.
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    mode: 'memory',
    prefix,
    async get(key) {
      const entry = live(prefix + key);
      if (!entry) return null;
      entries.delete(prefix + key);
      entries.set(prefix + key, entry);
      return entry.value;
    },
    async set(key, value, ttlMs) {
      entries.delete(prefix + key);
      entries.set(prefix + key, { value, expiresAt: Date.now() + Math.max(1, ttlMs) });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    async delete(...keys) {
      let count = 0;
      for (const key of keys) if (live(prefix + key) && entries.delete(prefix + key)) count++;
      return count;
    },
    async ping() {},
    async stop() {
      entries.clear();
    },
  };
}
