/**
 * Embedded PostgreSQL for running without a database server: PGlite (Postgres compiled to
 * WASM) persisted under a data directory and served over the Postgres wire protocol on a
 * loopback port, so MikroORM and `pg` connect to it exactly as to a real server.
 *
 * PGlite is a single session: pglite-socket multiplexes clients, but a query from a second
 * connection waits until any open transaction ends. Callers must never await work on another
 * connection while holding a transaction. Services share an instance as they share a server
 * (a schema each): every PGlite holds a WASM Postgres of a few hundred MB, and its first start
 * (initdb) takes seconds.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from '../observability/index.ts';

export interface EmbeddedPostgresOptions {
  /** Directory holding the database files; created when missing. */
  dataDir: string;
  /** Loopback port to serve on; 0 picks a free one. @default 0 */
  port?: number;
  /** Client connections served at once. @default 8 */
  maxConnections?: number;
  logger: Logger;
}

export interface EmbeddedPostgres {
  /** `postgres://` URL of the served database. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Creates the database files in `dataDir` (initdb) unless they exist, and returns: what a
 * first start does in a process that exits afterwards, so the server does not keep initdb's
 * memory.
 */
export async function createEmbeddedDatabase(dataDirectory: string): Promise<void> {
  const dataDir = path.resolve(dataDirectory);
  await mkdir(dataDir, { recursive: true });
  const lockFile = path.join(dataDir, 'eventgraph.lock');
  await acquireLock(lockFile, dataDir);
  try {
    const pgData = path.join(dataDir, 'pg');
    if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
      await (await PGlite.create(pgData, PGLITE_OPTIONS)).close();
    }
  } finally {
    await releaseLock(lockFile, dataDir);
  }
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const lockFile = path.join(dataDir, 'eventgraph.lock');
  await acquireLock(lockFile, dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    db = await openPGlite(path.join(dataDir, 'pg'));
    server = new PGLiteSocketServer({
      db,
      host: '127.0.0.1',
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? 8,
    });
    await server.start();
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await releaseLock(lockFile, dataDir);
    throw error;
  }
  const [host, port] = server.getServerConn().split(':');
  const url = `postgres://postgres@${host}:${port}/postgres`;
  options.logger.debug({ dataDir, url }, 'embedded PostgreSQL serving');
  let stopped = false;
  const socketServer = server;
  const database = db;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await socketServer.stop();
      await database.close();
      await releaseLock(lockFile, dataDir);
    },
  };
}

/** PGlite's options: a development database, 32 MB of buffers (Postgres' default is 128). */
const PGLITE_OPTIONS = {
  // About 100 MB of WASM memory less, without slowing small tables.
  startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=32MB'],
  // initdb's own server, the peak of a first start (its setting is overridden by startParams).
  initDbStartParams: ['-c', 'shared_buffers=16MB'],
};

/**
 * Opens the database in `pgData`, creating it first when missing. PGlite creates one (initdb)
 * in a second, in-memory instance whose memory outlives it (about 300 MB): closing and opening
 * again (0.2 s) lets it go.
 */
async function openPGlite(pgData: string): Promise<PGlite> {
  if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
    await (await PGlite.create(pgData, PGLITE_OPTIONS)).close();
  }
  return PGlite.create(pgData, PGLITE_OPTIONS);
}

/** Data directories open in this process (the lock file only tells other processes apart). */
const openInThisProcess = new Set<string>();

/** One PGlite per data directory: a second one would corrupt its files. */
async function acquireLock(lockFile: string, dataDir: string): Promise<void> {
  if (openInThisProcess.has(dataDir)) {
    throw new Error(`DATA_DIR: ${dataDir} is already open in this process`);
  }
  const holder = await readFile(lockFile, 'utf8').catch(() => undefined);
  const pid = holder === undefined ? NaN : Number.parseInt(holder, 10);
  if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
    throw new Error(
      `DATA_DIR: ${dataDir} is in use by process ${pid}; stop it or set DATA_DIR to another directory`,
    );
  }
  await writeFile(lockFile, String(process.pid));
  openInThisProcess.add(dataDir);
}

async function releaseLock(lockFile: string, dataDir: string): Promise<void> {
  openInThisProcess.delete(dataDir);
  await rm(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
