/**
 * The database port on real PostgreSQL (a database of its own for this file) and on the
 * embedded PGlite server: start-up creates the service's Postgres schema and applies its
 * migrations there, records them, applies nothing twice and keeps data; services with
 * different schemas share a database without seeing each other; failures name
 * DATABASE_URL (without the password) or DATA_DIR.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureLogs, createTestDatabase, testLogger, waitFor } from '../testing/index.ts';
import type { TestDatabase } from '../testing/index.ts';
import { DatabaseUnavailableError, Migration, defineEntity, p, startDatabase } from './index.ts';
import type { Database, DatabaseOptions, MigrationObject } from './index.ts';

const NoteEntity = defineEntity({
  name: 'Note',
  tableName: 'notes',
  properties: {
    id: p.uuid().primary(),
    body: p.string(),
  },
});

class CreateNotes extends Migration {
  override up(): void {
    this.addSql('create table notes (id uuid primary key, body text not null)');
  }
}

class CreateNoteTags extends Migration {
  override up(): void {
    this.addSql(
      'create table note_tags (note_id uuid not null references notes (id), tag text not null)',
    );
  }
}

class AddNoteCreatedAt extends Migration {
  override up(): void {
    this.addSql('alter table notes add column created_at timestamptz not null default now()');
  }
}

class Broken extends Migration {
  override up(): void {
    this.addSql('create table oops (id uuid primary key, nope not_a_type)');
  }
}

const CREATE_NOTES = { name: 'Migration20260101000000_create_notes', class: CreateNotes };
const CREATE_NOTE_TAGS = {
  name: 'Migration20260102000000_create_note_tags',
  class: CreateNoteTags,
};
const ADD_CREATED_AT = { name: 'Migration20260103000000_add_created_at', class: AddNoteCreatedAt };
const BROKEN = { name: 'Migration20260104000000_broken', class: Broken };
const MIGRATIONS: MigrationObject[] = [CREATE_NOTES, CREATE_NOTE_TAGS];

let testDb: TestDatabase;
const running: Database[] = [];

/** Starts a database for the test (stopped after it) with the note entity and migrations. */
async function start(options: Partial<DatabaseOptions> & { schema: string }): Promise<Database> {
  const db = await startDatabase({
    url: testDb.url,
    dataDir: 'unused-with-a-url',
    entities: [NoteEntity],
    migrations: MIGRATIONS,
    logger: testLogger(),
    ...options,
  });
  running.push(db);
  return db;
}

async function stop(db: Database): Promise<void> {
  running.splice(running.indexOf(db), 1);
  await db.stop();
}

async function query<T = Record<string, unknown>>(
  db: Database,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return db.orm.em.getConnection().execute<T[]>(sql, params);
}

async function tablesIn(db: Database, schema: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    db,
    'select table_name from information_schema.tables where table_schema = ? order by table_name',
    [schema],
  );
  return rows.map((row) => row.table_name);
}

async function appliedMigrations(db: Database, schema: string): Promise<string[]> {
  const rows = await query<{ name: string }>(
    db,
    `select name from "${schema}".schema_migrations order by id`,
  );
  return rows.map((row) => row.name);
}

async function addNote(db: Database, body: string): Promise<string> {
  const em = db.orm.em.fork();
  const id = randomUUID();
  em.create(NoteEntity, { id, body });
  await em.flush();
  return id;
}

async function noteBodies(db: Database): Promise<string[]> {
  const notes = await db.orm.em.fork().find(NoteEntity, {}, { orderBy: { body: 'asc' } });
  return notes.map((note) => note.body);
}

