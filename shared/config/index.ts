/**
 * Typed, validated configuration from environment variables.
 *
 * `loadConfig(schema)` parses the environment once with zod and either returns the typed
 * result or throws a `ConfigError` listing every bad variable, one line each, naming the
 * variable and what was expected. Only a process entry point calls it; everything else
 * receives the slice it needs.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

/** Parses `env` with `schema`; empty strings count as unset. Throws `ConfigError`. */
export function loadConfig<S extends z.ZodType>(schema: S, env: Env = process.env): z.infer<S> {
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = issue.path.join('.') || '(environment)';
    const got = typeof issue.path[0] === 'string' ? cleaned[issue.path[0]] : undefined;
    const shown = got === undefined ? 'it is unset' : `got ${JSON.stringify(redactUrl(got))}`;
    return `${variable}: ${issue.message} (${shown})`;
  });
  throw new ConfigError(problems);
}

/**
 * Hides the password of a URL so it can be logged. Also for strings that do not parse as a
 * URL (a typo elsewhere in the URL must not leak the password into a start-up error).
 */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]+@/i, '$1:***@');
}

const urlWithProtocols = (protocols: readonly string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL like ${example}` },
  );

/** Reusable field schemas, each with an "expected …" message that names the format. */
export const env = {
  port: () =>
    z.coerce
      .number({ message: 'expected a TCP port number (0-65535, 0 = any free port)' })
      .int({ message: 'expected a TCP port number (0-65535, 0 = any free port)' })
      .min(0, { message: 'expected a TCP port number (0-65535, 0 = any free port)' })
      .max(65535, { message: 'expected a TCP port number (0-65535, 0 = any free port)' }),
  postgresUrl: () =>
    urlWithProtocols(['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/db'),
  redisUrl: () => urlWithProtocols(['redis:', 'rediss:'], 'redis://host:6379'),
  httpUrl: (example = 'http://host:4002/graphql') => urlWithProtocols(['http:', 'https:'], example),
  brokers: () =>
    z
      .string()
      .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, {
        message: 'expected a comma-separated list of host:port',
      })
      .transform((value) => value.split(',')),
  /** true/false (also 1/0), as a boolean. */
  flag: () =>
    z
      .enum(['true', 'false', '1', '0'], { message: 'expected true or false' })
      .transform((value) => value === 'true' || value === '1'),
  positiveInt: (fallback: number) =>
    z.coerce
      .number({ message: 'expected a positive integer' })
      .int({ message: 'expected a positive integer' })
      .positive({ message: 'expected a positive integer' })
      .default(fallback),
};

/** Variables every service reads. */
export const commonEnvSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      message: 'expected development, production or test',
    })
    .default('development'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  HOST: z.string().default('127.0.0.1'),
  /** Where embedded components keep their data (embedded PostgreSQL). */
  DATA_DIR: z.string().default('.data'),
  DATABASE_URL: env.postgresUrl().optional(),
  /** Connections a subgraph process's pool keeps to PostgreSQL at most. */
  DATABASE_POOL_MAX: env.positiveInt(10),
  REDIS_URL: env.redisUrl().optional(),
  KAFKA_BROKERS: env.brokers().optional(),
  /** Prefix for Kafka topic and group names (isolates tests and environments). */
  KAFKA_TOPIC_PREFIX: z.string().default(''),
  /** Partitions of the topics services create at start-up (existing topics are kept). */
  KAFKA_TOPIC_PARTITIONS: env.positiveInt(3),
  /** Compression of produced Kafka batches. */
  KAFKA_COMPRESSION: z.enum(['none', 'gzip'], { message: 'expected none or gzip' }).default('none'),
  /** Consumer group session timeout; a rebalance waits about this long. */
  KAFKA_SESSION_TIMEOUT_MS: env.positiveInt(30_000),
  /** Prefix of every Redis key; each service adds `<service>:`. */
  REDIS_KEY_PREFIX: z.string().default('eventgraph:'),
  /** Grace period for in-flight work on SIGTERM before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: env.positiveInt(8000),
  /**
   * OpenTelemetry collector (OTLP/HTTP) base URL; `/v1/traces` is appended. Set: traces are
   * recorded and exported. Unset: tracing is off.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: env.httpUrl('http://otel-collector:4318').optional(),
  /** `service.name` of the traces this process exports; default `eventgraph[-<SERVICE>]`. */
  OTEL_SERVICE_NAME: z.string().optional(),
});

export type CommonEnv = z.infer<typeof commonEnvSchema>;
