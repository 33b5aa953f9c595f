/**
 * Relay paging shared by the subgraphs: page sizes, keyset cursors, LIKE patterns and ids,
 * as pure given/when/then decisions.
 */
import { thrownBy } from '../testing/index.ts';
import {
  afterCursor,
  connectionOf,
  decodeCursor,
  encodeCursor,
  isUuid,
  likePattern,
  pageSize,
} from './pagination.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

describe('isUuid', () => {
  it.each([
    ['a v7 UUID', ALICE],
    ['a v4 UUID', '3b241101-e2bb-4255-8caf-4136c566a962'],
    ['an upper-case UUID', '3B241101-E2BB-4255-8CAF-4136C566A962'],
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
  ])('accepts %s', (_what, value) => {
    expect(isUuid(value)).toBe(true);
  });

  it.each([
    ['the empty string', ''],
    ['a number', '42'],
    ['a UUID without dashes', '3b241101e2bb42558caf4136c566a962'],
    ['a UUID with surrounding spaces', ` ${ALICE} `],
    ['a UUID followed by SQL', `${ALICE}'; drop table users; --`],
    ['a UUID in braces', `{${ALICE}}`],
    ['a UUID with a non-hex digit', '3b241101-e2bb-4255-8caf-4136c566a96g'],
    ['a UUID one digit short', '3b241101-e2bb-4255-8caf-4136c566a96'],
  ])('rejects %s', (_what, value) => {
    expect(isUuid(value)).toBe(false);
  });
});

describe('pageSize', () => {
  it('defaults to 20 and accepts 1 to 100', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(null)).toBe(20);
    expect(pageSize(1)).toBe(1);
    expect(pageSize(100)).toBe(100);
  });
  it.each([[0], [101], [-5], [2.5]])('refuses %p naming `first`', (first) => {
    expect(thrownBy(() => pageSize(first))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });
});

describe('cursors', () => {
  it('round-trip the sort key', () => {
    const cursor = { createdAt: new Date('2026-11-22T10:00:00.123Z'), id: ALICE };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  });
  it.each([
    ['garbage', 'not-a-cursor'],
    ['JSON of the wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['a bad date', Buffer.from(JSON.stringify(['yesterday', ALICE])).toString('base64url')],
    [
      'an id that is no UUID',
      Buffer.from(JSON.stringify(['2026-11-22T10:00:00Z', "1' or 1=1"])).toString('base64url'),
    ],
  ])('refuses %s as BAD_USER_INPUT on `after`', (_what, value) => {
    expect(thrownBy(() => decodeCursor(value))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
  });
});

describe('likePattern', () => {
  it('matches anywhere, with LIKE wildcards taken literally', () => {
    expect(likePattern('  ada ')).toBe('%ada%');
    expect(likePattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
    expect(likePattern('   ')).toBeNull();
    expect(likePattern(undefined)).toBeNull();
  });
  it('refuses a search longer than 100 characters', () => {
    expect(thrownBy(() => likePattern('x'.repeat(101)))).toMatchObject({ field: 'search' });
  });
});

describe('afterCursor', () => {
  const after = { createdAt: new Date('2026-11-22T10:00:00Z'), id: ALICE };
  it('continues ascending pages after the sort key, breaking ties on id', () => {
    expect(afterCursor(after)).toEqual({
      $or: [
        { createdAt: { $gt: after.createdAt } },
        { createdAt: after.createdAt, id: { $gt: ALICE } },
      ],
    });
  });
  it('continues descending pages below it', () => {
    expect(afterCursor(after, 'desc')).toEqual({
      $or: [
        { createdAt: { $lt: after.createdAt } },
        { createdAt: after.createdAt, id: { $lt: ALICE } },
      ],
    });
  });
});

describe('connectionOf', () => {
  const row = (second: number) => ({
    createdAt: new Date(Date.UTC(2026, 10, 22, 10, 0, second)),
    id: `0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a${String(second).padStart(2, '0')}`,
  });
  it('says there is a next page only when the extra row came back', () => {
    const full = connectionOf([row(1), row(2), row(3)], 2);
    expect(full.edges.map((edge) => edge.node)).toEqual([row(1), row(2)]);
    expect(full.pageInfo).toEqual({ hasNextPage: true, endCursor: encodeCursor(row(2)) });
    const last = connectionOf([row(1), row(2)], 2);
    expect(last.pageInfo.hasNextPage).toBe(false);
  });
  it('has no end cursor when the page is empty', () => {
    expect(connectionOf([], 5)).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });
  });
});
