/**
 * Pure decisions about users: who may see whom. No I/O, so they are tested as plain
 * given/when/then functions.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors/index.ts';

/** A user reads their own profile; an ADMIN reads anyone's. Throws otherwise. */
export function assertCanReadUser(identity: Identity | null, userId: string): void {
  if (!identity) throw new UnauthenticatedError();
  if (identity.userId !== userId && identity.role !== 'ADMIN') throw new ForbiddenError();
}

/** What the users subgraph answers about a user: a stored profile or one read from a token. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  role: Identity['role'];
  createdAt: Date;
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a user (and must not reach SQL as a uuid). */
export function isUserId(value: string): boolean {
  return UUID.test(value);
}
