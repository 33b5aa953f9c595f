/**
 * Who may read whose profile, and what can name a user: pure decisions, given/when/then.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors/index.ts';
import { thrownBy } from '../../../shared/testing/index.ts';
import {
  assertAdmin,
  assertCanReadUser,
  decodeCursor,
  encodeCursor,
  isUserId,
  likePattern,
  pageSize,
  provisionalProfile,
} from './user.decisions.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const identity = (userId: string, role: Identity['role'], scopes: string[] = []): Identity => ({
  userId,
  role,
  scopes,
  sessionId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a00',
  tokenId: 'token-1',
  tokenExpiresAt: new Date('2026-11-22T12:15:00Z'),
  profile: { email: 'someone@example.com', name: 'Someone', createdAt: new Date(0) },
});
const user = (userId: string) => identity(userId, 'USER');
const admin = (userId: string) => identity(userId, 'ADMIN');

describe('assertCanReadUser', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    // given no identity, when reading Alice, then UNAUTHENTICATED
    const error = thrownBy(() => assertCanReadUser(null, ALICE));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'You must be signed in' });
  });

  it("refuses a user reading someone else's profile as forbidden", () => {
    // given Bob, when reading Alice, then FORBIDDEN
    const error = thrownBy(() => assertCanReadUser(user(BOB), ALICE));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', message: 'You are not allowed to do this' });
  });

  it('lets a user read their own profile', () => {
    // given Alice, when reading Alice, then allowed (returns normally)
    expect(thrownBy(() => assertCanReadUser(user(ALICE), ALICE))).toBeUndefined();
  });

  it("lets an ADMIN read anyone's profile", () => {
    // given an admin (Bob), when reading Alice, then allowed
    expect(thrownBy(() => assertCanReadUser(admin(BOB), ALICE))).toBeUndefined();
  });

  it('does not let the USER role through just because scopes are present', () => {
    const scoped = identity(BOB, 'USER', ['users:read']);
    expect(thrownBy(() => assertCanReadUser(scoped, ALICE))).toBeInstanceOf(ForbiddenError);
  });

  it('compares ids exactly (an upper-cased own id is someone else)', () => {
    expect(thrownBy(() => assertCanReadUser(user(ALICE), ALICE.toUpperCase()))).toBeInstanceOf(
      ForbiddenError,
    );
  });
});

describe('isUserId', () => {
  it.each([
    ['a v7 UUID', ALICE],
    ['a v4 UUID', '3b241101-e2bb-4255-8caf-4136c566a962'],
    ['an upper-case UUID', '3B241101-E2BB-4255-8CAF-4136C566A962'],
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
  ])('accepts %s', (_what, value) => {
    expect(isUserId(value)).toBe(true);
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
    expect(isUserId(value)).toBe(false);
  });
});

describe('provisionalProfile (read-your-writes before the profile event arrives)', () => {
  it('gives the caller their own profile as their token described it', () => {
    expect(provisionalProfile(user(ALICE), ALICE)).toEqual({
      id: ALICE,
      role: 'USER',
      email: 'someone@example.com',
      name: 'Someone',
      createdAt: new Date(0),
    });
  });

  it('gives nothing for someone else, even to an ADMIN, and nothing to anonymous callers', () => {
    expect(provisionalProfile(user(BOB), ALICE)).toBeNull();
    expect(provisionalProfile(admin(BOB), ALICE)).toBeNull();
    expect(provisionalProfile(null, ALICE)).toBeNull();
  });
});

describe('assertAdmin', () => {
  it('lets an ADMIN through, refuses a USER as FORBIDDEN and nobody as UNAUTHENTICATED', () => {
    expect(thrownBy(() => assertAdmin(admin(ALICE)))).toBeUndefined();
    expect(thrownBy(() => assertAdmin(user(ALICE)))).toBeInstanceOf(ForbiddenError);
    expect(thrownBy(() => assertAdmin(null))).toBeInstanceOf(UnauthenticatedError);
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
