/**
 * Logging (pino). One root logger per process; each service and each request gets a child
 * carrying `service` and `requestId`, so every line can be joined up.
 *
 * Two formats of the same lines: `json`, one object a line for collectors, and `pretty` for a
 * person at a terminal (pino-pretty, formatting each line synchronously in-process, so a line
 * logged just before `process.exit` is still written). Pretty shows an info line's message
 * alone (its fields are in the JSON), and every other level's fields on the same line.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** pino level; `silent` turns logging off. @default 'info' */
  level?: string;
  /** Bound to every line as `service`. */
  service?: string;
  /** @default 'json' */
  format?: LogFormat;
  /** Where lines go. @default stdout */
  destination?: DestinationStream;
}

/**
 * Field of a banner line (see `logBanner`): the names of the line's fields to show, in
 * order, under its message.
 */
export const BANNER_KEY = 'banner';

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
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
    },
    options.format === 'pretty' ? prettyStream(destination) : destination,
  );
}

/**
 * A block for a person (the ready banner): the message, then each of `rows` as `label
 * value`. In JSON it is one line with the rows as fields.
 */
export function logBanner(logger: Logger, message: string, rows: Record<string, string>): void {
  logger.info({ ...rows, [BANNER_KEY]: Object.keys(rows) }, message);
}

/** Formats pino's JSON lines for a person, synchronously, onto `destination`. */
function prettyStream(destination: DestinationStream): DestinationStream {
  const common = {
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,service',
    messageFormat: withService,
  };
  const brief = prettyFactory({ ...common, hideObject: true });
  const detailed = prettyFactory({ ...common, singleLine: true });
  return {
    write(line: string) {
      const log = JSON.parse(line) as Record<string, unknown>;
      if (Array.isArray(log[BANNER_KEY])) destination.write(banner(log, log[BANNER_KEY]));
      else destination.write((log['level'] === 'info' ? brief : detailed)(log));
    },
  };
}

/** The message, led by its service unless it names the service already ("auth subgraph ready"). */
function withService(log: Record<string, unknown>, messageKey: string): string {
  const message = text(log[messageKey]);
  const service = typeof log['service'] === 'string' ? log['service'] : undefined;
  return service && !message.startsWith(service) ? `${service}: ${message}` : message;
}

/** A field as text: strings as they are, anything else as JSON. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}

function banner(log: Record<string, unknown>, keys: unknown[]): string {
  const labels = keys.map(String);
  const width = Math.max(...labels.map((label) => label.length));
  const rows = labels.map((label) => `    ${label.padEnd(width)}  ${text(log[label])}`);
  return `\n  ${text(log['msg'])}\n\n${rows.join('\n')}\n\n`;
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
