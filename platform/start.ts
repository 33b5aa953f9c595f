/**
 * Process entry point (`npm start`, the Docker image). Parses the environment (a bad
 * variable stops start-up with one line naming it), starts the platform, and on SIGTERM or
 * SIGINT stops it gracefully: refuse new requests, finish in-flight ones, close pools, exit
 * 0 — or exit 1 if that takes longer than SHUTDOWN_TIMEOUT_MS. Tracing, when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, starts before the platform and is flushed after it.
 * Until the embedded database is up, this loads as little as it can: a first start's memory
 * peak is the database's creation.
 *
 * Start-up tells a person what it does: a line per step (the embedded database, each
 * service), then a banner with the URLs, a first query and how to stop. LOG_FORMAT picks
 * readable lines or JSON.
 */
import { ConfigError, loadConfig } from '../shared/config/index.ts';
import { createLogger, logBanner } from '../shared/observability/logger.ts';
import type { Tracing } from '../shared/observability/tracing.ts';
import { startSharedDatabase } from './embedded-database.ts';
import { platformEnvSchema } from './env.ts';
import type { PlatformEnv } from './env.ts';
import type { PlatformHandle } from './platform.ts';

/** The one line a failed start-up leaves on stderr (multi-line causes are folded into it). */
function fail(message: string): never {
  process.stderr.write(`eventgraph: ${message.replace(/\s*\n\s*/g, '; ')}\n`);
  process.exit(1);
}

let env;
try {
  env = loadConfig(platformEnvSchema);
} catch (error) {
  if (error instanceof ConfigError) fail(error.problems.join('; '));
  throw error;
}

const logger = createLogger({ level: env.LOG_LEVEL, format: env.LOG_FORMAT });
// Started with the platform's modules (below), after a first start has created the database.
let tracing: Tracing | undefined;
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled promise rejection');
  process.exit(1);
});

let starting: Promise<PlatformHandle> | undefined;
let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, `${signal} received: shutting down`);
  const timer = setTimeout(() => {
    logger.error(`shutdown took longer than ${env.SHUTDOWN_TIMEOUT_MS} ms; exiting`);
    process.exit(1);
  }, env.SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  void (async () => {
    // A signal during start-up waits for start-up to finish, then stops what it started.
    const platform = await starting?.catch(() => undefined);
    await platform?.stop();
    await tracing?.stop();
    logger.info('shutdown complete');
    process.exit(0);
  })();
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

/** What a person needs once the gateway serves: where, a first query, how to stop. */
async function announceReady(url: string, env: PlatformEnv): Promise<void> {
  const { curlCommand } = await import('../gateway/landing-page.ts');
  const { FIRST_QUERY } = await import('./first-query.ts');
  const graphql = `${url}/graphql`;
  const sandbox = env.GATEWAY_SANDBOX ?? env.NODE_ENV !== 'production';
  logBanner(logger, `eventgraph is ready at ${graphql} (started in ${seconds()} s)`, {
    graphql,
    ...(sandbox ? { sandbox: `${url}/ (open it in a browser)` } : {}),
    query: FIRST_QUERY,
    curl: curlCommand(graphql, FIRST_QUERY),
    stop: 'Ctrl-C (or SIGTERM): requests in flight finish, then it exits',
  });
}

/** Seconds since the process started, to a tenth. */
function seconds(): string {
  return (performance.now() / 1000).toFixed(1);
}

try {
  const mode = env.SERVICE ?? 'all services in one process';
  logger.info({ mode, nodeEnv: env.NODE_ENV }, `eventgraph starting: ${mode}`);
  // Everything in one process on embedded defaults: the database starts first, in a process of
  // its own, while the platform's modules load here; except while it is being created, the
  // memory peak of a first start, which the platform's modules would add to.
  const shared =
    env.SERVICE || env.DATABASE_URL ? undefined : startSharedDatabase(env.DATA_DIR, logger);
  const sharedDatabase = shared?.database;
  sharedDatabase?.catch(() => undefined); // Its failure is the platform's to report.
  if (shared?.creating) await sharedDatabase?.catch(() => undefined);
  const { startTracing } = await import('../shared/observability/tracing.ts');
  // One provider for the process: in one process all services share it (each span names its own).
  tracing = startTracing({
    serviceName:
      env.OTEL_SERVICE_NAME ?? (env.SERVICE ? `eventgraph-${env.SERVICE}` : 'eventgraph'),
    endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    logger,
  });
  const { startPlatform } = await import('./platform.ts');
  starting = startPlatform({ env, logger, ...(sharedDatabase ? { sharedDatabase } : {}) });
  const platform = await starting;
  if (platform.gateway && !stopping) await announceReady(platform.gateway.url, env);
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed');
  if (!stopping) fail((error as Error).message);
}
