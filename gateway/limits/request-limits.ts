/**
 * Limits of a GraphQL request over HTTP, as Express middleware that runs on the GraphQL
 * routes before GraphQL does: how many are worked on at once, the per-client rate limit, the
 * batch size and the bracket nesting of the document. Refusals go to `graphqlErrorHandler`
 * (shared/server/http.ts), the one place that turns them into a GraphQL-shaped error body with
 * a status and a code.
 *
 * Guarantees:
 * - At most `maxConcurrent` requests are worked on at once, the others taken in arrival order;
 *   a waiting request holds no more than its connection (its body is read on its turn). Past
 *   `maxQueued` waiting: HTTP 503, `Retry-After`, SERVICE_UNAVAILABLE.
 * - At most `perMinute` GraphQL requests per client in any 60 s (an exact sliding window in
 *   the cache: Redis shared by every gateway, or memory in embedded mode). The client is the
 *   access token's `sub` when signed in, else the address the request came from. Over the
 *   limit: HTTP 429, `Retry-After`, `RATE_LIMITED` with `retryAfter` seconds. Every operation
 *   of a batch counts. When the cache fails, requests are let through (and a warning logged):
 *   the limit protects the subgraphs, it must not take the gateway down with Redis.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Cache } from '../../shared/cache/index.ts';
import { RateLimitedError, ServiceUnavailableError } from '../../shared/errors/index.ts';
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

export interface ConcurrencyLimitOptions {
  /** GraphQL requests worked on at once (GATEWAY_MAX_CONCURRENT_REQUESTS). */
  maxConcurrent: number;
  /** Requests waiting for a turn; one more is refused (GATEWAY_MAX_QUEUED_REQUESTS). */
  maxQueued: number;
  /** Where `gateway_requests_working`, `…_waiting` and `…_refused_total` are registered. */
  registry: Registry;
}

/**
 * At most `maxConcurrent` GraphQL requests are worked on at once; the others wait their turn
 * in arrival order, before anything reads their body. Past what one event loop works on
 * without slowing down, more requests at once only make each one slower, and the event
 * consumers that share the loop with them (one process runs the saga too). A request's turn
 * ends when its response is finished or its connection closes; one whose client went away
 * while it waited gets no turn. With `maxQueued` already waiting, a request is refused at
 * once: HTTP 503, `Retry-After: 1`, SERVICE_UNAVAILABLE.
 */
export function limitConcurrency(options: ConcurrencyLimitOptions): RequestHandler {
  const { maxConcurrent, maxQueued, registry } = options;
  let working = 0;
  /** Starts of the waiting requests, oldest first; each answers whether it started. */
  const waiting: (() => boolean)[] = [];
  const refused = new Counter({
    name: 'gateway_requests_refused_total',
    help: 'GraphQL requests refused because GATEWAY_MAX_QUEUED_REQUESTS were waiting',
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_requests_working',
    help: 'GraphQL requests over HTTP being worked on',
    registers: [registry],
    collect() {
      this.set(working);
    },
  });
  new Gauge({
    name: 'gateway_requests_waiting',
    help: 'GraphQL requests over HTTP waiting for a turn (GATEWAY_MAX_CONCURRENT_REQUESTS)',
    registers: [registry],
    collect() {
      this.set(waiting.length);
    },
  });
  /** A turn has ended: the oldest waiting request that is still there takes it. */
  const release = () => {
    for (let start = waiting.shift(); start; start = waiting.shift()) {
      if (start()) return;
    }
    working--;
  };
  return (req, res, next) => {
    const start = () => {
      if (req.destroyed || res.writableEnded) return false;
      res.once('close', release);
      next();
      return true;
    };
    if (working < maxConcurrent) {
      working++;
      if (!start()) release();
    } else if (waiting.length < maxQueued) {
      waiting.push(start);
    } else {
      refused.inc();
      next(new ServiceUnavailableError('The gateway is at capacity; retry shortly', 1));
    }
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
