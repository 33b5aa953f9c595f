/**
 * `npm run analytics:rebuild`: recomputes every rollup (daily metrics, product sales, user
 * activity) from the stored events in `analytics.events`, in one transaction, with progress
 * in the log. The result equals what live ingestion built from the same events; while it
 * runs, ingestion of new events waits (a lock), so nothing is counted twice or missed.
 * Reads the variables every process of the platform reads (DATABASE_URL; without it, the
 * embedded database under DATA_DIR, which must not be in use by a running `npm start`).
 */
import { ConfigError, commonEnvSchema, loadConfig } from '../../shared/config/index.ts';
import { startDatabase } from '../../shared/db/index.ts';
import { EVENT_TABLES_MIGRATIONS } from '../../shared/events/index.ts';
import { createLogger } from '../../shared/observability/index.ts';
import { createAnalyticsService } from './domain/analytics.service.ts';
import { migrations } from './migrations/index.ts';

let env;
try {
  env = loadConfig(commonEnvSchema);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`analytics:rebuild: ${error.problems.join('; ')}\n`);
  process.exit(1);
}
const logger = createLogger({ level: env.LOG_LEVEL }).child({ command: 'analytics:rebuild' });
try {
  const db = await startDatabase({
    schema: 'analytics',
    url: env.DATABASE_URL,
    dataDir: `${env.DATA_DIR}/analytics`,
    entities: [],
    migrations: [...EVENT_TABLES_MIGRATIONS, ...migrations],
    logger,
  });
  try {
    const started = Date.now();
    const analytics = createAnalyticsService({ schema: 'analytics', logger });
    const events = await analytics.rebuild(db.orm.em.fork(), (done, total) =>
      logger.info({ done, total }, `rebuilt rollups from ${done} of ${total} events`),
    );
    process.stdout.write(
      `rebuilt the analytics rollups from ${events} events in ${Date.now() - started} ms\n`,
    );
  } finally {
    await db.stop();
  }
} catch (error) {
  process.stderr.write(`analytics:rebuild: ${(error as Error).message}\n`);
  process.exit(1);
}
