/**
 * A tiny service for the database port's tests: a note entity, its migrations and the
 * queries that look at what start-up left behind. Shared by the PostgreSQL-server suite
 * (integration) and the embedded PGlite suite (unit), which prove the same port.
 */
import { randomUUID } from 'node:crypto';
import { Migration, defineEntity, p, startDatabase } from '../db/index.ts';
import type { Database, DatabaseOptions, MigrationObject } from '../db/index.ts';
import { testLogger } from './index.ts';

export const NoteEntity = defineEntity({
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

export const CREATE_NOTES = { name: 'Migration20260101000000_create_notes', class: CreateNotes };
export const CREATE_NOTE_TAGS = {
  name: 'Migration20260102000000_create_note_tags',
  class: CreateNoteTags,
};
export const ADD_CREATED_AT = {
  name: 'Migration20260103000000_add_created_at',
  class: AddNoteCreatedAt,
};
export const BROKEN = { name: 'Migration20260104000000_broken', class: Broken };
export const MIGRATIONS: MigrationObject[] = [CREATE_NOTES, CREATE_NOTE_TAGS];

const running: Database[] = [];

/** Starts a database with the note entity and migrations; `stopNotesDatabases` stops it. */
export async function startNotesDatabase(
  options: Partial<DatabaseOptions> & { schema: string },
): Promise<Database> {
  const db = await startDatabase({
    dataDir: 'unused-with-a-url',
    entities: [NoteEntity],
    migrations: MIGRATIONS,
    logger: testLogger(),
    ...options,
  });
  running.push(db);
  return db;
}

/** Stops one database a test started, before the test ends. */
export async function stopNotesDatabase(db: Database): Promise<void> {
  running.splice(running.indexOf(db), 1);
  await db.stop();
}

/** Stops every database still running (after each test). */
export async function stopNotesDatabases(): Promise<void> {
  await Promise.all(running.splice(0).map((db) => db.stop()));
}

export async function query<T = Record<string, unknown>>(
  db: Database,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return db.orm.em.getConnection().execute<T[]>(sql, params);
}

export async function tablesIn(db: Database, schema: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    db,
    'select table_name from information_schema.tables where table_schema = ? order by table_name',
    [schema],
  );
  return rows.map((row) => row.table_name);
}

export async function appliedMigrations(db: Database, schema: string): Promise<string[]> {
  const rows = await query<{ name: string }>(
    db,
    `select name from "${schema}".schema_migrations order by id`,
  );
  return rows.map((row) => row.name);
}

export async function addNote(db: Database, body: string): Promise<string> {
  const em = db.orm.em.fork();
  const id = randomUUID();
  em.create(NoteEntity, { id, body });
  await em.flush();
  return id;
}

export async function noteBodies(db: Database): Promise<string[]> {
  const notes = await db.orm.em.fork().find(NoteEntity, {}, { orderBy: { body: 'asc' } });
  return notes.map((note) => note.body);
}

/** Resolves to what `promise` rejected with; fails if it resolved. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error as Error,
  );
}
