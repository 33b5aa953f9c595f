/**
 * Cache-aside reads of entities by id, as the subgraphs' DataLoaders do them: one MGET for a
 * batch of ids, one load from the source of truth for the misses, which are then cached with
 * a TTL. The cache is an optimisation: when it fails, reads fall back to the source and
 * writes and invalidations are logged, never thrown (events and the TTL still remove stale
 * entries).
 */
import type { Logger } from '../observability/index.ts';
import type { Cache } from './cache.ts';

export interface CacheAsideOptions<T> {
  cache: Cache;
  /** The entry's key, e.g. `(id) => \`product:${id}\``. */
  key: (id: string) => string;
  /** Safety-net expiry of an entry. */
  ttlMs: number;
  logger: Logger;
  /** Names the owner in log lines, e.g. `catalog`. */
  name: string;
  /** Rebuilds a value from its cached JSON (e.g. `Date` fields); null when it cannot. */
  revive: (json: unknown) => T | null;
}

export interface ReadThrough<T> {
  /** The values found, by id (ids with no value are absent). */
  found: Map<string, T>;
  hits: number;
  misses: number;
}

export interface CacheAside<T> {
  /**
   * Values for `ids` (unique, already valid): cached ones, then `loadMissing` once for the
   * rest, whose results are cached before this resolves.
   */
  read(
    ids: readonly string[],
    loadMissing: (ids: string[]) => Promise<Map<string, T>>,
  ): Promise<ReadThrough<T>>;
  invalidate(...ids: string[]): Promise<void>;
}

export function createCacheAside<T>(options: CacheAsideOptions<T>): CacheAside<T> {
  const { cache, key, ttlMs, logger, name, revive } = options;

  const cached = async (ids: readonly string[]): Promise<(T | null)[]> => {
    try {
      const values = await cache.getMany(...ids.map(key));
      return values.map((value) => {
        if (value === null) return null;
        try {
          return revive(JSON.parse(value));
        } catch {
          return null;
        }
      });
    } catch (error) {
      logger.warn({ err: error }, `${name}: cache read failed; reading the database`);
      return ids.map(() => null);
    }
  };

  return {
    async read(ids, loadMissing) {
      const fromCache = ids.length > 0 ? await cached(ids) : [];
      const found = new Map<string, T>();
      const misses: string[] = [];
      ids.forEach((id, index) => {
        const hit = fromCache[index];
        if (hit) found.set(id, hit);
        else misses.push(id);
      });
      const hits = found.size;
      if (misses.length > 0) {
        const loaded = await loadMissing(misses);
        await Promise.all(
          [...loaded].map(([id, value]) => {
            found.set(id, value);
            return cache
              .set(key(id), JSON.stringify(value), ttlMs)
              .catch((error: unknown) =>
                logger.warn({ err: error }, `${name}: cache write failed`),
              );
          }),
        );
      }
      return { found, hits, misses: misses.length };
    },

    async invalidate(...ids) {
      if (ids.length === 0) return;
      try {
        await cache.delete(...ids.map(key));
      } catch (error) {
        logger.warn({ err: error, ids }, `${name}: cache invalidation failed`);
      }
    },
  };
}
