/**
 * Who may read whose profile, and what can name a user: pure decisions, given/when/then.
 */
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors/index.ts';
import { testIdentity, thrownBy } from '../../../shared/testing/index.ts';
import { assertAdmin, assertCanReadUser, provisionalProfile } from './user.decisions.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const identity = testIdentity;
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
