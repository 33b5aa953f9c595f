/**
 * Read-your-writes for shared work. Coalescing (whole queries) and fetch dedup (subgraph
 * queries) let a request take the answer of an identical one already in flight. Without a
 * guard, that answer may have been read before a write the caller has already seen finish:
 * a client places an order, gets its answer, asks for `me { orders }`, and joins a poll of
 * `me { orders }` that another of its tabs started before the order — and misses the order.
 *
 * So every writer (a user, whatever token or session they write with; an anonymous client
 * by its address) has an epoch that moves when one of its mutations answers, before the
 * answer leaves. A request reads its caller's epoch once, before any of its work starts, and
 * its shared work is keyed by it; so work started before the write is never shared with a
 * request that starts after it, and work started after it is shared as before.
 *
 * Where the epochs live decides which gateways keep that promise:
 * - `localWriteEpochs`: in this process, a fixed table of counters indexed by a hash of the
 *   writer (memory stays bounded however many users write; writers that share a slot move
 *   each other's epoch, which only costs a missed chance to share). Enough for one gateway.
 * - `sharedWriteEpochs`: in the gateways' shared cache (Redis), so a write answered by one
 *   gateway moves the epoch every other gateway reads: the user's next query on another
 *   replica shares nothing that started there before the write. One cache read per query.
 *   When the cache cannot be read the request shares nothing; when a write's epoch cannot
 *   be moved, the answer still goes and the failure is logged.
 */
import { randomUUID } from 'node:crypto';
import type { AccessTokenClaims } from '../shared/auth/index.ts';
import type { Cache } from '../shared/cache/index.ts';
import type { Logger } from '../shared/observability/index.ts';

/** Where writers' epochs are kept. */
export interface WriteEpochStore {
  /** The writer's epoch now. Never rejects. */
  of(writer: string): Promise<string>;
  /** A write of this writer has finished: its epoch moves. Never rejects. */
  bump(writer: string): Promise<void>;
}

/** A request's caller (absent fields: unknown, as in the data sources' partial context). */
type Caller = { accessClaims?: AccessTokenClaims | null; clientIp?: string | null };

/** Who a request writes as: the user, else the client's address. */
export function writerOf(caller: Caller): string {
  if (caller.accessClaims) return `user:${caller.accessClaims.sub}`;
  return `ip:${caller.clientIp ?? ''}`;
}

/** The epochs as requests use them. @default store: localWriteEpochs() */
export class WriteEpochs {
  readonly #store: WriteEpochStore;
  /** Each request's epoch as it first read it (a request's context is one object). */
  readonly #read = new WeakMap<object, Promise<string>>();

  constructor(store: WriteEpochStore = localWriteEpochs()) {
    this.#store = store;
  }

  /**
   * The caller's epoch as its request first read it: part of the key of any work the request
   * shares. Every fetch of the request uses this one value, so the store is read once per
   * request, not once per fetch.
   */
  ofRequest(context: Caller): Promise<string> {
    let epoch = this.#read.get(context);
    if (!epoch) {
      epoch = this.#store.of(writerOf(context));
      this.#read.set(context, epoch);
    }
    return epoch;
  }

  /** A write of this writer has finished: work started before it is not shared after. */
  bump(writer: string): Promise<void> {
    return this.#store.bump(writer);
  }
}

const SLOTS = 4096;

export function localWriteEpochs(): WriteEpochStore {
  const epochs = new Uint32Array(SLOTS);
  return {
    async of(writer) {
      return String(epochs[slotOf(writer)]);
    },
    async bump(writer) {
      const slot = slotOf(writer);
      epochs[slot] = (epochs[slot]! + 1) >>> 0;
    },
  };
}

/**
 * How long a writer's epoch is kept after its last write: far longer than any request can
 * be in flight (so an expired epoch cannot match work from before the write), short enough
 * that idle writers cost the cache nothing.
 */
const SHARED_EPOCH_TTL_MS = 60 * 60 * 1000;

export function sharedWriteEpochs(options: { cache: Cache; logger: Logger }): WriteEpochStore {
  const { cache, logger } = options;
  const key = (writer: string) => `epoch:${writer}`;
  return {
    async of(writer) {
      try {
        return (await cache.get(key(writer))) ?? 'none';
      } catch {
        // Unknown: an epoch no other request has, so this one shares nothing.
        return `unknown:${randomUUID()}`;
      }
    },
    async bump(writer) {
      try {
        // Any new value moves the epoch: a random one needs no read first.
        await cache.set(key(writer), randomUUID(), SHARED_EPOCH_TTL_MS);
      } catch (error) {
        logger.warn(
          { err: error },
          "a write's epoch could not be moved in the shared cache: another gateway may answer the writer's next query with work started before the write",
        );
      }
    },
  };
}

/** FNV-1a over the UTF-16 code units, reduced to a slot. */
function slotOf(writer: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < writer.length; i++) {
    hash ^= writer.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SLOTS;
}
