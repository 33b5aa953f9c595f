/**
 * Process entry point (`npm start`, the Docker image). Parses the environment (a bad
 * variable stops start-up with one line naming it), starts the platform, and on SIGTERM or
 * SIGINT stops it gracefully: refuse new requests, finish in-flight ones, close pools, exit
 * 0 — or exit 1 if that takes longer than SHUTDOWN_TIMEOUT_MS. Tracing, when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, starts before the platform and is flushed after it.
 */
import { ConfigError, loadConfig } from '../shared/config/index.ts';
import { createLogger, startTracing } from '../shared/observability/index.ts';
import { platformEnvSchema } from './env.ts';
import { startPlatform } from './platform.ts';
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

const logger = createLogger({ level: env.LOG_LEVEL });
// One provider for the process: in one process all services share it (each span names its own).
const tracing = startTracing({
  serviceName: env.OTEL_SERVICE_NAME ?? (env.SERVICE ? `eventgraph-${env.SERVICE}` : 'eventgraph'),
  endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
  logger,
});
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
    await tracing.stop();
    logger.info('shutdown complete');
    process.exit(0);
  })();
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  const mode = env.SERVICE ?? 'all services in one process';
  logger.info({ mode, nodeEnv: env.NODE_ENV }, `eventgraph starting: ${mode}`);
  starting = startPlatform({ env, logger });
  await starting;
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed');
  if (!stopping) fail((error as Error).message);
}
