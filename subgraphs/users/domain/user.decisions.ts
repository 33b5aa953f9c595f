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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a user (and must not reach SQL as a uuid). */
export function isUserId(value: string): boolean {
  return UUID.test(value);
}
