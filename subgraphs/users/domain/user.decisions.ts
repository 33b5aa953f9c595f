/**
 * Pure decisions about users: who may see or change whom, what a name may be, and how a
 * page of users is asked for. No I/O, so they are tested as plain given/when/then functions.
 */
import type { Identity, Role } from '../../../shared/auth/index.ts';
import {
  ForbiddenError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';

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

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

/** `first` of a connection: 1–100, 20 when absent. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE_SIZE_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE_MAX) {
    throw new ValidationError('first', `first must be between 1 and ${PAGE_SIZE_MAX}`);
  }
  return first;
}

/** Where a page starts: after the user with this creation time and id (the sort key). */
export interface UserCursor {
  createdAt: Date;
  id: string;
}

/** Cursors are opaque to clients: base64url of the sort key. */
export function encodeCursor(cursor: UserCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString(
    'base64url',
  );
}

/** Throws BAD_USER_INPUT (field `after`) for anything `encodeCursor` did not produce. */
export function decodeCursor(value: string): UserCursor {
  const invalid = () => new ValidationError('after', 'after is not a cursor from this list');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string' ||
    !isUserId(parsed[1])
  ) {
    throw invalid();
  }
  const createdAt = new Date(parsed[0]);
  if (Number.isNaN(createdAt.getTime())) throw invalid();
  return { createdAt, id: parsed[1] };
}

/** A `search` term for SQL LIKE: trimmed, wildcards escaped; null when there is nothing to match. */
export function likePattern(search: string | null | undefined): string | null {
  const term = search?.trim();
  if (!term) return null;
  if (term.length > 100)
    throw new ValidationError('search', 'search must be at most 100 characters');
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a user (and must not reach SQL as a uuid). */
export function isUserId(value: string): boolean {
  return UUID.test(value);
}
