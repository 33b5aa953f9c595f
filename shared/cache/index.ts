/**
 * The cache: the port with its Redis and in-memory adapters (cache.ts), and cache-aside
 * reads of entities by id built on it (cache-aside.ts); and a bounded in-process memory of
 * values that hold until a time of their own (expiring-lru.ts).
 */
export {
  CacheUnavailableError,
  createMemoryCache,
  createRedisClient,
  startCache,
  startRedisCache,
} from './cache.ts';
export type { Cache, CacheOptions, RateLimitOptions, RateLimitResult } from './cache.ts';
export { createCacheAside } from './cache-aside.ts';
export { ExpiringLru } from './expiring-lru.ts';
export type { CacheAside, CacheAsideOptions, ReadThrough } from './cache-aside.ts';
