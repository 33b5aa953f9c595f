/**
 * The database port on the embedded PGlite server (no DATABASE_URL): start-up migrates a
 * fresh DATA_DIR and keeps its rows across restarts; a DATA_DIR held by this process or
 * another one is refused, naming DATA_DIR. The same port on PostgreSQL is
 * database.integration.test.ts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../testing/index.ts';
import {
  CREATE_NOTES,
  CREATE_NOTE_TAGS,
  addNote,
  appliedMigrations,
  noteBodies,
  rejectionOf,
  startNotesDatabase,
  stopNotesDatabase,
  stopNotesDatabases,
  tablesIn,
} from '../testing/notes-database.ts';
import type { Database, DatabaseOptions } from './index.ts';

/** Starts a database with the note entity and migrations (stopped after the test). */
function start(options: Partial<DatabaseOptions> & { schema: string }): Promise<Database> {
  return startNotesDatabase(options);
}

const stop = stopNotesDatabase;

afterEach(stopNotesDatabases);

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
