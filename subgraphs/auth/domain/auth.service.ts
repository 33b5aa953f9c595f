/**
 * The auth use cases: register, login, refresh, logout, change password. State changes and
 * their events commit together (outbox); sessions, revocations and rate-limit windows live
 * in the cache. Every method takes the request's EntityManager; the service holds none.
 */
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Caller, Identity, RevocationList } from '../../../shared/auth/index.ts';
import type { Cache } from '../../../shared/cache/index.ts';
import { UniqueConstraintViolationException } from '../../../shared/db/index.ts';
import type { EntityManager } from '../../../shared/db/index.ts';
import {
  ConflictError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';
import type { ServiceEvents } from '../../../shared/events/index.ts';
import {
  userLoggedInV1,
  userLoggedOutV1,
  userPasswordChangedV1,
  userRegisteredV1,
} from '../../../schema/events/index.ts';
import type {
  UserLoggedInV1,
  UserLoggedOutV1,
  UserPasswordChangedV1,
  UserRegisteredV1,
} from '../../../schema/events/index.ts';
import { normaliseName } from '../../../schema/profile.ts';
import type { AccessTokenIssuer, TokenSubject } from './access-tokens.ts';
import { CredentialEntity } from './credential.entity.ts';
import type { Credential } from './credential.entity.ts';
import {
  assertStrongPassword,
  couldBePassword,
  normaliseEmail,
  roleForNewAccount,
} from './credential.decisions.ts';
import type { PasswordHasher } from './passwords.ts';
import type { SessionStore } from './sessions.ts';

export interface LoginLimits {
  /** Sliding window the limits count in (AUTH_LOGIN_WINDOW_SECONDS × 1000). */
  windowMs: number;
  /** Attempts per email per window; a successful login clears the email's window. */
  maxPerEmail: number;
  /** Attempts per client address per window. */
  maxPerIp: number;
  /**
   * Credential operations (register, login, refreshToken, changePassword: each costs an
   * argon2 hash or a session write) per client address per minute, all four together.
   */
  credentialOpsPerIpPerMinute: number;
}

/** Who asks for a credential operation: one client request, from one address. */
export interface CredentialRequest {
  /** The client request's id: every operation of one HTTP request (a batch too) shares it. */
  readonly requestId: string;
  readonly clientIp: string | null;
  /** Aborted when the caller hangs up: the work is then not committed. */
  readonly signal?: AbortSignal;
}

/** At most this many credential operations per client request, batch and aliases included. */
export const CREDENTIAL_OPS_PER_REQUEST = 1;

export interface AuthServiceOptions {
  events: ServiceEvents;
  hasher: PasswordHasher;
  tokens: AccessTokenIssuer;
  sessions: SessionStore;
  revocations: RevocationList;
  /** Holds the rate-limit windows (auth's cache). */
  cache: Cache;
  limits: LoginLimits;
  /** ADMIN_EMAIL: the account registered with it is ADMIN. */
  adminEmail?: string | undefined;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface AuthResult {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: TokenSubject;
}

export interface AuthService {
  register(
    em: EntityManager,
    request: CredentialRequest,
    input: { email: string; password: string; name: string },
  ): Promise<AuthResult>;
  login(
    em: EntityManager,
    request: CredentialRequest,
    input: { email: string; password: string },
  ): Promise<AuthResult>;
  refresh(em: EntityManager, request: CredentialRequest, refreshToken: string): Promise<AuthResult>;
  logout(em: EntityManager, caller: Caller, refreshToken?: string | null): Promise<boolean>;
  changePassword(
    em: EntityManager,
    request: CredentialRequest,
    identity: Identity | null,
    input: { currentPassword: string; newPassword: string },
  ): Promise<boolean>;
}

const INVALID_LOGIN = 'Invalid email or password';

export function createAuthService(options: AuthServiceOptions): AuthService {
  const { events, hasher, tokens, sessions, revocations, cache, limits } = options;
  const now = options.now ?? (() => new Date());
  const adminEmail = options.adminEmail ? normaliseEmail(options.adminEmail) : undefined;

  const signIn = async (account: Credential, sessionId: string, refreshToken: string) => {
    const user = subjectOf(account);
    const access = await tokens.issue(user, sessionId);
    return { accessToken: access.token, expiresIn: access.expiresIn, refreshToken, user };
  };

  const limit = async (key: string, max: number, windowMs = limits.windowMs) => {
    const hit = await cache.hitRateLimit(key, { windowMs, limit: max });
    if (!hit.allowed) throw new RateLimitedError(Math.max(1, Math.ceil(hit.retryAfterMs / 1000)));
  };

  /**
   * Admits one credential operation: one per client request (a batch of aliased `register`s
   * ran one argon2 hash each), and a budget per client address. Refused before any work.
   */
  const admit = async (request: CredentialRequest) => {
    const once = await cache.hitRateLimit(`credential:request:${request.requestId}`, {
      windowMs: 60_000,
      limit: CREDENTIAL_OPS_PER_REQUEST,
    });
    if (!once.allowed) {
      throw new ValidationError(
        'request',
        'At most one of register, login, refreshToken and changePassword per request',
      );
    }
    if (request.clientIp) {
      await limit(`credential:ip:${request.clientIp}`, limits.credentialOpsPerIpPerMinute, 60_000);
    }
  };

  /** Throws, so that nothing commits, when the caller has hung up (its timeout passed). */
  const stillWanted = (request: CredentialRequest) => {
    request.signal?.throwIfAborted();
  };

  return {
    async register(em, request, input) {
      await admit(request);
      const email = normaliseEmail(input.email);
      const name = normaliseName(input.name);
      assertStrongPassword(input.password, email);
      if (await em.count(CredentialEntity, { email })) {
        throw new ConflictError('An account with this email already exists');
      }
      const passwordHash = await hasher.hash(input.password);
      stillWanted(request);
      const at = now();
      const id = uuidv7();
      const account = await em
        .transactional(async (tx) => {
          const created = tx.create(CredentialEntity, {
            id,
            email,
            passwordHash,
            name,
            role: roleForNewAccount(email, adminEmail),
            createdAt: at,
            updatedAt: at,
            passwordChangedAt: at,
          });
          await tx.flush();
          const data: UserRegisteredV1 = {
            userId: id,
            email,
            name,
            role: created.role,
            registeredAt: at.toISOString(),
          };
          await events.publish(tx, userRegisteredV1, [{ subject: id, data }]);
          return created;
        })
        .catch((error: unknown) => {
          // Two registrations of one email racing: the unique index decides.
          if (error instanceof UniqueConstraintViolationException) {
            throw new ConflictError('An account with this email already exists');
          }
          throw error;
        });
      const session = await sessions.start(account.id);
      return signIn(account, session.sessionId, session.refreshToken);
    },

    async login(em, request, input) {
      await admit(request);
      const email = normaliseEmail(input.email);
      if (request.clientIp) await limit(`login:ip:${request.clientIp}`, limits.maxPerIp);
      // Hashed: the key says nothing about who is being tried.
      const emailKey = `login:email:${createHash('sha256').update(email).digest('hex')}`;
      await limit(emailKey, limits.maxPerEmail);
      const account = await em.findOne(CredentialEntity, { email });
      const ok =
        couldBePassword(input.password) &&
        (await hasher.verify(account?.passwordHash ?? null, input.password));
      if (!account || !ok) throw new UnauthenticatedError(INVALID_LOGIN);
      await cache.delete(emailKey);
      const session = await sessions.start(account.id);
      await em.transactional(async (tx) => {
        if (hasher.needsRehash(account.passwordHash)) {
          const current = await tx.findOneOrFail(CredentialEntity, { id: account.id });
          current.passwordHash = await hasher.hash(input.password);
          current.updatedAt = now();
        }
        const data: UserLoggedInV1 = {
          userId: account.id,
          sessionId: session.sessionId,
          loggedInAt: now().toISOString(),
        };
        await events.publish(tx, userLoggedInV1, [{ subject: account.id, data }]);
      });
      return signIn(account, session.sessionId, session.refreshToken);
    },

    async refresh(em, request, refreshToken) {
      await admit(request);
      const rotated = await sessions.rotate(refreshToken);
      const account = await em.findOne(CredentialEntity, { id: rotated.userId });
      if (!account) {
        await sessions.end(rotated.sessionId);
        throw new UnauthenticatedError('Invalid or expired refresh token');
      }
      return signIn(account, rotated.sessionId, rotated.refreshToken);
    },

    async logout(em, caller, refreshToken) {
      const { identity } = caller;
      if (!identity && !refreshToken) throw new UnauthenticatedError();
      const ended = new Map<string, string>();
      if (identity) {
        await revocations.revokeToken(identity.tokenId, identity.tokenExpiresAt);
        ended.set(identity.sessionId, identity.userId);
      }
      if (refreshToken) {
        const session = await sessions.find(refreshToken);
        // Someone else's token is left alone: logout ends only the caller's own sessions.
        if (session && (!identity || session.userId === identity.userId)) {
          ended.set(session.sessionId, session.userId);
        }
      }
      for (const sessionId of ended.keys()) await sessions.end(sessionId);
      if (ended.size > 0) {
        const at = now().toISOString();
        await em.transactional(async (tx) => {
          await events.publish(
            tx,
            userLoggedOutV1,
            [...ended].map(([sessionId, userId]) => {
              const data: UserLoggedOutV1 = { userId, sessionId, loggedOutAt: at };
              return { subject: userId, data };
            }),
          );
        });
      }
      return true;
    },

    async changePassword(em, request, identity, input) {
      if (!identity) throw new UnauthenticatedError();
      await admit(request);
      const account = await em.findOne(CredentialEntity, { id: identity.userId });
      if (!account) throw new UnauthenticatedError();
      const attemptsKey = `password:user:${account.id}`;
      await limit(attemptsKey, limits.maxPerEmail);
      if (
        !couldBePassword(input.currentPassword) ||
        !(await hasher.verify(account.passwordHash, input.currentPassword))
      ) {
        throw new ValidationError('currentPassword', 'Current password is incorrect');
      }
      assertStrongPassword(input.newPassword, account.email, 'newPassword');
      if (input.newPassword === input.currentPassword) {
        throw new ValidationError('newPassword', 'New password must differ from the current one');
      }
      const passwordHash = await hasher.hash(input.newPassword);
      stillWanted(request);
      // Other sessions end before the new password is stored: a failure in between leaves
      // the account signed out elsewhere, never with an old session and a new password.
      await revocations.revokeUserSessions(account.id, identity.sessionId);
      const at = now();
      await em.transactional(async (tx) => {
        const current = await tx.findOneOrFail(CredentialEntity, { id: account.id });
        current.passwordHash = passwordHash;
        current.passwordChangedAt = at;
        current.updatedAt = at;
        const data: UserPasswordChangedV1 = { userId: account.id, changedAt: at.toISOString() };
        await events.publish(tx, userPasswordChangedV1, [{ subject: account.id, data }]);
      });
      await cache.delete(attemptsKey);
      return true;
    },
  };
}

function subjectOf(account: Credential): TokenSubject {
  return {
    id: account.id,
    email: account.email,
    name: account.name,
    role: account.role,
    createdAt: account.createdAt,
  };
}
