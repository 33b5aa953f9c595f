/**
 * The gateway → subgraph identity token. The gateway verifies the client's access token,
 * then signs, per subgraph request, a token that says who the caller is and where the
 * request came from (HS256 with GATEWAY_TOKEN_SECRET, 60 s). Subgraphs accept a GraphQL
 * request only with a valid one — anonymous requests carry one too — so calling a
 * subgraph's port directly, with a forged header or token, impersonates nobody.
 *
 * Both ends remember their work, as HMAC and the claims' parsing cost a measurable share of
 * a request: the gateway reuses the token it signed for a caller (the same access token, the
 * same client address) for up to half its lifetime, and a subgraph remembers the caller of a
 * token it verified, by its exact bytes, until jwtVerify would refuse it.
 */
import { GATEWAY_SECRET_MIN_LENGTH } from './gateway-secret.ts';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { ExpiringLru } from '../cache/index.ts';
import { UnauthenticatedError } from '../errors/index.ts';
import { accessTokenClaimsSchema, identityFromClaims } from './access-token.ts';
import type { AccessTokenClaims } from './access-token.ts';
import type { Caller } from './identity.ts';

/** The header carrying the token from the gateway to a subgraph. */
export const GATEWAY_TOKEN_HEADER = 'x-eventgraph-gateway-token';
const ALGORITHM = 'HS256';
const ISSUER = 'eventgraph-gateway';
const AUDIENCE = 'eventgraph-subgraphs';
/** A distinct `typ`, so no other JWT (an access token, say) passes as a gateway token. */
const TYPE = 'eventgraph-gateway+jwt';
export { GATEWAY_SECRET_MIN_LENGTH };

const gatewayClaimsSchema = z.object({
  ip: z.string().max(64).optional(),
  usr: accessTokenClaimsSchema.optional(),
});

export interface GatewayTokenOptions {
  /** GATEWAY_TOKEN_SECRET: shared by the gateway and every subgraph, ≥ 32 characters. */
  secret: string;
  /** Lifetime of a signed token. @default 60 */
  ttlSeconds?: number;
  /** Accepted clock difference between gateway and subgraph. @default 5 */
  clockToleranceSeconds?: number;
  /** @default () => new Date() */
  now?: () => Date;
  /** Callers whose signed or verified tokens are remembered (LRU, at each end). @default 10000 */
  cacheSize?: number;
}

export interface GatewayTokens {
  /** Signs the caller for one subgraph request; `claims` are the verified access token's. */
  sign(caller: { claims: AccessTokenClaims | null; clientIp: string | null }): Promise<string>;
  /** The caller a token names; throws UnauthenticatedError when missing, expired or forged. */
  verify(token: string | undefined): Promise<Caller>;
}

export function createGatewayTokens(options: GatewayTokenOptions): GatewayTokens {
  if (options.secret.length < GATEWAY_SECRET_MIN_LENGTH) {
    throw new Error(
      `GATEWAY_TOKEN_SECRET: expected at least ${GATEWAY_SECRET_MIN_LENGTH} characters`,
    );
  }
  // Imported once: given the bytes, jose imports an HMAC key on every sign and verify.
  const key = crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(options.secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  );
  const ttlSeconds = options.ttlSeconds ?? 60;
  const toleranceSeconds = options.clockToleranceSeconds ?? 5;
  const now = options.now ?? (() => new Date());
  const cacheSize = options.cacheSize ?? 10_000;
  const signed = new ExpiringLru<Promise<string>>(cacheSize);
  const verified = new ExpiringLru<Caller>(cacheSize);

  const signToken = async (
    claims: AccessTokenClaims | null,
    clientIp: string | null,
    issuedAt: number,
  ): Promise<string> =>
    new SignJWT({
      ...(clientIp ? { ip: clientIp } : {}),
      ...(claims ? { usr: claims } : {}),
    })
      .setProtectedHeader({ alg: ALGORITHM, typ: TYPE })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttlSeconds)
      .sign(await key);

  /** The caller a token names, and until when jwtVerify would accept it; throws otherwise. */
  const verifyToken = async (token: string): Promise<{ caller: Caller; validUntilMs: number }> => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: TYPE,
        requiredClaims: ['iat', 'exp'],
        clockTolerance: toleranceSeconds,
        maxTokenAge: ttlSeconds + toleranceSeconds,
        currentDate: now(),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
        throw new UnauthenticatedError('Invalid gateway token');
      }
      throw error;
    }
    const parsed = gatewayClaimsSchema.safeParse(payload);
    if (!parsed.success) throw new UnauthenticatedError('Invalid gateway token');
    const { exp, iat } = payload as { exp: number; iat: number };
    return {
      caller: {
        identity: parsed.data.usr ? identityFromClaims(parsed.data.usr) : null,
        clientIp: parsed.data.ip ?? null,
      },
      // jwtVerify accepts it until `exp` and until its longest age after `iat`, each with
      // the tolerance.
      validUntilMs:
        Math.min(exp + toleranceSeconds, iat + ttlSeconds + 2 * toleranceSeconds) * 1000,
    };
  };

  return {
    sign({ claims, clientIp }) {
      // An access token's id names its claims: one signed token per (access token, address),
      // reused while at least half its life is left.
      const cacheKey = `${claims?.jti ?? ''}\u0000${clientIp ?? ''}`;
      const nowMs = now().getTime();
      const reusable = signed.recall(cacheKey, nowMs);
      if (reusable) return reusable;
      const token = signToken(claims, clientIp, Math.floor(nowMs / 1000));
      signed.remember(cacheKey, token, nowMs + (ttlSeconds * 1000) / 2);
      // A failed signing is not reused.
      token.catch(() => signed.forget(cacheKey));
      return token;
    },
    async verify(token) {
      if (!token) {
        throw new UnauthenticatedError('This service accepts requests only through the gateway');
      }
      const known = verified.recall(token, now().getTime());
      if (known) return known;
      const { caller, validUntilMs } = await verifyToken(token);
      verified.remember(token, caller, validUntilMs);
      return caller;
    },
  };
}
