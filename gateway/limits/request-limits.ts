/**
 * Limits of a GraphQL request over HTTP, as Express middleware that runs on the GraphQL
 * routes before GraphQL does: the per-client rate limit, the batch size and the bracket
 * nesting of the document. Refusals go to `graphqlErrorHandler` (shared/server/http.ts), the
 * one place that turns them into a GraphQL-shaped error body with a status and a code.
 *
 * Guarantees:
 * - At most `perMinute` GraphQL requests per client in any 60 s (an exact sliding window in
 *   the cache: Redis shared by every gateway, or memory in embedded mode). The client is the
 *   access token's `sub` when signed in, else the address the request came from. Over the
 *   limit: HTTP 429, `Retry-After`, `RATE_LIMITED` with `retryAfter` seconds. A batch counts
 *   as one request. When the cache fails, requests are let through (and a warning logged):
 *   the limit protects the subgraphs, it must not take the gateway down with Redis.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Cache } from '../../shared/cache/index.ts';
import { RateLimitedError } from '../../shared/errors/index.ts';
import { RequestRefusedError } from '../../shared/server/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { clientIpOf } from '../context.ts';

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

/**
 * Deepest nesting of `{`, `[` and `(` in a GraphQL source, strings and comments skipped;
 * stops counting once past `stopAt`. graphql-js parses recursively, so a document nested a
 * few thousand levels overflows the stack: this check runs before the parser does.
 */
function nestingOf(source: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === '#') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (char === '"') {
      if (source.startsWith('"""', i)) {
        const end = source.indexOf('"""', i + 3);
        i = end === -1 ? source.length : end + 2;
      } else {
        for (i++; i < source.length && source[i] !== '"' && source[i] !== '\n'; i++) {
          if (source[i] === '\\') i++;
        }
      }
    } else if (char === '{' || char === '[' || char === '(') {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > stopAt) return deepest;
    } else if (char === '}' || char === ']' || char === ')') {
      depth--;
    }
  }
  return deepest;
}
