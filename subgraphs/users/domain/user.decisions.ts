/**
 * Pure decisions about users: who may see or change whom, and whose profile a token may
 * stand in for. No I/O, so they are tested as plain given/when/then functions. (Paging is
 * shared by every subgraph: shared/server/pagination.ts.)
 */
import type { Identity, Role } from '../../../shared/auth/index.ts';
import {
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from '../../../shared/errors/index.ts';

/** What the users subgraph answers about a user: a stored profile or one read from a token. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

/**
 * A user sees (and changes) their own account; an ADMIN anyone's. Anyone else's account is
 * answered as if it did not exist (null, NOT_FOUND), never FORBIDDEN: so nobody can probe
 * which ids exist. Anonymous callers are UNAUTHENTICATED.
 */
export function canSeeUser(identity: Identity | null, userId: string): boolean {
  if (!identity) throw new UnauthenticatedError();
  return identity.userId === userId || identity.role === 'ADMIN';
}

/** Changing a profile or deleting an account follows the seeing rule: NOT_FOUND otherwise. */
export function assertCanChangeUser(identity: Identity | null, userId: string): void {
  if (!canSeeUser(identity, userId)) throw new NotFoundError('User');
}

/** Listing users and changing roles are for ADMINs only. */
export function assertAdmin(identity: Identity | null): asserts identity is Identity {
  if (!identity) throw new UnauthenticatedError();
  if (identity.role !== 'ADMIN') throw new ForbiddenError();
}

/**
 * Read-your-writes after `register`: until the `user.registered` event has created the
 * profile, the caller's own profile is the one their access token was issued with. Only
 * ever for the caller themself, and only when no stored profile exists.
 */
export function provisionalProfile(identity: Identity | null, userId: string): UserView | null {
  if (!identity || identity.userId !== userId) return null;
  return { id: identity.userId, role: identity.role, ...identity.profile };
}
