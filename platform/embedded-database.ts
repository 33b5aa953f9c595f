/**
 * The embedded PostgreSQL that the services of one `npm start` share when no DATABASE_URL is
 * set: one database in DATA_DIR, a schema per service, as on a server. One instead of one per
 * service, because each is a WASM Postgres of a few hundred MB whose first start runs initdb.
 *
 * Kept light (no service code): `platform/start.ts` starts it before loading the platform,
 * so the database comes up while the services' modules load.
 */
import path from 'node:path';
import {
  hasEmbeddedDatabase,
  startEmbeddedPostgresProcess,
} from '../shared/db/embedded-postgres-process.ts';
import type { EmbeddedPostgres } from '../shared/db/embedded-postgres.ts';
import type { Logger } from '../shared/observability/index.ts';
import { SUBGRAPHS } from './services.ts';

/** The database's pool size per service (startDatabase's default), its LISTEN connection and a spare. */
const CONNECTIONS_PER_SERVICE = 12;

export interface SharedDatabaseStart {
  /** This start creates the database (initdb): the slow, memory-hungry part of a first start. */
  readonly creating: boolean;
  /** Undefined when DATA_DIR holds a database per service (see `startSharedDatabase`). */
  readonly database: Promise<EmbeddedPostgres | undefined>;
}

/**
 * Starts the shared database in DATA_DIR, in a process of its own; synchronously up to the
 * fork, so the caller can load the platform meanwhile. None when DATA_DIR holds a database per
 * service (its layout before sharing): each service then opens its own, so no data is left
 * behind.
 */
export function startSharedDatabase(dataDir: string, logger: Logger): SharedDatabaseStart {
  const services = SUBGRAPHS.map((s) => s.name);
  if (services.some((name) => hasEmbeddedDatabase(path.join(dataDir, name)))) {
    logger.info(
      { dataDir },
      `${dataDir} holds a database per service; each service opens its own (a new DATA_DIR shares one: faster to start, less memory)`,
    );
    return { creating: false, database: Promise.resolve(undefined) };
  }
  const began = performance.now();
  const creating = !hasEmbeddedDatabase(dataDir);
  logger.info(
    { dataDir, creating },
    creating
      ? `creating the embedded database in ${dataDir} (first start only, a few seconds)`
      : `opening the embedded database in ${dataDir}`,
  );
  const database = startEmbeddedPostgresProcess({
    dataDir,
    maxConnections: services.length * CONNECTIONS_PER_SERVICE,
  }).then((embedded) => {
    logger.info(
      { dataDir, ms: Math.round(performance.now() - began) },
      'embedded database ready (PostgreSQL in PGlite, a schema per service)',
    );
    return embedded;
  });
  return { creating, database };
}
