/**
 * What each setting means to the people who set it: its group, the processes that read it,
 * what it does and what unset means. `platformEnvSchema` (env.ts) says what a value may be;
 * this says what it is for. `npm run docs:config` renders docs/configuration.md and
 * `.env.example` from both, so neither is written by hand.
 *
 * `SETTINGS` is keyed by the schema's variable names: a variable the schema gains without a
 * line here, or a line for one it no longer has, is a type error.
 */
import type { z } from 'zod';
import type { platformEnvSchema } from './env.ts';

/** The groups, in the order the documentation shows them, each with a sentence of context. */
export const SETTING_GROUPS = {
  general: {
    title: 'General',
    intro: 'How a process runs and where it listens.',
  },
  observability: {
    title: 'Logging and tracing',
    intro: 'Logs go to stdout; traces are exported only when a collector is configured.',
  },
  postgres: {
    title: 'PostgreSQL',
    intro:
      'Without `DATABASE_URL`, `npm start` runs one embedded PostgreSQL (PGlite) in a process of its own, and its services share it, a schema each; a service run alone (`SERVICE`) opens one in-process.',
  },
  redis: {
    title: 'Redis',
    intro: 'Without `REDIS_URL`, each process keeps its cache in memory.',
  },
  kafka: {
    title: 'Kafka',
    intro: 'Without `KAFKA_BROKERS`, domain events travel over an in-process bus.',
  },
  gateway: {
    title: 'Gateway',
    intro: 'Read by the gateway only.',
  },
  limits: {
    title: 'Limits',
    intro: 'What one client may ask of the gateway and of auth before it is refused.',
  },
  auth: {
    title: 'Auth and tokens',
    intro: 'The tokens auth issues, the gateway checks and the subgraphs trust.',
  },
} as const satisfies Record<string, { readonly title: string; readonly intro: string }>;

export type SettingGroup = keyof typeof SETTING_GROUPS;

/** The processes of the platform, by their SERVICE name. */
export type Service = 'gateway' | 'auth' | 'users' | 'catalog' | 'orders' | 'analytics';

export interface SettingDoc {
  readonly group: SettingGroup;
  /** The processes that read it: every one, every subgraph, or those named. */
  readonly readBy: 'every service' | 'every subgraph' | readonly Service[];
  /** One line on what it does (Markdown; `.env.example` shows it without backticks). */
  readonly summary: string;
  /** What else a reader of docs/configuration.md needs: formats, effects, related settings. */
  readonly details?: string;
  /** The default, in words, where the schema's default is not a plain value (Markdown). */
  readonly unset?: string;
  /** A value `.env.example` shows where there is no plain default to show. */
  readonly example?: string;
}

/** Every variable `platformEnvSchema` accepts. */
export type SettingName = keyof z.input<typeof platformEnvSchema>;

