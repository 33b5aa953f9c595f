/**
 * The cache port: string values with a TTL, every key under the service's prefix. Two
 * adapters share one contract (tested against both): Redis (ioredis) for real deployments
 * and an in-memory LRU for embedded mode. As a plain cache it is an optimisation: callers
 * treat a miss and a failure alike and fall back to the source of truth.
 *
 * Three primitives are atomic, for auth state that must not race (refresh-token rotation,
 * rate limits, token revocation): `compareAndSwap` and `hitRateLimit` each decide and write
 * in one step (a Lua script in Redis), so of many concurrent callers exactly the ones the
 * rule admits win, across processes sharing a Redis. `getMany` reads many keys in one round
 * trip. A key holds either a value or a rate-limit log: reading a log as a value rejects
 * (WRONGTYPE), as in Redis; `set` and `delete` work on either.
 *
 * Memory caches opened with the same prefix in one process share their entries, as two
 * clients of one Redis do (the embedded gateway reads revocations the auth subgraph writes).
 */
import { randomBytes } from 'node:crypto';
import { Redis, ReplyError } from 'ioredis';
import { ServiceUnavailableError } from '../errors/index.ts';
import { redactUrl } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { backoffDelay, withTimeout } from '../async/index.ts';

export interface Cache {
  readonly mode: 'redis' | 'memory';
  /** Prefix applied to every key (e.g. `eventgraph:users:`). */
  readonly prefix: string;
  get(key: string): Promise<string | null>;
  /** Values in the order of `keys`, null for missing or expired ones; one round trip. */
  getMany(...keys: string[]): Promise<(string | null)[]>;
  /** Stores `value` for `ttlMs` milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Atomically: if the current value (null when missing or expired) equals `expected`,
   * stores `next` for `ttlMs` milliseconds — or deletes the key when `next` is null — and
   * resolves true; otherwise changes nothing and resolves false. Rejects with a TypeError
   * when `next` is a value and `ttlMs` is missing.
   */
  compareAndSwap(
    key: string,
    expected: string | null,
    next: string | null,
    ttlMs?: number,
  ): Promise<boolean>;
  /**
   * Records one hit against an exact sliding window (a log of hits, not fixed buckets).
   * Atomically forgets hits older than `windowMs`; if fewer than `limit` remain, records
   * this one and allows it, otherwise records nothing and refuses it, saying how long until
   * the oldest hit leaves the window. `delete(key)` resets the window. Redis times hits by
   * its own clock, so every process agrees.
   */
  hitRateLimit(key: string, options: RateLimitOptions): Promise<RateLimitResult>;
  /** Deletes keys (values and rate-limit logs); resolves to how many existed. */
  delete(...keys: string[]): Promise<number>;
  ping(): Promise<void>;
  stop(): Promise<void>;
}

export interface RateLimitOptions {
  /** Length of the sliding window in milliseconds; a positive integer. */
  windowMs: number;
  /** Hits allowed within any window; a positive integer. */
  limit: number;
  /**
   * Hits this call takes at once (a batch of operations, say): all of them fit in the window
   * or none is taken. A positive integer. @default 1
   */
  hits?: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Hits in the window, including this one when allowed. */
  count: number;
  /** 0 when allowed; otherwise milliseconds until a hit would be allowed, in [1, windowMs]. */
  retryAfterMs: number;
}

export interface CacheOptions {
  /** `redis://` URL; unset → in-memory cache. */
  url?: string | undefined;
  /** Key prefix, normally `eventgraph:<service>:`. */
  prefix: string;
  logger: Logger;
  /**
   * Entries kept by the in-memory adapter before the least recently used go; caches sharing
   * a prefix use the first one's. @default 10000
   */
  maxMemoryEntries?: number;
  /** How long start-up waits for Redis. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Send the commands of one event-loop turn in one write (ioredis's auto-pipelining): for a
   * process that issues a few commands for each of many concurrent requests (the gateway's
   * revocation checks and rate limits), one socket write per turn instead of per command.
   * @default false
   */
  autoPipelining?: boolean;
}

/** Redis cannot be reached (at start-up, or for one command while it is down). */
export class CacheUnavailableError extends ServiceUnavailableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 5, options);
    this.name = 'CacheUnavailableError';
  }
}

/** Longest a Redis command may take before it fails as unavailable. */
const COMMAND_TIMEOUT_MS = 1000;

/** At most one log line per this interval while Redis commands keep failing. */
const UNREACHABLE_LOG_INTERVAL_MS = 5000;

/**
 * Runs Redis commands; a failure to reach Redis (down, reconnecting, timed out) becomes a
 * CacheUnavailableError (SERVICE_UNAVAILABLE to clients, without Redis's words), logged as a
 * warning at most every few seconds, while Redis's own answers (WRONGTYPE, a script error)
 * stay what they are.
 */
