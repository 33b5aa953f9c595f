/**
 * Cache-aside reads by id: a batch costs one cache round trip and one load of the misses,
 * loaded values are cached for the next reader, and a broken cache only costs speed.
 */
import { testLogger } from '../testing/index.ts';
import { createCacheAside, createMemoryCache } from './index.ts';
import type { Cache } from './index.ts';

interface Thing {
  id: string;
  at: Date;
}
const revive = (json: unknown): Thing | null => {
  const parsed = json as { id?: unknown; at?: string };
  return typeof parsed.id === 'string' ? { id: parsed.id, at: new Date(parsed.at!) } : null;
};
const thing = (id: string): Thing => ({ id, at: new Date('2026-11-22T12:00:00Z') });

function setUp(cache: Cache = createMemoryCache(`aside-${Math.random()}:`)) {
  const loads: string[][] = [];
  const aside = createCacheAside<Thing>({
    cache,
    key: (id) => `thing:${id}`,
    ttlMs: 60_000,
    logger: testLogger(),
    name: 'test',
    revive,
  });
  const read = (ids: string[], known = ['a', 'b', 'c']) =>
    aside.read(ids, async (missing) => {
      loads.push(missing);
      return new Map(missing.filter((id) => known.includes(id)).map((id) => [id, thing(id)]));
    });
  return { aside, read, loads, cache };
}

describe('cache-aside reads', () => {
  it('loads the misses once, caches them, and serves them (dates revived) from the cache after', async () => {
    const { read, loads } = setUp();
    const first = await read(['a', 'b', 'zzz']);
    expect(loads).toEqual([['a', 'b', 'zzz']]);
    expect(first).toMatchObject({ hits: 0, misses: 3 });
    expect([...first.found.keys()]).toEqual(['a', 'b']);

    const second = await read(['a', 'b', 'c']);
    expect(loads).toEqual([['a', 'b', 'zzz'], ['c']]);
    expect(second).toMatchObject({ hits: 2, misses: 1 });
    expect(second.found.get('a')).toEqual(thing('a'));
    expect(second.found.get('a')!.at).toBeInstanceOf(Date);
  });

  it('reads again from the source after an invalidation', async () => {
    const { aside, read, loads } = setUp();
    await read(['a']);
    await aside.invalidate('a');
    await read(['a']);
    expect(loads).toEqual([['a'], ['a']]);
  });

  it('treats a failing cache as all misses, and never throws for it', async () => {
    const broken = {
      ...createMemoryCache(`aside-broken-${Math.random()}:`),
      getMany: () => Promise.reject(new Error('down')),
      set: () => Promise.reject(new Error('down')),
      delete: () => Promise.reject(new Error('down')),
    } as Cache;
    const { aside, read, loads } = setUp(broken);
    const result = await read(['a', 'b']);
    expect(result).toMatchObject({ hits: 0, misses: 2 });
    expect(result.found.size).toBe(2);
    await expect(aside.invalidate('a')).resolves.toBeUndefined();
    expect(loads).toEqual([['a', 'b']]);
  });
});
