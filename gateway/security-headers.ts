/**
 * What browsers may do with the gateway's GraphQL responses, as Express middleware that runs
 * on the GraphQL routes before GraphQL does: security headers and the CORS allowlist.
 *
 * Guarantees:
 * - Every GraphQL response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy:
 *   no-referrer`, `X-Frame-Options: DENY` and a CSP with `frame-ancestors 'none'`
 *   (`default-src 'none'` too, except on an HTML page: Sandbox loads Apollo's scripts), and
 *   `Strict-Transport-Security` when `hsts` is on (production).
 * - CORS headers only for an origin on the allowlist; no list, no CORS headers at all.
 */
import cors from 'cors';
import type { RequestHandler } from 'express';

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