/** One entry per setting of the schema, in the order the documentation lists them. */
export const SETTINGS: { readonly [Name in SettingName]-?: SettingDoc } = {
  NODE_ENV: {
    group: 'general',
    readBy: 'every service',
    summary: '`development`, `production` or `test`.',
    details:
      '`production` turns off Apollo Sandbox and introspection (unless `GATEWAY_SANDBOX` / `GATEWAY_INTROSPECTION` turn them on), serves `/ready` and `/metrics` on `GATEWAY_OPERATOR_PORT` (default 9090) and refuses `ADMIN_EMAIL`.',
  },
  SERVICE: {
    group: 'general',
    readBy: 'every service',
    summary:
      'The one process to run: `gateway`, `auth`, `users`, `catalog`, `orders` or `analytics`.',
    details: 'Unset runs everything in one process.',
    unset: 'unset → all in one process',
    example: 'gateway',
  },
  HOST: {
    group: 'general',
    readBy: 'every service',
    summary: 'Interface to listen on.',
    details:
      'Compose and the image use `0.0.0.0`. In one process the subgraphs always listen on `127.0.0.1`.',
  },
  PORT: {
    group: 'general',
    readBy: 'every service',
    summary:
      'Port of the service named by `SERVICE`, or of the gateway when it is unset; `0` picks a free one.',
    details:
      'Defaults: gateway 4000, auth 4001, users 4002, catalog 4003, orders 4004, analytics 4005.',
    unset: "the service's own port",
    example: '4000',
  },
  SHUTDOWN_TIMEOUT_MS: {
    group: 'general',
    readBy: 'every service',
    summary: 'Grace period for in-flight work after SIGTERM or SIGINT, in milliseconds.',
    details:
      'If shutdown takes longer, the process exits with 1. Keep it below the container stop grace period (15 s in compose).',
  },
  LOG_LEVEL: {
    group: 'observability',
    readBy: 'every service',
    summary: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  },
  LOG_FORMAT: {
    group: 'observability',
    readBy: 'every service',
    summary: 'How log lines are written: `json` (one object a line) or `pretty` (for a person).',
    unset: '`pretty` on a terminal, otherwise `json`',
    example: 'json',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: 'observability',
    readBy: 'every service',
    summary: 'OpenTelemetry collector base URL (OTLP/HTTP); `/v1/traces` is appended.',
    details:
      "Set: a span per GraphQL request and per consumed event, one trace from the client's `traceparent` through Kafka.",
    unset: 'unset → tracing off',
    example: 'http://localhost:4318',
  },
  OTEL_SERVICE_NAME: {
    group: 'observability',
    readBy: 'every service',
    summary: '`service.name` of the exported traces.',
    details: 'Each span also names its own service in `eventgraph.service`.',
    unset: '`eventgraph`, or `eventgraph-<SERVICE>`',
    example: 'eventgraph',
  },
  DATABASE_URL: {
    group: 'postgres',
    readBy: 'every subgraph',
    summary: '`postgres://` URL of the server; all services share the database.',
    details: 'Each service owns the schema named after it and migrates it at start-up.',
    unset: 'unset → embedded PGlite',
    example: 'postgres://eventgraph:eventgraph@localhost:5432/eventgraph',
  },
  DATABASE_POOL_MAX: {
    group: 'postgres',
    readBy: 'every subgraph',
    summary:
      "Connections each subgraph process's pool keeps to PostgreSQL at most; the process opens two more (the outbox relay's own session, on which it also LISTENs, and, at start-up, the migration lock's).",
    details:
      "Every replica has its own pool: (this + 2) × subgraph processes must stay below the server's `max_connections` (five subgraphs with two replicas each need 120 at the default). Queries beyond it queue for a connection.",
  },
  DATA_DIR: {
    group: 'postgres',
    readBy: 'every subgraph',
    summary: 'Where embedded PostgreSQL keeps its files.',
    details:
      '`npm start` keeps the shared database in `DATA_DIR` itself; a service run alone opens that one when it is there, else its own in `DATA_DIR/<service>/`. Unused when `DATABASE_URL` is set.',
  },
  REDIS_URL: {
    group: 'redis',
    readBy: 'every service',
    summary: '`redis://` or `rediss://` URL.',
    details:
      'Required when `SERVICE` is `gateway` or `auth`: the two share sessions and revocations only through Redis. Commands time out after 1 s; where Redis is needed and unreachable, the answer is HTTP 503 with `Retry-After`.',
    unset: 'unset → in-memory cache',
    example: 'redis://localhost:6379',
  },
  REDIS_KEY_PREFIX: {
    group: 'redis',
    readBy: 'every service',
    summary: 'Prefix of every Redis key; each service adds `<service>:`.',
  },
  KAFKA_BROKERS: {
    group: 'kafka',
    readBy: 'every service',
    summary: 'Comma-separated `host:port` list of Kafka brokers.',
    details:
      'The gateway also reads the events behind subscriptions there: with `SERVICE=gateway` and no `KAFKA_BROKERS`, subscriptions are refused.',
    unset: 'unset → in-process bus',
    example: 'localhost:29092',
  },
  KAFKA_TOPIC_PREFIX: {
    group: 'kafka',
    readBy: 'every service',
    summary: 'Put in front of every topic and consumer-group name, to keep environments apart.',
  },
  KAFKA_TOPIC_PARTITIONS: {
    group: 'kafka',
    readBy: 'every service',
    summary: 'Partitions of the topics a service creates at start-up.',
    details:
      '`<service>.events`, its `.dlq` and the topics it consumes; existing topics are left as they are.',
  },
  KAFKA_COMPRESSION: {
    group: 'kafka',
    readBy: 'every service',
    summary: 'Compression of produced batches: `none` or `gzip`.',
  },
  KAFKA_SESSION_TIMEOUT_MS: {
    group: 'kafka',
    readBy: 'every service',
    summary: 'Consumer-group session timeout in milliseconds; a rebalance waits about this long.',
  },
  GATEWAY_OPERATOR_PORT: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'Port of `/ready` and `/metrics` (they name every subgraph), apart from `PORT`.',
    details:
      '`0` picks a free port. Unset outside production: both are served on `PORT`. `/health` is on both.',
    unset: '`9090` in production, otherwise unset',
    example: '9090',
  },
  AUTH_URL: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: "GraphQL URL of the auth subgraph; its origin also serves the gateway's JWKS.",
    details:
      'Required when `SERVICE=gateway`. The keys are fetched from `/.well-known/jwks.json` on this origin.',
    example: 'http://localhost:4001/graphql',
  },
  USERS_URL: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'GraphQL URL of the users subgraph.',
    details: 'Required when `SERVICE=gateway`.',
    example: 'http://localhost:4002/graphql',
  },
  CATALOG_URL: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'GraphQL URL of the catalog subgraph.',
    details: 'Required when `SERVICE=gateway`.',
    example: 'http://localhost:4003/graphql',
  },
  ORDERS_URL: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'GraphQL URL of the orders subgraph.',
    details: 'Required when `SERVICE=gateway`.',
    example: 'http://localhost:4004/graphql',
  },
  ANALYTICS_URL: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'GraphQL URL of the analytics subgraph.',
    details: 'Required when `SERVICE=gateway`.',
    example: 'http://localhost:4005/graphql',
  },
  SUPERGRAPH_SOURCE: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      '`file` serves `SUPERGRAPH_PATH` and reloads it when it changes; `compose` composes `subgraphs/*/schema.graphql` at start.',
    details: '`npm run dev` sets `compose`.',
  },
  SUPERGRAPH_PATH: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      'The supergraph file (`npm run schema:compose` writes it), relative to the working directory.',
    details:
      'Missing or unusable at start: start-up fails naming it. A changed file that does not work is logged and the previous supergraph keeps serving.',
    unset: "the installation's `schema/supergraph.graphql`",
    example: 'schema/supergraph.graphql',
  },
  GATEWAY_INTROSPECTION: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'Answer introspection queries: `true` or `false`.',
    unset: 'on unless `NODE_ENV=production`',
    example: 'false',
  },
  GATEWAY_SANDBOX: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'Serve Apollo Sandbox at `/`: `true` or `false`.',
    unset: 'on unless `NODE_ENV=production`',
    example: 'false',
  },
  GATEWAY_CORS_ORIGINS: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'Comma-separated origins browsers may call the gateway from.',
    unset: 'unset → no CORS headers',
    example: 'https://app.example.com',
  },
  GATEWAY_TRUSTED_PROXIES: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      'Comma-separated addresses or CIDR ranges of the proxies in front of the gateway (an Ingress controller, a load balancer) whose `X-Forwarded-For` it believes.',
    details:
      "The client address (per-address rate limits, anonymous callers) is then the nearest address in `X-Forwarded-For` that is not one of them. Also `loopback`, `linklocal`, `uniquelocal`. Behind a proxy without this, every client has the proxy's address and shares one rate limit; never list addresses clients can connect from.",
    unset: "unset → no forwarding header is believed; the client is the connection's peer",
    example: '10.0.0.0/8',
  },
  GATEWAY_TRUSTED_DOCUMENTS: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      "Path of a persisted query manifest (Apollo's JSON format, version 1); only its operations run.",
    details: 'Other operations get `PERSISTED_QUERY_NOT_IN_LIST` (HTTP 400).',
    unset: 'unset → any valid operation',
    example: 'schema/operations/manifest.json',
  },
  GATEWAY_RESPONSE_CACHE: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      'Cache PUBLIC query responses in Redis for their `@cacheControl` max age, invalidated by the domain events the gateway consumes.',
    details: 'At most 300 s per response.',
  },
  GATEWAY_DEDUPLICATE_QUERIES: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      'Identical queries in flight from the same caller run once; each request gets its own copy.',
    details:
      "Identical subgraph fetches too. Mutations never. Nothing is kept after the answer, and a request sent after the same user's mutation answered never shares work started before it.",
  },
  GATEWAY_SUBGRAPH_TIMEOUT_MS: {
    group: 'gateway',
    readBy: ['gateway'],
    summary: 'Time one subgraph request may take, body included, in milliseconds.',
    details:
      'Queries are retried once after a timeout, a lost connection or a 502/503/504; mutations never.',
  },
  GATEWAY_SUBGRAPH_CONNECTIONS: {
    group: 'gateway',
    readBy: ['gateway'],
    summary:
      'Keep-alive connections to each subgraph at most; further fetches queue for one. With `SERVICE` unset the gateway calls the subgraphs of its process without connections.',
  },
  GATEWAY_MAX_DEPTH: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'Deepest field nesting of an operation.',
  },
  GATEWAY_MAX_ALIASES: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'Aliases in one document.',
  },
  GATEWAY_MAX_COST: {
    group: 'limits',
    readBy: ['gateway'],
    summary: "Highest operation cost; a batch's operations together are held to it too.",
  },
  GATEWAY_MAX_TOKENS: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'Tokens the GraphQL parser reads before refusing a document.',
  },
  GATEWAY_MAX_BODY_BYTES: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'Largest JSON request body in bytes; over it, HTTP 413.',
  },
  GATEWAY_MAX_BATCH: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'Operations in one batched HTTP request (a JSON array); `1` turns batching off.',
  },
  GATEWAY_MAX_CONCURRENT_REQUESTS: {
    group: 'limits',
    readBy: ['gateway'],
    summary: 'GraphQL requests over HTTP the gateway works on at once; more wait their turn.',
    details:
      'In arrival order, bodies unread; `/metrics`: `gateway_requests_working`, `…_waiting`.',
  },
  GATEWAY_MAX_QUEUED_REQUESTS: {
    group: 'limits',
    readBy: ['gateway'],
    summary:
      'GraphQL requests that may wait for a turn; one more: HTTP 503, `Retry-After: 1`, `SERVICE_UNAVAILABLE`.',
  },
  GATEWAY_RATE_LIMIT_PER_MINUTE: {
    group: 'limits',
    readBy: ['gateway'],
    summary:
      "GraphQL operations per client in any 60 s (the access token's `sub`, else the client address).",
    details:
      'Every operation of a batch counts. Counted in Redis (memory without `REDIS_URL`). Over it: HTTP 429, `Retry-After`, `RATE_LIMITED`.',
  },
  AUTH_LOGIN_WINDOW_SECONDS: {
    group: 'limits',
    readBy: ['auth'],
    summary: 'The sliding window the login limits count in, in seconds.',
  },
  AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: {
    group: 'limits',
    readBy: ['auth'],
    summary: '`login` attempts per email per window; a successful login clears that window.',
    details:
      'Also limits `changePassword` attempts per account. Over the limit: `RATE_LIMITED` with `retryAfter`.',
  },
  AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: {
    group: 'limits',
    readBy: ['auth'],
    summary: '`login` attempts per client address per window, successful ones included.',
  },
  AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: {
    group: 'limits',
    readBy: ['auth'],
    summary:
      '`register`, `login`, `refreshToken` and `changePassword` together, per client address per minute.',
    details:
      'Each costs an argon2 hash or a session write. Whatever this says, one of them per client request (a batch and aliases included).',
  },
  GATEWAY_TOKEN_SECRET: {
    group: 'auth',
    readBy: 'every service',
    summary:
      'Secret (32 characters or more, e.g. `openssl rand -base64 48`) of the HS256 token the gateway signs for each subgraph request.',
    details:
      'Required when `SERVICE` is set, with the same value in every process. With `SERVICE` unset the one process makes its own.',
    unset: 'random per start',
  },
  AUTH_TOKEN_ISSUER: {
    group: 'auth',
    readBy: ['auth', 'gateway'],
    summary: '`iss` of access tokens: auth sets it, the gateway requires it.',
  },
  AUTH_TOKEN_AUDIENCE: {
    group: 'auth',
    readBy: ['auth', 'gateway'],
    summary: '`aud` of access tokens: auth sets it, the gateway requires it.',
  },
  AUTH_ACCESS_TOKEN_TTL_SECONDS: {
    group: 'auth',
    readBy: ['auth', 'gateway'],
    summary: 'Access-token lifetime in seconds.',
    details:
      'The gateway refuses a token whose `iat` is older. A retired signing key stays published this long plus 60 s.',
  },
  AUTH_REFRESH_TOKEN_TTL_SECONDS: {
    group: 'auth',
    readBy: ['auth'],
    summary: 'Lifetime of a refresh token from its issue, in seconds (7 days by default).',
    details: 'Each refresh issues a new one.',
  },
  AUTH_SIGNING_KEY_ROTATION_DAYS: {
    group: 'auth',
    readBy: ['auth'],
    summary: 'The signing key is rotated once it is this many days old; `0` only on demand.',
    details:
      '`npm run auth:rotate-key` rotates on demand. Old keys verify until their last token expires.',
  },
  ADMIN_EMAIL: {
    group: 'auth',
    readBy: ['auth'],
    summary: 'Development only: the account registered with this address gets the role ADMIN.',
    details:
      'At registration only. `NODE_ENV=production` refuses it at start-up; grant ADMIN to an existing account with `npm run users:set-role -- <email> ADMIN`.',
    example: 'admin@example.com',
  },
};

