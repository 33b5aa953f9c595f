/**
 * The access token's claims: what auth signs (ES256, 15 minutes) and the gateway verifies.
 * One schema on both sides, so a claim cannot be added on one and missed on the other.
 */
import { z } from 'zod';
import { ROLES } from './identity.ts';
import type { Identity } from './identity.ts';

/** The only algorithm access tokens may use; verifiers pin it (no `alg` negotiation). */
export const ACCESS_TOKEN_ALGORITHM = 'ES256';
/** The JOSE `typ` header of access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export const accessTokenClaimsSchema = z.object({
  sub: z.uuid(),
  role: z.enum(ROLES),
  /** Space-separated scopes (RFC 8693 style). */
  scope: z.string(),
  jti: z.string().min(1).max(100),
  /** The session: refresh-token family id. */
  sid: z.string().min(1).max(100),
  email: z.string(),
  name: z.string(),
  /** The account's creation, epoch seconds. */
  created_at: z.number().int(),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type AccessTokenClaims = z.infer<typeof accessTokenClaimsSchema>;

export function identityFromClaims(claims: AccessTokenClaims): Identity {
  return {
    userId: claims.sub,
    role: claims.role,
    scopes: claims.scope.split(' ').filter(Boolean),
    sessionId: claims.sid,
    tokenId: claims.jti,
    tokenExpiresAt: new Date(claims.exp * 1000),
    profile: {
      email: claims.email,
      name: claims.name,
      createdAt: new Date(claims.created_at * 1000),
    },
  };
}