function reacher(logger: Logger): <T>(command: () => Promise<T>) => Promise<T> {
  let loggedAt = Number.NEGATIVE_INFINITY;
  return async (command) => {
    try {
      return await command();
    } catch (error) {
      if (error instanceof ReplyError) throw error;
      if (Date.now() - loggedAt >= UNREACHABLE_LOG_INTERVAL_MS) {
        loggedAt = Date.now();
        logger.warn({ err: error, component: 'redis' }, 'redis command failed: cache unavailable');
      }
      throw new CacheUnavailableError('The cache is unavailable; retry shortly', {
        cause: error,
      });
    }
  };
}

export async function startCache(options: CacheOptions): Promise<Cache> {
  return options.url
    ? startRedisCache({ ...options, url: options.url })
    : createMemoryCache(options.prefix, options.maxMemoryEntries ?? 10_000);
}

// KEYS[1] key; ARGV expected-is-set ('0'|'1'), expected, next-is-set, next, ttlMs.
const COMPARE_AND_SWAP_LUA = `
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then matches = current == ARGV[2] else matches = current == false end
if not matches then return 0 end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('DEL', KEYS[1])
end
return 1
`;

// KEYS[1] sorted set of hits scored by time (ms); ARGV windowMs, limit, unique member.
// A hit at t counts while now < t + windowMs.
const HIT_RATE_LIMIT_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
local hits = tonumber(ARGV[4])
if count + hits <= limit then
  for i = 1, hits do
    redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, count + hits, 0}
end
if hits > limit or count == 0 then
  return {0, count, window}
