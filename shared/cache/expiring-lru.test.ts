/**
 * The bounded memory of values with a time of their own: returned until that time, never
 * after; the least recently used forgotten first, or any on demand; nothing kept with room
 * for none.
 */
import { ExpiringLru } from './expiring-lru.ts';

describe('ExpiringLru', () => {
  it('returns a value until its time, and never after', () => {
    const lru = new ExpiringLru<string>(10);
    lru.remember('a', 'alpha', 1_000);
    expect(lru.recall('a', 999)).toBe('alpha');
    expect(lru.recall('a', 1_000)).toBeUndefined();
    expect(lru.recall('a', 500)).toBeUndefined(); // forgotten once seen past its time
  });

  it('forgets the least recently used when full', () => {
    const lru = new ExpiringLru<number>(2);
    lru.remember('a', 1, Infinity);
    lru.remember('b', 2, Infinity);
    expect(lru.recall('a', 0)).toBe(1); // a is now the most recent
    lru.remember('c', 3, Infinity);
    expect(lru.recall('b', 0)).toBeUndefined();
    expect([lru.recall('a', 0), lru.recall('c', 0), lru.size]).toEqual([1, 3, 2]);
  });

  it('forgets a key on demand', () => {
    const lru = new ExpiringLru<number>(2);
    lru.remember('a', 1, Infinity);
    lru.forget('a');
    expect([lru.recall('a', 0), lru.size]).toEqual([undefined, 0]);
  });

  it('remembers nothing with room for none', () => {
    const lru = new ExpiringLru<number>(0);
    lru.remember('a', 1, Infinity);
    expect(lru.recall('a', 0)).toBeUndefined();
  });
});
