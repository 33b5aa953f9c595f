/**
 * Automatic persisted queries (APQ) for Apollo Server, stored in the gateway's cache (Redis
 * in production, so every gateway instance shares what any of them registered; memory in
 * embedded mode). Apollo Server verifies that a registered query hashes to the sha256 the
 * client sent before it stores it, so an entry is always the query its key names. A miss or
 * a cache failure is `PERSISTED_QUERY_NOT_FOUND`, and the client sends the query again.
 */
import type { ApolloServerOptions, BaseContext } from '@apollo/server';
import type { Cache } from '../../shared/cache/index.ts';

/** Apollo Server's key-value store of persisted queries (its own type, not re-exported). */
export type PersistedQueryStore = NonNullable<
  Exclude<ApolloServerOptions<BaseContext>['persistedQueries'], false | undefined>['cache']
>;

/** Apollo Server prefixes every key it gives the store with this (its APQ_CACHE_PREFIX). */
export const APQ_KEY_PREFIX = 'apq:';

export interface PersistedQueryCacheOptions {
  /** The gateway's cache; entries live under `apq:<sha256>` (Apollo Server's keys). */
  cache: Cache;
  /** How long a registered query is kept after its last registration. @default 86400 (24 h) */
  ttlSeconds?: number;
}

export function createPersistedQueryCache(
  options: PersistedQueryCacheOptions,
): PersistedQueryStore {
  const { cache } = options;
  const defaultTtlSeconds = options.ttlSeconds ?? 24 * 3600;
  return {
    async get(key) {
      return (await cache.get(key)) ?? undefined;
    },
    async set(key, query, setOptions) {
      await cache.set(key, query, (setOptions?.ttl ?? defaultTtlSeconds) * 1000);
    },
    async delete(key) {
      await cache.delete(key);
    },
  };
}