end
-- Until enough of the oldest hits leave the window for these to fit.
local nth = redis.call('ZRANGE', KEYS[1], count + hits - limit - 1, count + hits - limit - 1, 'WITHSCORES')
return {0, count, math.max(1, tonumber(nth[2]) + window - now)}
`;

/** The scripts defined on the cache's client (ioredis types do not know them). */
interface CacheScripts {
  cacheCompareAndSwap(key: string, ...args: string[]): Promise<number>;
  cacheHitRateLimit(key: string, ...args: string[]): Promise<[number, number, number]>;
}

/** Opens a Redis connection for the cache; fails fast at start-up, reconnects afterwards. */
export async function startRedisCache(options: CacheOptions & { url: string }): Promise<Cache> {
  const redis = createRedisClient(options.url, options.logger, options.prefix, {
    autoPipelining: options.autoPipelining ?? false,
  });
  try {
    await withTimeout(redis.connect(), options.connectTimeoutMs ?? 5000);
  } catch (error) {
    redis.disconnect();
    throw new CacheUnavailableError(
      `REDIS_URL: cannot connect to ${redactUrl(options.url)} (${(error as Error).message})`,
      { cause: error },
    );
  }
  // Scripts run by EVALSHA (EVAL on a cache miss); ioredis prefixes their KEYS, not ARGV.
  redis.defineCommand('cacheCompareAndSwap', { numberOfKeys: 1, lua: COMPARE_AND_SWAP_LUA });
  redis.defineCommand('cacheHitRateLimit', { numberOfKeys: 1, lua: HIT_RATE_LIMIT_LUA });
  const scripts = redis as unknown as CacheScripts;
  // A hit's member in the sorted set: unique among this client's hits (the counter) and other
  // clients' (the random prefix), without drawing random bytes per hit.
  const hitPrefix = randomBytes(8).toString('hex');
  let hitCount = 0;
  const reach = reacher(options.logger);
  return {
    mode: 'redis',
    prefix: options.prefix,
    get: (key) => reach(() => redis.get(key)),
    async getMany(...keys) {
      return keys.length ? reach(() => redis.mget(...keys)) : [];
    },
    async set(key, value, ttlMs) {
      await reach(() => redis.set(key, value, 'PX', redisTtl(ttlMs)));
    },
    async compareAndSwap(key, expected, next, ttlMs) {
      const ttl = next === null ? 0 : redisTtl(requireSwapTtl(ttlMs));
      const swapped = await reach(() =>
        scripts.cacheCompareAndSwap(
          key,
          expected === null ? '0' : '1',
          expected ?? '',
          next === null ? '0' : '1',
          next ?? '',
          String(ttl),
        ),
      );
      return swapped === 1;
    },
    async hitRateLimit(key, limits) {
      checkRateLimit(limits);
      const [allowed, count, retryAfterMs] = await reach(() =>
        scripts.cacheHitRateLimit(
          key,
          String(limits.windowMs),
          String(limits.limit),
          `${hitPrefix}.${(hitCount++).toString(36)}`,
          String(limits.hits ?? 1),
        ),
      );
      return { allowed: allowed === 1, count, retryAfterMs };
    },
    async delete(...keys) {
      return keys.length ? reach(() => redis.del(...keys)) : 0;
    },
    async ping() {
      await reach(() => redis.ping());
    },
    async stop() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * An ioredis client that does not retry while connecting for the first time (so start-up
 * fails fast with a clear error) and reconnects with jittered backoff, at most 2 s, after that.
 */
export function createRedisClient(
  url: string,
  logger: Logger,
  keyPrefix = '',
  { autoPipelining = false }: { autoPipelining?: boolean } = {},
): Redis {
  let connectedOnce = false;
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    // Bounded: while Redis is down a command fails at once (no queue waiting for a
    // reconnect), and one that gets no answer fails after a second.
    enableOfflineQueue: false,
    enableAutoPipelining: autoPipelining,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) =>
      connectedOnce ? backoffDelay(attempt, { baseMs: 200, maxMs: 2000 }) : null,
  });
  redis.on('ready', () => {
    connectedOnce = true;
  });
  redis.on('error', (error: Error) => {
    if (connectedOnce) logger.warn({ err: error, component: 'redis' }, 'redis connection error');
  });
  return redis;
}

function redisTtl(ttlMs: number): number {
  return Math.max(1, Math.round(ttlMs));
}

function requireSwapTtl(ttlMs: number | undefined): number {
  if (ttlMs === undefined)
    throw new TypeError('compareAndSwap: ttlMs is required to store a value');
  return ttlMs;
}

function checkRateLimit({ windowMs, limit, hits = 1 }: RateLimitOptions): void {
  const positive = (n: number) => Number.isInteger(n) && n >= 1;
  if (!positive(windowMs) || !positive(limit) || !positive(hits)) {
    throw new RangeError(
      `hitRateLimit: windowMs, limit and hits must be positive integers (got ${windowMs}, ${limit}, ${hits})`,
    );
  }
}

type MemoryEntry =
  | { readonly kind: 'value'; readonly value: string; readonly expiresAt: number }
  | { readonly kind: 'hits'; readonly hits: number[]; readonly expiresAt: number };

interface MemoryNamespace {
  /** Map keeps insertion order: re-inserting on use makes the first key the least recent. */
  readonly entries: Map<string, MemoryEntry>;
  readonly maxEntries: number;
  openCaches: number;
}

/** Memory caches by prefix, so caches with one prefix share entries like clients of one Redis. */
const memoryNamespaces = new Map<string, MemoryNamespace>();

function wrongType(): Error {
  return new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
}

/**
 * An in-memory LRU cache. Caches created with the same prefix in this process share their
 * entries (the first one sets `maxEntries`); stopping the last of them clears the entries.
 */
export function createMemoryCache(prefix: string, maxEntries = 10_000): Cache {
  let namespace = memoryNamespaces.get(prefix);
  if (!namespace) {
    namespace = { entries: new Map(), maxEntries, openCaches: 0 };
    memoryNamespaces.set(prefix, namespace);
  }
  namespace.openCaches++;
  const shared = namespace;
  const { entries } = shared;
  let stopped = false;

  const live = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const store = (key: string, entry: MemoryEntry) => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > shared.maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  };
  /** The live value under `key`, counted as a use; a rate-limit log rejects, as GET does. */
  const liveValue = (key: string) => {
    const entry = live(key);
    if (!entry) return null;
    if (entry.kind === 'hits') throw wrongType();
    store(key, entry);
    return entry.value;
  };

  // No awaits inside the methods below: each runs to completion, which makes it atomic.
  return {
    mode: 'memory',
    prefix,
    async get(key) {
      return liveValue(key);
    },
    async getMany(...keys) {
      // Like MGET: a rate-limit log reads as null rather than failing the batch.
      return keys.map((key) => (live(key)?.kind === 'hits' ? null : liveValue(key)));
    },
    async set(key, value, ttlMs) {
      store(key, { kind: 'value', value, expiresAt: Date.now() + Math.max(1, ttlMs) });
    },
    async compareAndSwap(key, expected, next, ttlMs) {
      const ttl = next === null ? 0 : requireSwapTtl(ttlMs);
      if (liveValue(key) !== expected) return false;
      if (next === null) entries.delete(key);
      else store(key, { kind: 'value', value: next, expiresAt: Date.now() + Math.max(1, ttl) });
      return true;
    },
    async hitRateLimit(key, options) {
      checkRateLimit(options);
      const { windowMs, limit } = options;
      const taking = options.hits ?? 1;
      const now = Date.now();
      const entry = live(key);
      if (entry?.kind === 'value') throw wrongType();
      const hits = entry?.hits ?? [];
      while (hits.length && hits[0]! <= now - windowMs) hits.shift();
      if (hits.length + taking <= limit) {
        for (let i = 0; i < taking; i++) hits.push(now);
        store(key, { kind: 'hits', hits, expiresAt: now + windowMs });
        return { allowed: true, count: hits.length, retryAfterMs: 0 };
      }
      if (entry) store(key, entry);
      // Until enough of the oldest hits leave the window for these to fit.
      const freeing = hits[hits.length + taking - limit - 1];
      return {
        allowed: false,
        count: hits.length,
        retryAfterMs:
          taking > limit || freeing === undefined
            ? windowMs
            : Math.max(1, freeing + windowMs - now),
      };
    },
    async delete(...keys) {
      let count = 0;
      for (const key of keys) if (live(key) && entries.delete(key)) count++;
      return count;
    },
    async ping() {},
    async stop() {
      if (stopped) return;
      stopped = true;
      if (--shared.openCaches > 0) return;
      entries.clear();
      memoryNamespaces.delete(prefix);
    },
  };
}
