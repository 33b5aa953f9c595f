/**
 * The gateway's side of edge security. Verifies the client's bearer token — ES256 only,
 * keys from auth's JWKS (cached, refetched at most once a second when an unknown `kid`
 * arrives), `iss`, `aud`, `exp` and `typ` checked, claims validated, revoked tokens and
 * sessions refused — and turns a verified caller into the identity token each subgraph
 * request carries. A missing Authorization header is an anonymous caller; a present but
 * unacceptable one is refused with 401 UNAUTHENTICATED, whatever is wrong with it.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { NextFunction, Request, Response } from 'express';
import {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TYPE,
  accessTokenClaimsSchema,
} from '../../shared/auth/index.ts';
import type { AccessTokenClaims, RevocationReader } from '../../shared/auth/index.ts';
import { ExpiringLru } from '../../shared/cache/index.ts';
import { UnauthenticatedError } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/observability/index.ts';

declare module 'express-serve-static-core' {
  interface Locals {
    /** Gateway: the verified access token's claims; null for anonymous requests. */
    accessClaims: AccessTokenClaims | null;
  }
}

export interface AccessTokenVerifierOptions {
  /** Auth's `/.well-known/jwks.json`. */
  jwksUrl: URL;
  /** Expected `iss` (AUTH_TOKEN_ISSUER). */
  issuer: string;
  /** Expected `aud` (AUTH_TOKEN_AUDIENCE). */
  audience: string;
  /** Oldest acceptable `iat` (AUTH_ACCESS_TOKEN_TTL_SECONDS); also refuses an `iat` ahead of now. */
  maxAgeSeconds: number;
  revocations: RevocationReader;
  logger: Logger;
  /** Accepted clock difference with auth. @default 5 */
  clockToleranceSeconds?: number;
  /** @default () => new Date() */
  now?: () => Date;
  /** Verified tokens remembered (LRU), so a client's next request skips the signature check. @default 10000 */
  cacheSize?: number;
}

export interface AccessTokenVerifier {
  /** Claims of a valid token; null without a header; throws UnauthenticatedError otherwise. */
  verify(authorization: string | undefined): Promise<AccessTokenClaims | null>;
}

const BEARER = /^Bearer (\S+)$/i;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Real access tokens are well under this; anything longer is refused unparsed. */
const MAX_TOKEN_LENGTH = 4096;

export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const jwks = createRemoteJWKSet(options.jwksUrl, {
    cooldownDuration: 1000,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 3000,
  });
  const now = options.now ?? (() => new Date());
  const refuse = () => new UnauthenticatedError('Invalid or expired access token');
  const toleranceMs = (options.clockToleranceSeconds ?? 5) * 1000;
  // Tokens whose signature and claims were verified, until when that holds: the ES256 check
  // (and the claims' parsing) costs more than the rest of a request's authentication. Keyed
  // by the whole token, so only the same signed bytes match. A signing key withdrawn from the
  // JWKS is already trusted for up to its cache age (10 minutes); a remembered token outlives
  // it by at most its own lifetime.
  const verified = new ExpiringLru<AccessTokenClaims>(options.cacheSize ?? 10_000);

  /** The claims of a token whose signature and claims pass; throws otherwise. */
  async function checkSignature(token: string): Promise<AccessTokenClaims> {
    // Cheap structural check first: garbage never triggers a JWKS fetch.
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw refuse();
    }
    if (header.alg !== ACCESS_TOKEN_ALGORITHM || typeof header.kid !== 'string') throw refuse();
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        issuer: options.issuer,
        audience: options.audience,
        typ: ACCESS_TOKEN_TYPE,
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        maxTokenAge: options.maxAgeSeconds,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        currentDate: now(),
      }));
    } catch (error) {
      if (!(error instanceof joseErrors.JOSEError)) {
        // Not the token's fault (e.g. auth's JWKS unreachable): worth an operator's look.
        options.logger.warn({ err: error }, 'gateway: could not verify an access token');
      }
      throw refuse();
    }
    const claims = accessTokenClaimsSchema.safeParse(payload);
    if (!claims.success) throw refuse();
    // Good for as long as jwtVerify would accept it: until `exp`, and `maxAgeSeconds` after `iat`.
    const { exp, iat } = claims.data;
    verified.remember(
      token,
      claims.data,
      Math.min(exp, iat + options.maxAgeSeconds) * 1000 + toleranceMs,
    );
    return claims.data;
  }

  return {
    async verify(authorization) {
      if (authorization === undefined) return null;
      const match =
        authorization.length <= MAX_TOKEN_LENGTH + 7 && BEARER.exec(authorization.trim());
      if (!match)
        throw new UnauthenticatedError(
          'Expected an Authorization header of the form: Bearer <access token>',
        );
      const token = match[1]!;
      // The form is right, the token is not ("Bearer garbage"): the same answer as any
      // other bad token.
      if (!JWS_COMPACT.test(token)) throw refuse();
      const claims = verified.recall(token, now().getTime()) ?? (await checkSignature(token));
      // Revocations are checked on every request, remembered token or not.
      const revoked = await options.revocations.isRevoked({
        userId: claims.sub,
        sessionId: claims.sid,
        tokenId: claims.jti,
      });
      if (revoked) throw new UnauthenticatedError('This access token has been revoked');
      return { ...claims };
    },
  };
}

/** Express middleware: verifies the Authorization header into `res.locals.accessClaims`. */
export function authenticate(verifier: AccessTokenVerifier) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.locals.accessClaims = await verifier.verify(req.get('authorization'));
      next();
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
      }
      next(error);
    }
  };
}
