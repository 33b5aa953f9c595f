/**
 * The environment a process of the platform reads (see README's configuration table and
 * `.env.example`). Parsed once by `platform/start.ts`.
 */
import { z } from 'zod';
import { GATEWAY_SECRET_MIN_LENGTH } from '../shared/auth/index.ts';
import { DEFAULT_SUPERGRAPH_PATH } from '../gateway/supergraph.ts';
import { commonEnvSchema, env } from '../shared/config/index.ts';
import { SUBGRAPHS } from './services.ts';

export const platformEnvSchema = commonEnvSchema
  .extend({
    /**
     * How log lines are written: `json` (one object a line, for collectors) or `pretty` (for a
     * person). Unset: `pretty` when stdout is a terminal, otherwise `json`.
     */
    LOG_FORMAT: z
      .enum(['json', 'pretty'], { message: 'expected json or pretty' })
      .default(defaultLogFormat),
    /** Run one service of the platform; unset runs everything in this process. */
    SERVICE: z
      .enum(['gateway', 'auth', 'users', 'catalog', 'orders', 'analytics'], {
        message: 'expected one of gateway, auth, users, catalog, orders, analytics',
      })
      .optional(),
    /** Port of the service (SERVICE set) or of the gateway (everything in one process). */
    PORT: env.port().optional(),
    /**
     * Gateway: the port of `/ready` and `/metrics` (they name every subgraph), apart from the
     * public one; 0 picks a free port. Default: 9090 when NODE_ENV=production, otherwise
     * unset (served on PORT).
     */
    GATEWAY_OPERATOR_PORT: env.port().optional(),
    AUTH_URL: env.httpUrl().optional(),
    USERS_URL: env.httpUrl().optional(),
    CATALOG_URL: env.httpUrl().optional(),
    ORDERS_URL: env.httpUrl().optional(),
    ANALYTICS_URL: env.httpUrl().optional(),
    /**
     * Where the gateway's supergraph comes from: `file` serves SUPERGRAPH_PATH and reloads it
     * when it changes; `compose` composes the subgraphs' SDL at start (`npm run dev`).
     */
    SUPERGRAPH_SOURCE: z
      .enum(['file', 'compose'], { message: 'expected file or compose' })
      .default('file'),
    /** The supergraph file (relative to the working directory); default: this installation's. */
    SUPERGRAPH_PATH: z.string().default(DEFAULT_SUPERGRAPH_PATH),
    /** Gateway: answer introspection queries. Default: on unless NODE_ENV=production. */
    GATEWAY_INTROSPECTION: env.flag().optional(),
    /** Gateway: serve Apollo Sandbox at `/`. Default: on unless NODE_ENV=production. */
    GATEWAY_SANDBOX: env.flag().optional(),
    /** Gateway: identical subgraph queries in flight for one caller share a fetch. */
    GATEWAY_DEDUPLICATE_QUERIES: env.flag().default(true),
    /** Gateway: deepest field nesting of an operation. */
    GATEWAY_MAX_DEPTH: env.positiveInt(12),
    /** Gateway: aliases in one document. */
    GATEWAY_MAX_ALIASES: env.positiveInt(30),
    /** Gateway: highest operation cost (README, "Limits"). */
    GATEWAY_MAX_COST: env.positiveInt(20000),
    /** Gateway: tokens the parser reads before refusing a document. */
    GATEWAY_MAX_TOKENS: env.positiveInt(10_000),
    /** Gateway: largest JSON request body in bytes; over it, HTTP 413. */
    GATEWAY_MAX_BODY_BYTES: env.positiveInt(1024 * 1024),
    /** Gateway: operations in one batched request; 1 turns batching off. */
    GATEWAY_MAX_BATCH: env.positiveInt(10),
    /** Gateway: time one subgraph attempt may take; queries are retried once. */
    GATEWAY_SUBGRAPH_TIMEOUT_MS: env.positiveInt(10_000),
    /** Gateway: keep-alive connections to each subgraph at most; more fetches queue. */
    GATEWAY_SUBGRAPH_CONNECTIONS: env.positiveInt(128),
    /** Gateway: GraphQL requests per client (user, else address) in any 60 s. */
    GATEWAY_RATE_LIMIT_PER_MINUTE: env.positiveInt(600),
    /** Gateway: comma-separated origins allowed to call from browsers; unset: no CORS headers. */
    GATEWAY_CORS_ORIGINS: z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .refine((origins) => origins.every(isOrigin), {
        message: 'expected comma-separated origins like https://app.example.com',
      })
      .optional(),
    /**
     * Gateway: cache PUBLIC query responses (by `@cacheControl`) in Redis, invalidated by the
     * domain events the gateway consumes. Default off.
     */
    GATEWAY_RESPONSE_CACHE: env.flag().default(false),
    /**
     * Gateway: a persisted query manifest (JSON, `npm run schema:manifest`); when set, only
     * its operations run. Default unset: any valid operation runs (APQ in Redis).
     */
    GATEWAY_TRUSTED_DOCUMENTS: z.string().min(1).optional(),
    /**
     * Development only: the account registered with this address becomes ADMIN. Production
     * refuses it (whoever registers the address first would be ADMIN, unverified); operators
     * grant ADMIN to an existing account with `npm run users:set-role`.
     */
    ADMIN_EMAIL: z.email({ message: 'expected an email address' }).optional(),
    /**
     * Signs the identity token the gateway sends each subgraph (HS256). Required when
     * services run as separate processes; one process makes its own.
     */
    GATEWAY_TOKEN_SECRET: z
      .string()
      .min(GATEWAY_SECRET_MIN_LENGTH, {
        message: `expected a random secret of at least ${GATEWAY_SECRET_MIN_LENGTH} characters (e.g. openssl rand -base64 48)`,
      })
      .optional(),
    /** `iss` of access tokens, checked by the gateway. */
    AUTH_TOKEN_ISSUER: z.string().default('eventgraph-auth'),
    /** `aud` of access tokens, checked by the gateway. */
    AUTH_TOKEN_AUDIENCE: z.string().default('eventgraph'),
    AUTH_ACCESS_TOKEN_TTL_SECONDS: env.positiveInt(900),
    AUTH_REFRESH_TOKEN_TTL_SECONDS: env.positiveInt(7 * 24 * 3600),
    /** Signing keys older than this are rotated automatically; 0 rotates only on demand. */
    AUTH_SIGNING_KEY_ROTATION_DAYS: z.coerce
      .number({ message: 'expected a whole number of days (0 = never)' })
      .int({ message: 'expected a whole number of days (0 = never)' })
      .min(0, { message: 'expected a whole number of days (0 = never)' })
      .default(30),
    /** Sliding window in which login attempts are counted. */
    AUTH_LOGIN_WINDOW_SECONDS: env.positiveInt(900),
    AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: env.positiveInt(10),
    AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: env.positiveInt(100),
    /**
     * register, login, refreshToken and changePassword together, per client address per
     * minute (each costs an argon2 hash or a session write). One per client request always.
     */
    AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: env.positiveInt(60),
  })
  .superRefine((value, ctx) => {
    if (value.ADMIN_EMAIL && value.NODE_ENV === 'production') {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_EMAIL'],
        message:
          'is for development only (whoever registers that address first becomes ADMIN, unverified); unset it and grant ADMIN to an existing account with: npm run users:set-role -- <email> ADMIN',
      });
    }
    if (value.SERVICE && !value.GATEWAY_TOKEN_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['GATEWAY_TOKEN_SECRET'],
        message:
          'expected the secret shared by the gateway and subgraphs when SERVICE is set (e.g. openssl rand -base64 48)',
      });
    }
    // Auth writes sessions and revocations that the gateway must read: separately they can
    // only share them through Redis (a process's own memory cache would hide every logout).
    if ((value.SERVICE === 'gateway' || value.SERVICE === 'auth') && !value.REDIS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_URL'],
        message: `expected the Redis that auth and the gateway share when SERVICE=${value.SERVICE}`,
      });
    }
    if (value.SERVICE !== 'gateway') return;
    for (const subgraph of SUBGRAPHS.filter((s) => s.implemented)) {
      const variable = `${subgraph.name.toUpperCase()}_URL` as 'USERS_URL';
      if (!value[variable]) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: `expected the ${subgraph.name} subgraph's GraphQL URL when SERVICE=gateway`,
        });
      }
    }
  });

export type PlatformEnv = z.infer<typeof platformEnvSchema>;

/** A person at a terminal reads `pretty`; anything else (a file, a pipe, a collector) `json`. */
function defaultLogFormat(): 'json' | 'pretty' {
  return process.stdout.isTTY ? 'pretty' : 'json';
}

/** `scheme://host[:port]` and nothing more: what a browser sends in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}
