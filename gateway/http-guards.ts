/**
 * The gateway's HTTP guards: Express middleware that runs on the GraphQL routes before
 * GraphQL does — security headers, the CORS allowlist, the per-client rate limit and the
 * batch size limit. Refusals go to `graphqlErrorHandler` (shared/server/http.ts), the one
 * place that turns them into a GraphQL-shaped error body with a status and a code.
 *
 * Guarantees:
 * - Every GraphQL response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy:
 *   no-referrer`, `X-Frame-Options: DENY` and a CSP with `frame-ancestors 'none'`
 *   (`default-src 'none'` too, except on an HTML page: Sandbox loads Apollo's scripts), and
 *   `Strict-Transport-Security` when `hsts` is on (production).
 * - CORS headers only for an origin on the allowlist; no list, no CORS headers at all.
 * - At most `perMinute` GraphQL requests per client in any 60 s (an exact sliding window in
 *   the cache: Redis shared by every gateway, or memory in embedded mode). The client is the
 *   access token's `sub` when signed in, else the address the request came from. Over the
 *   limit: HTTP 429, `Retry-After`, `RATE_LIMITED` with `retryAfter` seconds. A batch counts
 *   as one request. When the cache fails, requests are let through (and a warning logged):
 *   the limit protects the subgraphs, it must not take the gateway down with Redis.
 */
import cors from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Cache } from '../shared/cache/index.ts';
import { RateLimitedError } from '../shared/errors/index.ts';
import { RequestRefusedError } from '../shared/server/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import { clientIpOf } from './auth.ts';
import { nestingOf } from './plugins/limits.plugin.ts';

export interface SecurityHeadersOptions {
  /** Send `Strict-Transport-Security` (behind TLS, i.e. in production). */
  hsts: boolean;
}

const STRICT_CSP = "default-src 'none'; frame-ancestors 'none'";
const PAGE_CSP = "frame-ancestors 'none'";

export function securityHeaders(options: SecurityHeadersOptions): RequestHandler {
  return (req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    // Apollo serves its landing page to a GET that accepts HTML; its scripts come from
    // Apollo's CDN, so that page only forbids being framed.
    const page = req.method === 'GET' && (req.get('accept') ?? '').includes('text/html');
    res.setHeader('content-security-policy', page ? PAGE_CSP : STRICT_CSP);
    if (options.hsts) {
      res.setHeader('strict-transport-security', 'max-age=31536000; includeSubDomains');
    }
    next();
  };
}

/**
 * CORS for the allowlisted origins (exact `scheme://host[:port]`), with credentials, the
 * headers GraphQL clients send, and preflights cached for 10 minutes. Null for an empty list.
 */
export function corsPolicy(origins: readonly string[]): RequestHandler | null {
  if (origins.length === 0) return null;
  const allowed = new Set(origins);
  return cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: [
      'authorization',
      'content-type',
      'apollo-require-preflight',
      'x-apollo-operation-name',
      'x-request-id',
    ],
    exposedHeaders: ['x-request-id', 'retry-after'],
    credentials: true,
    maxAge: 600,
  });
}

export interface RateLimitOptions {
  /** Where the hits are counted; keys `rate:user:<sub>` and `rate:ip:<address>`. */
  cache: Cache;
  /** GraphQL requests allowed per client in any 60 s (GATEWAY_RATE_LIMIT_PER_MINUTE). @default 600 */
  perMinute?: number;
  logger: Logger;
}

/** Runs after `authenticate` (it reads `res.locals.accessClaims`). */
export function rateLimitPerClient(options: RateLimitOptions): RequestHandler {
  const limit = options.perMinute ?? 600;
  let warnedAt = 0;
  return async (req: Request, res: Response, next: NextFunction) => {
    const sub = res.locals.accessClaims?.sub;
    const key = sub ? `rate:user:${sub}` : `rate:ip:${clientIpOf(req) ?? 'unknown'}`;
    let result;
    try {
      // Each operation of a batch is a request (runs after the JSON body parser).
      const hits = Array.isArray(req.body) ? Math.max(1, req.body.length) : 1;
      result = await options.cache.hitRateLimit(key, { windowMs: 60_000, limit, hits });
    } catch (error) {
      // At most one warning a minute, however many requests pass unchecked.
      if (Date.now() - warnedAt > 60_000) {
        warnedAt = Date.now();
        options.logger.warn(
          { err: error },
          'gateway: rate limit unavailable; letting requests through',
        );
      }
      next();
      return;
    }
    if (result.allowed) {
      next();
      return;
    }
    next(new RateLimitedError(Math.ceil(result.retryAfterMs / 1000)));
  };
}

/** Refuses a batch of more than `maxBatch` operations (runs after the JSON body parser). */
export function limitBatchSize(maxBatch: number): RequestHandler {
  return (req, _res, next) => {
    const body: unknown = req.body;
    if (Array.isArray(body) && body.length > maxBatch) {
      next(
        new RequestRefusedError(
          400,
          'BAD_REQUEST',
          `A batch of ${body.length} operations exceeds the limit of ${maxBatch}`,
          { limit: { name: 'batch', maximum: maxBatch, actual: body.length } },
        ),
      );
      return;
    }
    next();
  };
}

/**
 * Refuses a document nested deeper than `maxNesting` brackets before anything parses it
 * (runs after the JSON body parser; GET reads `query` from the URL), with
 * GRAPHQL_PARSE_FAILED and HTTP 400. Far above any query GATEWAY_MAX_DEPTH allows, far below
 * what overflows the recursive parser.
 */
export function limitNesting(maxNesting: number): RequestHandler {
  return (req, _res, next) => {
    const body: unknown = req.body;
    const sources = [
      ...(Array.isArray(body) ? body : [body]).map(
        (entry) => (entry as { query?: unknown } | null)?.query,
      ),
      req.method === 'GET' ? req.query['query'] : undefined,
    ];
    for (const source of sources) {
      if (typeof source !== 'string') continue;
      const nesting = nestingOf(source, maxNesting);
      if (nesting > maxNesting) {
        next(
          new RequestRefusedError(
            400,
            'GRAPHQL_PARSE_FAILED',
            `Query nesting exceeds the limit of ${maxNesting} levels`,
            { limit: { name: 'nesting', maximum: maxNesting } },
          ),
        );
        return;
      }
    }
    next();
  };
}
