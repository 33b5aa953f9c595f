/**
 * Who may read whose profile, and what can name a user: pure decisions, given/when/then.
 */
import {
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from '../../../shared/errors/index.ts';
import { testIdentity, thrownBy } from '../../../shared/testing/index.ts';
import {
  assertAdmin,
  assertCanChangeUser,
  canSeeUser,
  provisionalProfile,
} from './user.decisions.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const identity = testIdentity;
const user = (userId: string) => identity(userId, 'USER');
const admin = (userId: string) => identity(userId, 'ADMIN');

describe('canSeeUser and assertCanChangeUser', () => {
  it('refuse an anonymous caller as unauthenticated', () => {
    // given no identity, when reading Alice, then UNAUTHENTICATED
    const error = thrownBy(() => canSeeUser(null, ALICE));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'You must be signed in' });
    expect(thrownBy(() => assertCanChangeUser(null, ALICE))).toBeInstanceOf(UnauthenticatedError);
  });

  it("treat someone else's account as absent: not visible, NOT_FOUND to change", () => {
    // given Bob, when reading or changing Alice, then as if she did not exist
    expect(canSeeUser(user(BOB), ALICE)).toBe(false);
    const error = thrownBy(() => assertCanChangeUser(user(BOB), ALICE));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: 'User not found' });
  });

  it('let a user see and change their own account', () => {
    expect(canSeeUser(user(ALICE), ALICE)).toBe(true);
    expect(thrownBy(() => assertCanChangeUser(user(ALICE), ALICE))).toBeUndefined();
  });

  it("let an ADMIN see and change anyone's account", () => {
    expect(canSeeUser(admin(BOB), ALICE)).toBe(true);
    expect(thrownBy(() => assertCanChangeUser(admin(BOB), ALICE))).toBeUndefined();
  });

  it('do not let the USER role through just because scopes are present', () => {
    expect(canSeeUser(identity(BOB, 'USER', ['users:read']), ALICE)).toBe(false);
  });

  it('compare ids exactly (an upper-cased own id is someone else)', () => {
    expect(canSeeUser(user(ALICE), ALICE.toUpperCase())).toBe(false);
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
