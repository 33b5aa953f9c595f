/**
 * Auth subgraph wiring: credentials (Postgres schema `auth`), signing keys and the JWKS at
 * `/.well-known/jwks.json`, sessions, revocations and login rate limits in the cache, the
 * `user.*` account events through the outbox, and the consumer of the users subgraph's
 * events (name, role, deletion). Started by `platform/platform.ts`.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { TOPICS, catalogue } from '../../schema/events/index.ts';
import { createRevocationList } from '../../shared/auth/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { createAccessTokenIssuer } from './domain/access-tokens.ts';
import { createAuthService } from './domain/auth.service.ts';
import { CredentialEntity } from './domain/credential.entity.ts';
import { createAccountHandlers } from './events/account.handlers.ts';
import { createPasswordHasher } from './domain/passwords.ts';
import { createSessionStore } from './domain/sessions.ts';
import { startSigningKeyStore } from './domain/signing-keys.ts';
import type { SigningKeyStore } from './domain/signing-keys.ts';
import { migrations } from './migrations/index.ts';
import { createAuthResolvers } from './resolvers/auth.resolvers.ts';

export const AUTH_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

/** Where the JWKS is served; the gateway derives it from the auth URL. */
export const JWKS_PATH = '/.well-known/jwks.json';

/** Auth's own settings (the AUTH_* variables and ADMIN_EMAIL). */
export interface AuthSettings {
  /** `iss` of access tokens. */
  tokenIssuer: string;
  /** `aud` of access tokens. */
  tokenAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Automatic signing-key rotation period; 0 rotates only on demand. */
  signingKeyRotationMs: number;
  loginWindowMs: number;
  maxLoginsPerEmail: number;
  maxLoginsPerIp: number;
  /** register, login, refreshToken and changePassword per client address per minute. */
  credentialOpsPerIpPerMinute: number;
  adminEmail?: string | undefined;
}

export interface AuthSubgraphOptions {
  config: SubgraphRuntimeConfig;
  settings: AuthSettings;
  logger: Logger;
  /** Shared transport (embedded mode); otherwise the subgraph opens its own from config. */
  transport?: EventTransport;
}

export interface AuthSubgraphHandle extends SubgraphHandle {
  /** The signing keys (tests and `auth:rotate-key` rotate through it). */
  readonly signingKeys: SigningKeyStore;
}

export async function startAuthSubgraph(options: AuthSubgraphOptions): Promise<AuthSubgraphHandle> {
  const { settings } = options;
  let signingKeys: SigningKeyStore | undefined;
  const handle = await createSubgraph({
    name: 'auth',
    typeDefs: parse(AUTH_SDL),
    entities: [CredentialEntity],
    migrations,
    catalogue,
    config: options.config,
    logger: options.logger,
    ...(options.transport ? { transport: options.transport } : {}),
    async wire({ db, cache, events, logger }) {
      const accessTokenTtlMs = settings.accessTokenTtlSeconds * 1000;
      const refreshTokenTtlMs = settings.refreshTokenTtlSeconds * 1000;
      const keys = await startSigningKeyStore({
        orm: db.orm,
        schema: options.config.dbSchema ?? 'auth',
        logger,
        // A retired key verifies until its last token expires (plus a minute of clock skew).
        retainMs: accessTokenTtlMs + 60_000,
        rotateAfterMs: settings.signingKeyRotationMs,
      });
      signingKeys = keys;
      const revocations = createRevocationList({ cache, accessTokenTtlMs, refreshTokenTtlMs });
      const auth = createAuthService({
        events,
        hasher: await createPasswordHasher(),
        tokens: createAccessTokenIssuer(
          {
            issuer: settings.tokenIssuer,
            audience: settings.tokenAudience,
            ttlSeconds: settings.accessTokenTtlSeconds,
          },
          keys,
        ),
        sessions: createSessionStore({ cache, revocations, refreshTokenTtlMs }),
        revocations,
        cache,
        limits: {
          windowMs: settings.loginWindowMs,
          maxPerEmail: settings.maxLoginsPerEmail,
          maxPerIp: settings.maxLoginsPerIp,
          credentialOpsPerIpPerMinute: settings.credentialOpsPerIpPerMinute,
        },
        adminEmail: settings.adminEmail,
      });
      await events.consume({
        group: 'auth.accounts',
        topics: [TOPICS.users],
        handlers: createAccountHandlers(revocations),
      });
      return {
        resolvers: createAuthResolvers(auth),
        routes(app) {
          app.get(JWKS_PATH, async (_req, res, next) => {
            try {
              // Another instance may have rotated: a JWKS is at most 5 s behind the table.
              await keys.refresh(5000);
              res.setHeader('cache-control', 'public, max-age=60');
              res.json(keys.jwks());
            } catch (error) {
              next(error);
            }
          });
        },
        async stop() {
          keys.stop();
        },
      };
    },
  });
  return { ...handle, signingKeys: signingKeys! };
}
