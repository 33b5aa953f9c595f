/**
 * The embedded database `npm start` shares between its services: created once in DATA_DIR (and
 * said so), opened again with its data, served by a process of its own that stops with it;
 * a DATA_DIR holding a database per service is left to its services.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { hasEmbeddedDatabase, startDatabase } from '../shared/db/index.ts';
import { createLogger } from '../shared/observability/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import { startSharedDatabase } from './embedded-database.ts';

/** A logger whose lines' messages the test reads. */
function recording(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const destination = {
    write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg),
  };
  return { logger: createLogger({ destination }), messages };
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('startSharedDatabase', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-shared-db-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the database once, in a process of its own, and opens it again with its data', async () => {
    const first = recording();
    const created = startSharedDatabase(dataDir, first.logger);
    expect(created.creating).toBe(true);
    const database = (await created.database)!;
    // Its own process holds the directory.
    const holder = Number(await readFile(path.join(dataDir, 'eventgraph.lock'), 'utf8'));
    expect(holder).not.toBe(process.pid);
    await query(database.url, 'create schema users; create table users.kept (note text)');
    await query(database.url, "insert into users.kept values ('still here')");
    await database.stop();
    expect(first.messages).toEqual([
      `creating the embedded database in ${dataDir} (first start only, a few seconds)`,
      'embedded database ready (PostgreSQL in PGlite, a schema per service)',
    ]);
    expect(hasEmbeddedDatabase(dataDir)).toBe(true);
    await expect(readFile(path.join(dataDir, 'eventgraph.lock'))).rejects.toThrow();

    const second = recording();
    const opened = startSharedDatabase(dataDir, second.logger);
    expect(opened.creating).toBe(false);
    const again = (await opened.database)!;
    try {
      expect(await query(again.url, 'select note from users.kept')).toEqual([
        { note: 'still here' },
      ]);
    } finally {
      await again.stop();
    }
    expect(second.messages[0]).toBe(`opening the embedded database in ${dataDir}`);
  }, 60_000);

  it("is where a service's own commands find its data (startDatabase on <DATA_DIR>/<service>)", async () => {
    const shared = (await startSharedDatabase(dataDir, recording().logger).database)!;
    await query(shared.url, 'create schema users; create table users.kept (note text)');
    await query(shared.url, "insert into users.kept values ('for set-role')");
    await shared.stop();

    const db = await startDatabase({
      schema: 'users',
      dataDir: path.join(dataDir, 'users'),
      entities: [],
      migrations: [],
      logger: recording().logger,
    });
    try {
      expect(await db.orm.em.getConnection().execute('select note from users.kept')).toEqual([
        { note: 'for set-role' },
      ]);
    } finally {
      await db.stop();
    }
    expect(hasEmbeddedDatabase(path.join(dataDir, 'users'))).toBe(false);
  }, 60_000);

  it('leaves a DATA_DIR with a database per service to its services', async () => {
    await mkdir(path.join(dataDir, 'users', 'pg'), { recursive: true });
    await writeFile(path.join(dataDir, 'users', 'pg', 'PG_VERSION'), '17\n');
    const { logger, messages } = recording();

    const start = startSharedDatabase(dataDir, logger);

    expect(start.creating).toBe(false);
    expect(await start.database).toBeUndefined();
    expect(messages).toEqual([
      `${dataDir} holds a database per service; each service opens its own (a new DATA_DIR shares one: faster to start, less memory)`,
    ]);
    expect(hasEmbeddedDatabase(dataDir)).toBe(false);
  });

  it('fails with the reason when the directory is held by another process', async () => {
    const first = (await startSharedDatabase(dataDir, recording().logger).database)!;
    try {
      const holder = Number(await readFile(path.join(dataDir, 'eventgraph.lock'), 'utf8'));
      await expect(startSharedDatabase(dataDir, recording().logger).database).rejects.toThrow(
        `DATA_DIR: ${dataDir} is in use by process ${holder}; stop it or set DATA_DIR to another directory`,
      );
    } finally {
      await first.stop();
    }
  }, 60_000);
});
