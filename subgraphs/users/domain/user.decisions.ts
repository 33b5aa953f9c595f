/**
 * Pure decisions about users: who may see or change whom, and whose profile a token may
 * stand in for. No I/O, so they are tested as plain given/when/then functions. (Paging is
 * shared by every subgraph: shared/server/pagination.ts.)
 */
import type { Identity, Role } from '../../../shared/auth/index.ts';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors/index.ts';

/** What the users subgraph answers about a user: a stored profile or one read from a token. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

/** A user reads (and changes) their own profile; an ADMIN anyone's. Throws otherwise. */
export function assertCanReadUser(identity: Identity | null, userId: string): void {
  if (!identity) throw new UnauthenticatedError();
  if (identity.userId !== userId && identity.role !== 'ADMIN') throw new ForbiddenError();
}

/** Changing a profile or deleting an account follows the reading rule: self or ADMIN. */
export const assertCanChangeUser = assertCanReadUser;

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
