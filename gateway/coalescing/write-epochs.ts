/**
 * Read-your-writes for shared work. Coalescing (whole queries) and fetch dedup (subgraph
 * queries) let a request take the answer of an identical one already in flight. Without a
 * guard, that answer may have been read before a write the caller has already seen finish:
 * a client adds something, gets its answer, asks for its list, and joins a poll of the same
 * list that another of its tabs started before the write — and misses what it added.
 *
 * So every writer (a user, whatever token or session they write with; an anonymous client
 * by its address) has an epoch that moves when one of its mutations answers, before the
 * answer leaves; and a request may take the answer of work in flight only when no write of
 * its writer has finished since that work started. Work records when it started (a
 * monotonic clock reading, nothing else); only a request about to share asks about writes.
 *
 * Where the epochs live decides which gateways keep that promise:
 * - `localWriteEpochs`: in this process, the time of each writer's last write in a fixed
 *   table indexed by a hash of the writer (memory stays bounded however many users write;
 *   writers that share a slot move each other's time, which only costs a missed chance to
 *   share). Enough for one gateway.
 * - `sharedWriteEpochs`: in the gateways' shared cache (Redis), so a write answered by one
 *   gateway moves the epoch every other gateway reads. A gateway cannot know when another
 *   one wrote, only when it first saw the new epoch: work started after this gateway saw
 *   the writer's current epoch may be shared; work started before it, or a writer whose
 *   epoch this gateway sees for the first time, is not. One cache read per request that
 *   would share, none for the rest. When the cache cannot be read the request shares
 *   nothing; when a write's epoch cannot be moved, the answer still goes and the failure is
 *   logged.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AccessTokenClaims } from '../../shared/auth/index.ts';
import type { Cache } from '../../shared/cache/index.ts';
import type { Logger } from '../../shared/observability/index.ts';

export interface WriteEpochs {
  /**
   * Whether work of this writer that started at `startedAt` (a `performance.now()` reading)
   * may answer the writer's request that starts now: no write of theirs has finished since.
   * Never rejects.
   */
  allowSharing(writer: string, startedAt: number): Promise<boolean>;
  /** A write of this writer has finished: work started before it is not shared after. */
  bump(writer: string): Promise<void>;
}

/** A request's caller (absent fields: unknown, as in the data sources' partial context). */
type Caller = { accessClaims?: AccessTokenClaims | null; clientIp?: string | null };

/**
 * Who may share work with whom: the caller's access-token claims and address, as one
 * string, made once per request context (coalescing and every fetch of the request use it).
 */
const callerKeys = new WeakMap<object, string>();
export function callerKeyOf(caller: Caller): string {
  let key = callerKeys.get(caller);
  if (key === undefined) {
    key = JSON.stringify([caller.accessClaims ?? null, caller.clientIp ?? null]);
    callerKeys.set(caller, key);
  }
  return key;
}

/** Who a request writes as: the user, else the client's address. */
export function writerOf(caller: Caller): string {
  if (caller.accessClaims) return `user:${caller.accessClaims.sub}`;
  return `ip:${caller.clientIp ?? ''}`;
}

/**
 * Joins the work in flight under `key` when a request of `writer` may share it, else starts
 * its own (`lead`) and registers it there for the requests after it. When nothing is in
 * flight the lead starts at once, before this returns; when the work in flight was replaced
 * or finished while its writes were checked, the check starts over on what is in flight
 * then, so requests that arrive together right after a write find each other behind the
 * first of them to lead.
 */
export async function joinOrLead<Work extends { readonly startedAt: number }>(
  epochs: WriteEpochs,
  writer: string,
  inFlight: Map<string, Work>,
  key: string,
  lead: () => Work,
): Promise<{ work: Work; joined: boolean }> {
  let work = inFlight.get(key);
  while (work) {
    const allowed = await epochs.allowSharing(writer, work.startedAt);
    const now = inFlight.get(key);
    if (now === work) {
      if (allowed) return { work, joined: true };
      break;
    }
    work = now;
  }
  const led = lead();
  inFlight.set(key, led);
  return { work: led, joined: false };
}

const SLOTS = 4096;

export function localWriteEpochs(): WriteEpochs {
  /** When a writer of each slot last wrote (performance.now()); -Infinity: never. */
  const lastWrite = new Float64Array(SLOTS).fill(-Infinity);
  return {
    async allowSharing(writer, startedAt) {
      return lastWrite[slotOf(writer)]! < startedAt;
    },
    async bump(writer) {
      lastWrite[slotOf(writer)] = performance.now();
    },
  };
}

/**
 * How long a writer's epoch is kept after its last write: far longer than any request can
 * be in flight, short enough that idle writers cost the cache nothing. An epoch that
 * expired reads as 'none', which a gateway that saw it before sees as a new epoch.
 */
const SHARED_EPOCH_TTL_MS = 60 * 60 * 1000;
/** Writers whose epoch this gateway remembers; the least recently seen are forgotten. */
const REMEMBERED_WRITERS = 10_000;

export function sharedWriteEpochs(options: { cache: Cache; logger: Logger }): WriteEpochs {
  const { cache, logger } = options;
  const key = (writer: string) => `epoch:${writer}`;
  /** Each writer's epoch as this gateway last saw it, and when it first saw that one. */
  const seen = new Map<string, { epoch: string; since: number }>();
  const remember = (writer: string, epoch: string) => {
    seen.delete(writer);
    seen.set(writer, { epoch, since: performance.now() });
    if (seen.size > REMEMBERED_WRITERS) seen.delete(seen.keys().next().value!);
  };
  return {
    async allowSharing(writer, startedAt) {
      let epoch: string;
      try {
        epoch = (await cache.get(key(writer))) ?? 'none';
      } catch {
        return false;
      }
      const known = seen.get(writer);
      if (known?.epoch === epoch) return known.since < startedAt;
      // New to this gateway: it moved at a time unknown here, maybe after the work started.
      remember(writer, epoch);
      return false;
    },
    async bump(writer) {
      // Any new value moves the epoch: a random one needs no read first.
      const epoch = randomUUID();
      try {
        await cache.set(key(writer), epoch, SHARED_EPOCH_TTL_MS);
      } catch (error) {
        logger.warn(
          { err: error },
          "a write's epoch could not be moved in the shared cache: another gateway may answer the writer's next query with work started before the write",
        );
      }
      remember(writer, epoch);
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
