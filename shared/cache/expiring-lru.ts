/**
 * A bounded in-process memory of values that hold until a time of their own: the least
 * recently used goes first when it is full, and a value past its time is never returned.
 * For the results of expensive checks that stay true for a known while (a verified token's
 * claims until its expiry), not for shared state: each process has its own.
 */
export class ExpiringLru<V> {
  private readonly entries = new Map<string, { value: V; validUntilMs: number }>();
  private readonly maxEntries: number;

  /** `maxEntries` below 1 remembers nothing. */
  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  /** The value remembered for `key` while `nowMs` is before its time; marks it recently used. */
  recall(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (nowMs >= entry.validUntilMs) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Remembers `value` for `key` until `validUntilMs`, forgetting the least recently used. */
  remember(key: string, value: V, validUntilMs: number): void {
    if (this.maxEntries < 1) return;
    this.entries.delete(key);
    this.entries.set(key, { value, validUntilMs });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** Forgets `key`'s value. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
