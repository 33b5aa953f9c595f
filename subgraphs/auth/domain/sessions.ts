/**
 * Sessions and their refresh tokens, in the cache (Redis in production).
 *
 * A session is a refresh-token family. Its token is opaque — `<session id>.<256 random
 * bits>` — and only its SHA-256 is stored. Every refresh rotates it (compare-and-swap, so
 * two concurrent uses of one token cannot both win); presenting a token the family already
 * rotated away is reuse — the token was copied — and ends the whole session, including the
 * newest token and every access token it issued. Tokens last `refreshTokenTtlMs` from issue.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import type { RevocationList } from '../../../shared/auth/index.ts';
import type { Cache } from '../../../shared/cache/index.ts';
import { UnauthenticatedError } from '../../../shared/errors/index.ts';

export interface SessionStoreOptions {
  /** A cache under auth's prefix. */
  cache: Cache;
  revocations: RevocationList;
  /** Lifetime of each refresh token. */
  refreshTokenTtlMs: number;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface SessionRef {
  readonly userId: string;
  readonly sessionId: string;
}

export interface SessionStore {
  /** Starts a session; resolves to its id and first refresh token. */
  start(userId: string): Promise<SessionRef & { refreshToken: string }>;
  /** Trades a refresh token for the next one; throws UNAUTHENTICATED (reuse ends the session). */
  rotate(refreshToken: string): Promise<SessionRef & { refreshToken: string }>;
  /** The session a refresh token (current or already rotated) belongs to; null if none. */
  find(refreshToken: string): Promise<SessionRef | null>;
  /** Ends a session: its refresh tokens and access tokens stop working. */
  end(sessionId: string): Promise<void>;
}

/** How many rotated-away hashes a session remembers, to recognise reuse. */
const REMEMBERED_HASHES = 50;

const recordSchema = z.object({
  userId: z.string(),
  /** SHA-256 (hex) of the current refresh token. */
  hash: z.string(),
  /** Hashes of tokens already rotated away, newest last. */
  previous: z.array(z.string()),
  expiresAt: z.number(),
});
type SessionRecord = z.infer<typeof recordSchema>;

const TOKEN = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;
const INVALID = 'Invalid or expired refresh token';

export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { cache, revocations, refreshTokenTtlMs } = options;
  const now = options.now ?? (() => new Date());
  const key = (sessionId: string) => `session:${sessionId}`;

  const newToken = (sessionId: string) => {
    const token = `${sessionId}.${randomBytes(32).toString('base64url')}`;
    return { token, hash: sha256(token) };
  };

  const read = async (sessionId: string) => {
    const raw = await cache.get(key(sessionId));
    if (raw === null) return null;
    let parsed;
    try {
      parsed = recordSchema.safeParse(JSON.parse(raw));
    } catch {
      return null; // unreadable: no session
    }
    return parsed.success ? { raw, record: parsed.data } : null;
  };

  const end = async (sessionId: string) => {
    await revocations.revokeSession(sessionId);
    await cache.delete(key(sessionId));
  };

  return {
    async start(userId) {
      const sessionId = uuidv7();
      const { token, hash } = newToken(sessionId);
      const record: SessionRecord = {
        userId,
        hash,
        previous: [],
        expiresAt: now().getTime() + refreshTokenTtlMs,
      };
      await cache.set(key(sessionId), JSON.stringify(record), refreshTokenTtlMs);
      return { userId, sessionId, refreshToken: token };
    },

    async rotate(refreshToken) {
      const match = TOKEN.exec(refreshToken);
      if (!match) throw new UnauthenticatedError(INVALID);
      const sessionId = match[1]!;
      const presented = sha256(refreshToken);
      const stored = await read(sessionId);
      if (!stored) throw new UnauthenticatedError(INVALID);
      const { raw, record } = stored;
      if (
        record.expiresAt <= now().getTime() ||
        (await revocations.isSessionRevoked({ userId: record.userId, sessionId }))
      ) {
        await cache.delete(key(sessionId));
        throw new UnauthenticatedError(INVALID);
      }
      if (!sameHash(presented, record.hash)) {
        if (record.previous.some((hash) => sameHash(presented, hash))) {
          await end(sessionId);
          throw new UnauthenticatedError(
            'This refresh token was already used; the session has been ended. Sign in again',
          );
        }
        throw new UnauthenticatedError(INVALID);
      }
      const next = newToken(sessionId);
      const rotated: SessionRecord = {
        userId: record.userId,
        hash: next.hash,
        previous: [...record.previous, record.hash].slice(-REMEMBERED_HASHES),
        expiresAt: now().getTime() + refreshTokenTtlMs,
      };
      if (
        !(await cache.compareAndSwap(
          key(sessionId),
          raw,
          JSON.stringify(rotated),
          refreshTokenTtlMs,
        ))
      ) {
        // Someone rotated this very token a moment ago: two holders of one token is reuse.
        await end(sessionId);
        throw new UnauthenticatedError(
          'This refresh token was already used; the session has been ended. Sign in again',
        );
      }
      return { userId: record.userId, sessionId, refreshToken: next.token };
    },

    async find(refreshToken) {
      const match = TOKEN.exec(refreshToken);
      if (!match) return null;
      const stored = await read(match[1]!);
      if (!stored) return null;
      const presented = sha256(refreshToken);
      const known = [stored.record.hash, ...stored.record.previous].some((hash) =>
        sameHash(presented, hash),
      );
      return known ? { userId: stored.record.userId, sessionId: match[1]! } : null;
    },

    end,
  };
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
