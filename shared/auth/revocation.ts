/**
 * Revoked tokens and sessions, in the cache under auth's prefix (Redis in production): auth
 * writes, the gateway reads on every authenticated request (one MGET). Entries expire when
 * what they revoke would have expired anyway.
 *
 * - a token (`jti`): logout, until the access token's expiry;
 * - a session (refresh family `sid`): logout and refresh-token reuse, for as long as an
 *   access token of that session can live;
 * - a user's sessions started before a moment, optionally but one: password change, account
 *   deletion; for as long as a refresh token can live. Session ids are UUID v7, so a session's
 *   start is read from its id to the millisecond (a login right after a password change
 *   survives it; a token's whole-second `iat` could not tell the two apart).
 */
import { z } from 'zod';
import type { Cache } from '../cache/index.ts';

export interface RevocationListOptions {
  /** A cache under auth's prefix (`${REDIS_KEY_PREFIX}auth:`). */
  cache: Cache;
  /** Longest life of an access token: how long a revoked session is remembered. */
  accessTokenTtlMs: number;
  /** Longest life of a refresh token: how long a user-wide revocation is remembered. */
  refreshTokenTtlMs: number;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface TokenRef {
  readonly userId: string;
  readonly sessionId: string;
  readonly tokenId: string;
}

/** What the gateway needs: the reading half. */
export interface RevocationReader {
  /** True when the token, its session or its user's sessions have been revoked. */
  isRevoked(token: TokenRef): Promise<boolean>;
  /** True when the session may no longer be used or refreshed. */
  isSessionRevoked(session: { userId: string; sessionId: string }): Promise<boolean>;
}

/** What auth needs: reading and writing. */
export interface RevocationList extends RevocationReader {
  revokeToken(tokenId: string, expiresAt: Date): Promise<void>;
  revokeSession(sessionId: string): Promise<void>;
  /** Revokes every session of the user that started before now, except `keepSessionId`. */
  revokeUserSessions(userId: string, keepSessionId?: string): Promise<void>;
}

const userRevocationSchema = z.object({ before: z.number(), keep: z.string().optional() });

const keys = {
  token: (tokenId: string) => `revoked:token:${tokenId}`,
  session: (sessionId: string) => `revoked:session:${sessionId}`,
  user: (userId: string) => `revoked:user:${userId}`,
};

/** Reads revocations from a cache under auth's prefix (`${REDIS_KEY_PREFIX}auth:`). */
export function createRevocationReader(cache: Cache): RevocationReader {
  const revokedByUser = (stored: string | null | undefined, sessionId: string): boolean => {
    if (!stored) return false;
    const parsed = userRevocationSchema.safeParse(safeJson(stored));
    const startedAt = sessionStartMs(sessionId);
    // Unreadable entries and ids revoke: failing closed is the safe reading of a revocation.
    if (!parsed.success || startedAt === undefined) return true;
    return startedAt < parsed.data.before && parsed.data.keep !== sessionId;
  };
  return {
    async isRevoked(token) {
      const [byToken, bySession, byUser] = await cache.getMany(
        keys.token(token.tokenId),
        keys.session(token.sessionId),
        keys.user(token.userId),
      );
      return byToken !== null || bySession !== null || revokedByUser(byUser, token.sessionId);
    },
    async isSessionRevoked(session) {
      const [bySession, byUser] = await cache.getMany(
        keys.session(session.sessionId),
        keys.user(session.userId),
      );
      return bySession !== null || revokedByUser(byUser, session.sessionId);
    },
  };
}

export function createRevocationList(options: RevocationListOptions): RevocationList {
  const { cache } = options;
  const now = options.now ?? (() => new Date());
  return {
    ...createRevocationReader(cache),
    async revokeToken(tokenId, expiresAt) {
      const ttlMs = expiresAt.getTime() - now().getTime();
      if (ttlMs > 0) await cache.set(keys.token(tokenId), '1', ttlMs);
    },
    async revokeSession(sessionId) {
      await cache.set(keys.session(sessionId), '1', options.accessTokenTtlMs);
    },
    async revokeUserSessions(userId, keepSessionId) {
      const value = JSON.stringify({
        // Sessions started in this millisecond or earlier.
        before: now().getTime() + 1,
        ...(keepSessionId ? { keep: keepSessionId } : {}),
      });
      await cache.set(keys.user(userId), value, options.refreshTokenTtlMs);
    },
  };
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The creation time (ms) a UUID v7 carries in its first 48 bits; undefined for other ids. */
function sessionStartMs(sessionId: string): number | undefined {
  if (!UUID_V7.test(sessionId)) return undefined;
  return parseInt(sessionId.slice(0, 8) + sessionId.slice(9, 13), 16);
}
