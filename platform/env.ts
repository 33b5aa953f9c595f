/**
 * The environment a process of the platform reads: what each variable may be. What each is
 * for, its group and who reads it are in settings.ts, keyed by these names; docs/configuration.md
 * and `.env.example` are generated from both (`npm run docs:config`). Parsed once by
 * `platform/start.ts`.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { GATEWAY_SECRET_MIN_LENGTH } from '../shared/auth/gateway-secret.ts';
import { DEFAULT_SUPERGRAPH_PATH } from '../gateway/supergraph/install-paths.ts';
import { commonEnvSchema, env } from '../shared/config/index.ts';
import { authEnvShape } from '../subgraphs/auth/env.ts';
import { SUBGRAPHS } from './services.ts';

export const platformEnvSchema = commonEnvSchema
  .extend({
    LOG_FORMAT: z
      .enum(['json', 'pretty'], { message: 'expected json or pretty' })
      .default(defaultLogFormat),
    SERVICE: z
      .enum(['gateway', 'auth', 'users', 'catalog', 'orders', 'analytics'], {
        message: 'expected one of gateway, auth, users, catalog, orders, analytics',
      })
      .optional(),
    PORT: env.port().optional(),
    GATEWAY_OPERATOR_PORT: env.port().optional(),
    AUTH_URL: env.httpUrl().optional(),
    USERS_URL: env.httpUrl().optional(),
    CATALOG_URL: env.httpUrl().optional(),
    ORDERS_URL: env.httpUrl().optional(),
    ANALYTICS_URL: env.httpUrl().optional(),
    SUPERGRAPH_SOURCE: z
      .enum(['file', 'compose'], { message: 'expected file or compose' })
      .default('file'),
    SUPERGRAPH_PATH: z.string().default(DEFAULT_SUPERGRAPH_PATH),
    GATEWAY_INTROSPECTION: env.flag().optional(),
    GATEWAY_SANDBOX: env.flag().optional(),
    GATEWAY_DEDUPLICATE_QUERIES: env.flag().default(true),
    GATEWAY_MAX_DEPTH: env.positiveInt(12),
    GATEWAY_MAX_ALIASES: env.positiveInt(30),
    GATEWAY_MAX_COST: env.positiveInt(20000),
    GATEWAY_MAX_TOKENS: env.positiveInt(10_000),
    GATEWAY_MAX_BODY_BYTES: env.positiveInt(1024 * 1024),
    GATEWAY_MAX_BATCH: env.positiveInt(10),
    GATEWAY_MAX_CONCURRENT_REQUESTS: env.positiveInt(64),
    GATEWAY_MAX_QUEUED_REQUESTS: env.positiveInt(1000),
    GATEWAY_SUBGRAPH_TIMEOUT_MS: env.positiveInt(10_000),
    GATEWAY_SUBGRAPH_CONNECTIONS: env.positiveInt(128),
    GATEWAY_RATE_LIMIT_PER_MINUTE: env.positiveInt(600),
    GATEWAY_CORS_ORIGINS: commaSeparated(
      isOrigin,
      'expected comma-separated origins like https://app.example.com',
    ).optional(),
    GATEWAY_TRUSTED_PROXIES: commaSeparated(
      isProxyAddress,
      'expected comma-separated addresses or CIDR ranges (10.0.0.0/8, fd00::/8) or loopback, linklocal, uniquelocal',
    ).optional(),
    GATEWAY_RESPONSE_CACHE: env.flag().default(false),
    GATEWAY_TRUSTED_DOCUMENTS: z.string().min(1).optional(),
    ADMIN_EMAIL: z.email({ message: 'expected an email address' }).optional(),
    GATEWAY_TOKEN_SECRET: z
      .string()
      .min(GATEWAY_SECRET_MIN_LENGTH, {
        message: `expected a random secret of at least ${GATEWAY_SECRET_MIN_LENGTH} characters (e.g. openssl rand -base64 48)`,
      })
      .optional(),
    ...authEnvShape,
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
    for (const subgraph of SUBGRAPHS) {
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

/** A comma-separated list (blanks around entries and empty entries dropped), each entry valid. */
function commaSeparated(valid: (entry: string) => boolean, message: string) {
  return z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .refine((entries) => entries.every(valid), { message });
}

/** An address, a CIDR range, or a name of ranges, as Express's `trust proxy` takes them. */
function isProxyAddress(value: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(value)) return true;
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
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
