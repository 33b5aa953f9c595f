/**
 * Issues access tokens: ES256 JWTs signed with the current signing key (its `kid` in the
 * header), carrying the claims of shared/auth/access-token.ts, valid `ttlSeconds`.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ACCESS_TOKEN_ALGORITHM, ACCESS_TOKEN_TYPE } from '../../../shared/auth/index.ts';
import type { AccessTokenClaims, Role } from '../../../shared/auth/index.ts';
import { scopesForRole } from '../../../schema/scopes.ts';
import type { SigningKeyStore } from './signing-keys.ts';

export interface AccessTokenSettings {
  /** `iss` of every token (AUTH_TOKEN_ISSUER). */
  issuer: string;
  /** `aud` of every token (AUTH_TOKEN_AUDIENCE). */
  audience: string;
  /** Lifetime (AUTH_ACCESS_TOKEN_TTL_SECONDS). @default 900 */
  ttlSeconds: number;
}

export interface TokenSubject {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: Date;
}

export interface AccessTokenIssuer {
  issue(subject: TokenSubject, sessionId: string): Promise<{ token: string; expiresIn: number }>;
}

export function createAccessTokenIssuer(
  settings: AccessTokenSettings,
  keys: SigningKeyStore,
  now: () => Date = () => new Date(),
): AccessTokenIssuer {
  return {
    async issue(subject, sessionId) {
      const issuedAt = Math.floor(now().getTime() / 1000);
      const claims: Omit<AccessTokenClaims, 'sub' | 'jti' | 'iat' | 'exp'> = {
        role: subject.role,
        scope: scopesForRole(subject.role).join(' '),
        sid: sessionId,
        email: subject.email,
        name: subject.name,
        created_at: Math.floor(subject.createdAt.getTime() / 1000),
      };
      const { kid, privateKey } = keys.current();
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, kid, typ: ACCESS_TOKEN_TYPE })
        .setSubject(subject.id)
        .setJti(randomUUID())
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + settings.ttlSeconds)
        .sign(privateKey);
      return { token, expiresIn: settings.ttlSeconds };
    },
  };
}