/** A variable the test suite or the benchmarks read. */
export interface TestSettingDoc {
  readonly name: string;
  /** The default, in words (Markdown). */
  readonly default: string;
  readonly summary: string;
}

/**
 * What docker compose alone reads from `.env`: interpolated into docker-compose.yml, never
 * seen by a process. Their defaults are docker-compose.yml's own. The settings compose passes
 * on to the containers are in `SETTINGS`.
 */
export const COMPOSE_SETTINGS: Readonly<Record<string, string>> = {
  POSTGRES_USER: 'Superuser created on first start; `DATABASE_URL` is built from it.',
  POSTGRES_PASSWORD: "That superuser's password.",
  POSTGRES_DB: 'Database created on first start. Changing these three later needs a fresh volume.',
  GATEWAY_HOST_PORT: "Host port of the gateway's public port, published on all interfaces.",
  GATEWAY_OPERATOR_HOST_PORT:
    "Host port of the gateway's operator port (`/ready`, `/metrics`), on 127.0.0.1 only.",
  POSTGRES_HOST_PORT: 'Host port of PostgreSQL, on 127.0.0.1 only.',
  KAFKA_HOST_PORT: "Host port of Kafka's host listener, advertised as `localhost:<port>`.",
  REDIS_HOST_PORT: 'Host port of Redis, on 127.0.0.1 only.',
};

/** What the test suite and the benchmarks read; the platform's processes never do. */
export const TEST_SETTINGS: readonly TestSettingDoc[] = [
  {
    name: 'TEST_DATABASE_URL',
    default: '`postgres://postgres@127.0.0.1:5432/postgres`',
    summary: 'The PostgreSQL server on which each test file creates its own database.',
  },
  {
    name: 'TEST_REDIS_URL',
    default: '`redis://127.0.0.1:6379`',
    summary: 'The Redis server of the tests.',
  },
  {
    name: 'TEST_LOG_LEVEL',
    default: '`silent`',
    summary: 'Log level of `testLogger()` for code under test.',
  },
  {
    name: 'KAFKA_BROKERS',
    default: 'unset → Kafka on `127.0.0.1:19092`',
    summary:
      "Set: jest's global setup uses these brokers instead of starting Apache Kafka (`test/kafka`).",
  },
  {
    name: 'JAVA_HOME',
    default: '`java` on the `PATH`',
    summary: 'The Java (17+) that runs the test Kafka.',
  },
  {
    name: 'MAVEN_CMD',
    default: '`mvn` on the `PATH`',
    summary: 'The Maven that fetches the test Kafka.',
  },
];
