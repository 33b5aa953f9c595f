/**
 * The HTTP shell every process shares: request ids and access logs, `GET /health` (the
 * process is alive), `GET /ready` (its dependencies answer, and it is not shutting down),
 * `GET /metrics` (Prometheus), and listen/close helpers. GraphQL is mounted by the caller.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Caller } from '../auth/index.ts';
import { DomainError, RetryLaterError } from '../errors/index.ts';
import type { Logger, ServiceMetrics } from '../observability/index.ts';
import { REQUEST_ID_HEADER, requestIdFrom } from '../observability/index.ts';
import { withTimeout } from '../async/index.ts';

/** A named dependency check for `/ready`; rejects when the dependency is unusable. */
export type ReadinessCheck = () => Promise<void>;

export interface HttpAppOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  checks: Record<string, ReadinessCheck>;
  /** Per-check time limit for `/ready`. @default 2000 */
  checkTimeoutMs?: number;
  /**
   * Serve `/ready` and `/metrics` only on `operator` (its own port), not on `app`: they name
   * the services behind it, which the public need not learn. @default false
   */
  operatorApart?: boolean;
  /**
   * Proxies whose `X-Forwarded-For` is believed for `req.ip` (Express's `trust proxy`:
   * addresses, CIDR ranges, `loopback`…). @default [] (the connection's peer is the client)
   */
  trustedProxies?: readonly string[];
}

export interface HttpApp {
  readonly app: express.Express;
  /** `/health`, `/ready` and `/metrics` alone, for an operator port. */
  readonly operator: express.Express;
  /** Makes `/ready` answer 503 from now on (called when shutdown begins). */
  markStopping(): void;
}

declare module 'express-serve-static-core' {
  interface Locals {
    requestId: string;
    logger: Logger;
    /** Subgraphs: the caller named by the gateway's token. */
    caller: Caller;
  }
}

