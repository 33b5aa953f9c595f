/**
 * Read-your-writes for shared work. Coalescing (whole queries) and fetch dedup (subgraph
 * queries) let a request take the answer of an identical one already in flight. Without a
 * guard, that answer may have been read before a write the caller has already seen finish:
 * a client places an order, gets its answer, asks for `me { orders }`, and joins a poll of
 * `me { orders }` that another of its tabs started before the order — and misses the order.
 *
 * So every writer (a user, whatever token or session they write with; an anonymous client
 * by its address) has an epoch that moves when one of its mutations answers, before the
 * answer leaves. Shared work is keyed by the epoch read when it starts, so work started
 * before the write is never shared with a request that starts after it; work started after
 * it is shared as before.
 *
 * The epochs live in a fixed table of counters indexed by a hash of the writer: memory stays
 * bounded however many users write. Writers that share a slot move each other's epoch; that
 * only costs a missed chance to share, never a stale answer.
 */
import type { AccessTokenClaims } from '../shared/auth/index.ts';

const SLOTS = 4096;

/** Who a request writes as: the user, else the client's address. */
export function writerOf(caller: {
  accessClaims: AccessTokenClaims | null;
  clientIp: string | null;
}): string {
  if (caller.accessClaims) return `user:${caller.accessClaims.sub}`;
  return `ip:${caller.clientIp ?? ''}`;
}

export class WriteEpochs {
  readonly #epochs = new Uint32Array(SLOTS);

  /** The writer's epoch now: part of the key of any work shared in its name. */
  of(writer: string): number {
    return this.#epochs[slotOf(writer)]!;
  }

  /** A write of this writer has finished: work started before it is not shared after. */
  bump(writer: string): void {
    const slot = slotOf(writer);
    this.#epochs[slot] = (this.#epochs[slot]! + 1) >>> 0;
  }
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