/** Resolves to what `promise` rejected with; fails if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error as Error,
  );
}

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((db) => db.stop()));
});

afterAll(async () => {
  await testDb?.drop();
});

describe('startDatabase on a PostgreSQL server', () => {
  it("creates the service's schema, applies its migrations there and records them", async () => {
    const logs = captureLogs('info');

    const db = await start({ schema: 'notes_fresh', logger: logs.logger });

    expect(db.mode).toBe('postgres');
    expect(await tablesIn(db, 'notes_fresh')).toEqual(['note_tags', 'notes', 'schema_migrations']);
    expect(await tablesIn(db, 'public')).toEqual([]);
    expect(await appliedMigrations(db, 'notes_fresh')).toEqual([
      CREATE_NOTES.name,
      CREATE_NOTE_TAGS.name,
    ]);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        msg: 'database migrated (2 applied)',
        schema: 'notes_fresh',
        migrationsApplied: [CREATE_NOTES.name, CREATE_NOTE_TAGS.name],
      }),
    );
  });

  it('maps entities to tables in the schema', async () => {
    const db = await start({ schema: 'notes_orm' });

    const id = await addNote(db, 'hello');

    expect(await query(db, 'select id, body from notes_orm.notes')).toEqual([
      { id, body: 'hello' },
    ]);
    expect(await noteBodies(db)).toEqual(['hello']);
  });

  it('answers ping while running', async () => {
    const db = await start({ schema: 'notes_ping' });
    await expect(db.ping()).resolves.toBeUndefined();
  });

  it('applies nothing new on a second start and keeps the data', async () => {
    const first = await start({ schema: 'notes_again' });
    await addNote(first, 'kept across restarts');
    await stop(first);
    const logs = captureLogs('info');

    const second = await start({ schema: 'notes_again', logger: logs.logger });

    expect(await appliedMigrations(second, 'notes_again')).toEqual([
      CREATE_NOTES.name,
      CREATE_NOTE_TAGS.name,
    ]);
    expect(await noteBodies(second)).toEqual(['kept across restarts']);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ msg: 'database schema is current', migrationsApplied: [] }),
    );
  });

  it('applies only the new migration when one is added', async () => {
    const first = await start({ schema: 'notes_grow' });
    await addNote(first, 'before the new column');
    await stop(first);

    const second = await start({
      schema: 'notes_grow',
      migrations: [...MIGRATIONS, ADD_CREATED_AT],
    });

    expect(await appliedMigrations(second, 'notes_grow')).toEqual([
      CREATE_NOTES.name,
      CREATE_NOTE_TAGS.name,
      ADD_CREATED_AT.name,
    ]);
    const rows = await query<{ body: string; created_at: string }>(
      second,
      'select body, created_at from notes_grow.notes',
    );
    expect(rows).toEqual([{ body: 'before the new column', created_at: expect.any(String) }]);
  });

  it("keeps two services' schemas on one database apart", async () => {
    const users = await start({ schema: 'svc_users' });
    const orders = await start({
      schema: 'svc_orders',
      migrations: [CREATE_NOTES], // same table name, different schema
    });

    await addNote(users, 'written by users');

    expect(await tablesIn(users, 'svc_users')).toEqual(['note_tags', 'notes', 'schema_migrations']);
    expect(await tablesIn(orders, 'svc_orders')).toEqual(['notes', 'schema_migrations']);
    expect(await noteBodies(users)).toEqual(['written by users']);
    expect(await noteBodies(orders)).toEqual([]);
    expect(await appliedMigrations(orders, 'svc_orders')).toEqual([CREATE_NOTES.name]);
  });

  it('applies all migrations of a start or none (a failing one rolls back the rest)', async () => {
    const error = await rejectionOf(
      start({ schema: 'notes_broken', migrations: [...MIGRATIONS, BROKEN] }),
    );

    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.message).toMatch(/^DATABASE_URL: cannot migrate postgres:\/\//);
    const inspector = await start({ schema: 'notes_inspect', migrations: [] });
    const tables = await tablesIn(inspector, 'notes_broken');
    expect(tables).not.toContain('notes');
    expect(tables).not.toContain('note_tags');
    expect(tables).not.toContain('oops');
  });

  it('rejects within a few seconds with DatabaseUnavailableError naming DATABASE_URL when the server is unreachable', async () => {
    const started = Date.now();

    const error = await rejectionOf(
      startDatabase({
        schema: 'x',
        url: 'postgres://nobody:hunter2@127.0.0.1:1/x',
        dataDir: 'unused',
        entities: [NoteEntity],
        migrations: MIGRATIONS,
        connectTimeoutMs: 2000,
        logger: testLogger(),
      }),
    );

    expect(Date.now() - started).toBeLessThan(4000);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.message).toMatch(
      /^DATABASE_URL: cannot connect to postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/x/,
    );
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses a database that does not exist instead of creating it (a misspelt name)', async () => {
    const misspelt = new URL(testDb.url);
    misspelt.pathname = `${misspelt.pathname}_typo`;

    const error = await rejectionOf(
      startDatabase({
        schema: 'x',
        url: misspelt.toString(),
        dataDir: 'unused',
        entities: [NoteEntity],
        migrations: MIGRATIONS,
        logger: testLogger(),
      }),
    );

    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.message).toMatch(/^DATABASE_URL: cannot connect to .*_typo \(.*does not exist/);
  });
});

describe('startDatabase embedded (no url)', () => {
  const embeddedModule = fileURLToPath(new URL('./embedded-postgres.ts', import.meta.url));
  let dataDir: string;
  let holder: ChildProcess | undefined;
  const cleanup: string[] = [];

  const embedded = (dir = dataDir) => start({ schema: 'notes', url: undefined, dataDir: dir });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-db-test-'));
  });

  afterAll(async () => {
    if (holder && holder.exitCode === null) holder.kill('SIGKILL');
    for (const dir of [dataDir, ...cleanup]) await rm(dir, { recursive: true, force: true });
  });

  it('migrates a fresh data directory and keeps rows across stop and start', async () => {
    const first = await embedded();
    expect(first.mode).toBe('embedded');
    expect(await tablesIn(first, 'notes')).toEqual(['note_tags', 'notes', 'schema_migrations']);
    await addNote(first, 'persisted on disk');
    await stop(first);

    const second = await embedded();

    expect(await noteBodies(second)).toEqual(['persisted on disk']);
    expect(await appliedMigrations(second, 'notes')).toEqual([
      CREATE_NOTES.name,
      CREATE_NOTE_TAGS.name,
    ]);
  });

  // Two PGlite instances on the same files would corrupt them, even within one process.
  it('refuses a second start on the same DATA_DIR in the same process', async () => {
    // A copy of its own (copying skips a slow initdb): if the bug is present, two instances
    // share these files, and the other tests must not see the damage.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-db-test-'));
    cleanup.push(dir);
    await cp(dataDir, dir, { recursive: true });
    const first = await embedded(dir);
    await addNote(first, 'first instance');

    const error = await rejectionOf(embedded(dir));

    expect(error.message).toMatch(/^DATA_DIR: /);
  });

  it('refuses a start on a DATA_DIR held by another running process, naming DATA_DIR', async () => {
    const lines: string[] = [];
    holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
        const pg = await startEmbeddedPostgres({ dataDir: process.argv[1], logger: { debug() {} } });
        process.on('SIGTERM', async () => { await pg.stop(); process.exit(0); });
        console.log('ready');
        setInterval(() => {}, 1000);
        `,
        dataDir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    holder.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
    await waitFor(() => lines.includes('ready'), { timeoutMs: 20_000, what: 'the other process' });

    const error = await rejectionOf(embedded());

    expect(error.message).toBe(
      `DATA_DIR: ${dataDir} is in use by process ${holder.pid}; stop it or set DATA_DIR to another directory`,
    );

    // Once the other process has stopped, the directory opens again with its data.
    let exited = false;
    holder.once('exit', () => (exited = true));
    holder.kill('SIGTERM');
    await waitFor(() => exited, { timeoutMs: 10_000, what: 'the other process to exit' });
    expect(holder.exitCode).toBe(0);

    const reopened = await embedded();
    expect(await noteBodies(reopened)).toContain('persisted on disk');
  }, 30_000);

  it('opens the data directory again after stop() in the same process', async () => {
    const first = await embedded();
    await stop(first);

    const second = await embedded();

    await expect(second.ping()).resolves.toBeUndefined();
    expect(await noteBodies(second)).toContain('persisted on disk');
  });
});
