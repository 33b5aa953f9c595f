/**
 * Structured JSON logging (pino). One root logger per process; each service and each
 * request gets a child carrying `service` and `requestId`, so every line can be joined up.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level; `silent` turns logging off. @default 'info' */
  level?: string;
  /** Bound to every line as `service`. */
  service?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: options.service ? { service: options.service } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      // Secrets never reach a log line, wherever a careless `{ input }` puts them.
      paths: [
        '*.password',
        '*.currentPassword',
        '*.newPassword',
        '*.accessToken',
        '*.refreshToken',
        '*.authorization',
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-eventgraph-gateway-token"]',
      ],
      censor: '[redacted]',
    },
  });
}

/** Header that carries the request id between the gateway and subgraphs. */
export const REQUEST_ID_HEADER = 'x-request-id';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Returns the incoming request id when it is well-formed, else a new one. An id is only a
 * correlation handle, never an authority, so accepting a client's is harmless once its
 * shape is checked (no log injection).
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SAFE_REQUEST_ID.test(value) ? value : randomUUID();
}