export function createHttpApp(options: HttpAppOptions): HttpApp {
  const { logger, metrics } = options;
  const checkTimeoutMs = options.checkTimeoutMs ?? 2000;
  let stopping = false;
  const app = express();
  app.disable('x-powered-by');
  // No ETag: Express would hash every GraphQL answer (a SHA-1 over the whole body) for a
  // conditional GET that GraphQL clients do not make.
  app.disable('etag');
  app.set('trust proxy', options.trustedProxies?.length ? [...options.trustedProxies] : false);

  const observe = requestObserver(metrics);
  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    const started = process.hrtime.bigint();
    res.locals.requestId = requestId;
    res.locals.logger = logger.child({ requestId });
    res.setHeader(REQUEST_ID_HEADER, requestId);
    res.on('finish', () => {
      observe(res.locals.logger, req.method, req.originalUrl, res.statusCode, started);
    });
    next();
  });

  const health = (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  };
  const ready = async (_req: Request, res: Response) => {
    if (stopping) {
      res.status(503).json({ status: 'stopping' });
      return;
    }
    const results = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), checkTimeoutMs);
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, `failed: ${(error as Error).message}`] as const;
        }
      }),
    );
    const ok = results.every(([, result]) => result === 'ok');
    res
      .status(ok ? 200 : 503)
      .json({ status: ok ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
  };
  const metricsText = async (_req: Request, res: Response) => {
    res.setHeader('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };

  app.get('/health', health);
  if (!options.operatorApart) {
    app.get('/ready', ready);
    app.get('/metrics', metricsText);
  }
  const operator = express();
  operator.disable('x-powered-by');
  operator.get('/health', health);
  operator.get('/ready', ready);
  operator.get('/metrics', metricsText);

  return {
    app,
    operator,
    markStopping() {
      stopping = true;
    },
  };
}

/**
 * A request refused before GraphQL runs for what it is (too large, too many operations…):
 * answered with `status` and a GraphQL-shaped error carrying `code` and `extensions`.
 */
export class RequestRefusedError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RequestRefusedError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const STATUS_BY_CODE: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

/** What a GraphQL route answers for a request refused before GraphQL ran for it. */
export interface Refusal {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { errors: [{ message: string; extensions: Record<string, unknown> }] };
}

/**
 * What fails before GraphQL runs — a refused token, a malformed or oversized body — as a
 * GraphQL response with a code, never an HTML page or a stack trace. Anything unexpected is
 * masked and logged with the request id.
 */
export function refusalOf(error: unknown, logger: Logger, requestId: string): Refusal {
  const headers: Record<string, string> = {};
  let status: number;
  let body: { message: string; extensions: Record<string, unknown> };
  const httpError = error as {
    status?: unknown;
    type?: unknown;
    limit?: unknown;
    length?: unknown;
  };
  if (error instanceof RequestRefusedError) {
    status = error.status;
    body = { message: error.message, extensions: { code: error.code, ...error.details } };
  } else if (error instanceof DomainError) {
    status = STATUS_BY_CODE[error.code] ?? 400;
    body = { message: error.message, extensions: { code: error.code, ...error.extensions() } };
    if (error.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer';
    if (error instanceof RetryLaterError) {
      headers['retry-after'] = String(error.retryAfterSeconds);
    }
  } else if (
    typeof httpError.status === 'number' &&
    httpError.status >= 400 &&
    httpError.status < 500
  ) {
    // body-parser's errors: too large, malformed JSON, unsupported charset.
    status = httpError.status;
    const message =
      httpError.type === 'entity.too.large'
        ? typeof httpError.limit === 'number'
          ? `Request body is larger than the limit of ${httpError.limit} bytes`
          : 'Request body is too large'
        : httpError.type === 'entity.parse.failed'
          ? 'Request body is not valid JSON'
          : 'Malformed request';
    body = { message, extensions: { code: 'BAD_REQUEST' } };
  } else {
    logger.error({ err: error }, 'request failed before GraphQL');
    status = 500;
    body = {
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
    };
  }
  return { status, headers, body: { errors: [body] } };
}

/** Express error handler for GraphQL routes: answers with `refusalOf` the error. */
export function graphqlErrorHandler(
  error: unknown,
  _req: Request,
  res: Response,
  next: NextFunction,
): void {
  if (res.headersSent) {
    next(error);
    return;
  }
  const refusal = refusalOf(error, res.locals.logger, res.locals.requestId);
  for (const [name, value] of Object.entries(refusal.headers)) {
    // A challenge the route set already (naming its error) stays.
    if (name !== 'www-authenticate' || !res.hasHeader(name)) res.setHeader(name, value);
  }
  res.status(refusal.status).json(refusal.body);
}

/**
 * Records a finished request: its duration in `http_request_duration_seconds` and, but for
 * the probes, an access log line under the request's logger.
 */
export function requestObserver(
  metrics: ServiceMetrics,
): (logger: Logger, method: string, url: string, status: number, started: bigint) => void {
  return (logger, method, url, status, started) => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const path = url.split('?')[0] ?? '/';
    const route = routeLabel(path);
    metrics.httpRequestDuration.observe({ method, route, status: String(status) }, seconds);
    if (route !== '/health' && route !== '/ready' && route !== '/metrics') {
      logger.info({ method, path, status, ms: Math.round(seconds * 1000) }, 'request completed');
    }
  };
}

/** Keeps metric label cardinality bounded: only known routes get their own label. */
function routeLabel(path: string): string {
  return ['/', '/graphql', '/health', '/ready', '/metrics'].includes(path) ? path : 'other';
}

export interface ListeningServer {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
}

/** Starts listening; a port already in use is reported with the port and variable. */
export async function listen(
  server: http.Server,
  host: string,
  port: number,
): Promise<ListeningServer> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`PORT: ${host}:${port} is already in use; stop the other process or set PORT`)
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return { server, port: address.port, url: `http://${shownHost}:${address.port}` };
}

export function createServer(app: express.Express): http.Server {
  const server = http.createServer(app);
  // Slightly above typical load balancer idle timeouts, so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
