/**
 * The database port on real PostgreSQL (a database of its own for this file): start-up
 * creates the service's Postgres schema and applies its migrations there, records them,
 * applies nothing twice and keeps data; services with different schemas share a database
 * without seeing each other; failures name DATABASE_URL (without the password). The same
 * port on embedded PGlite is database.test.ts.
 */
import { captureLogs, createTestDatabase, testLogger } from '../testing/index.ts';
import type { TestDatabase } from '../testing/index.ts';
import {
  ADD_CREATED_AT,
  BROKEN,
  CREATE_NOTES,
  CREATE_NOTE_TAGS,
  MIGRATIONS,
  NoteEntity,
  addNote,
  appliedMigrations,
  noteBodies,
  query,
  rejectionOf,
  startNotesDatabase,
  stopNotesDatabase,
  stopNotesDatabases,
  tablesIn,
} from '../testing/notes-database.ts';
import { createRequire } from 'node:module';
import { IsolationLevel } from '@mikro-orm/core';
import type pg from 'pg';
import {
  DatabaseUnavailableError,
  findRows,
  prepared,
  sentWithNext,
  startDatabase,
} from './index.ts';
import type { Database, DatabaseOptions, EntityManager } from './index.ts';

let testDb: TestDatabase;

/** Starts a database on this file's PostgreSQL database (stopped after the test). */
function start(options: Partial<DatabaseOptions> & { schema: string }): Promise<Database> {
  return startNotesDatabase({ url: testDb.url, ...options });
}

const stop = stopNotesDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterEach(stopNotesDatabases);

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

  it('replicas starting together on an empty database migrate once: one applies, the others find the schema current', async () => {
    const logs = captureLogs('info');

    const replicas = await Promise.all(
      [1, 2, 3, 4].map(() => start({ schema: 'notes_replicas', logger: logs.logger })),
    );

    expect(await appliedMigrations(replicas[0]!, 'notes_replicas')).toEqual([
      CREATE_NOTES.name,
      CREATE_NOTE_TAGS.name,
    ]);
    const outcomes = logs.lines.filter((line) => line['schema'] === 'notes_replicas');
    expect(outcomes.map((line) => line['msg']).sort()).toEqual([
      'database migrated (2 applied)',
      'database schema is current',
      'database schema is current',
      'database schema is current',
    ]);
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

describe('round trips of a transaction (fewer-round-trips.ts)', () => {
  const sent: string[] = [];
  // The pg that MikroORM's pools use (its driver may carry a copy of its own).
  const { Client } = createRequire(import.meta.resolve('@mikro-orm/postgresql'))('pg') as typeof pg;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, after
  const clientQuery: (this: pg.Client, ...args: unknown[]) => unknown = Client.prototype.query;

  beforeAll(() => {
    // Every text a pooled connection sends from now on (the pool binds this at connect).
    Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (typeof args[0] === 'string') sent.push(args[0]);
      return clientQuery.apply(this, args);
    } as typeof Client.prototype.query;
  });

  afterAll(() => {
    Client.prototype.query = clientQuery as typeof Client.prototype.query;
  });

  /** What `work` sent, in order. */
  async function sentBy(work: () => Promise<unknown>): Promise<string[]> {
    sent.length = 0;
    await work();
    return [...sent];
  }

  /** Runs `sql` in `tx`'s transaction, answering its rows. */
  const run = (tx: EntityManager, sql: string) =>
    tx.getConnection().execute(sql, [], 'all', tx.getTransactionContext());

  it('sends begin with the first statement: two statements and a commit in three round trips, committed', async () => {
    const db = await start({ schema: 'notes_trips' });
    const insert =
      "insert into notes_trips.notes (id, body) values ('0190a000-0000-7000-8000-000000000001', 'one')";
    const count = 'select count(*)::int as n from notes_trips.notes';

    const texts = await sentBy(() =>
      db.orm.em.fork().transactional(async (tx) => {
        await run(tx, insert);
        return run(tx, count);
      }),
    );

    expect(texts).toEqual([`begin;${insert}`, count, 'commit']);
    expect(await noteBodies(db)).toEqual(['one']);
  });

  it('rolls back when the statement sent with begin fails, and the connection serves the next transaction', async () => {
    const db = await start({ schema: 'notes_abort', poolMax: 1 });
    const em = db.orm.em.fork();
    const insert = (id: string, body: string) => (tx: EntityManager) =>
      run(tx, `insert into notes_abort.notes (id, body) values ('${id}', ${body})`);

    const error = await rejectionOf(
      em.transactional(insert('0190a000-0000-7000-8000-000000000002', 'no_such_column')),
    );
    await em.transactional(insert('0190a000-0000-7000-8000-000000000003', "'after'"));

    expect(error.message).toMatch(/no_such_column/);
    expect(await noteBodies(db)).toEqual(['after']);
  });

  it('sends a statement marked sentWithNext with the commit: a read and a marked insert in two round trips, committed', async () => {
    const db = await start({ schema: 'notes_held' });
    const count = 'select count(*) from notes_held.notes';
    const insert = sentWithNext(
      "insert into notes_held.notes (id, body) values ('0190a000-0000-7000-8000-000000000004', 'held')",
    );
    let answer: unknown;

    const texts = await sentBy(() =>
      db.orm.em.fork().transactional(async (tx) => {
        await run(tx, count);
        answer = await run(tx, insert);
      }),
    );

    expect(answer).toEqual([]);
    expect(texts).toEqual([`begin;${count}`, `${insert};commit`]);
    expect(await noteBodies(db)).toEqual(['held']);
  });

  it('fails the commit when a statement sent with it fails, rolls the whole transaction back and leaves the connection usable', async () => {
    const db = await start({ schema: 'notes_held_fail', poolMax: 1 });
    const id = await addNote(db, 'first');

    const error = await rejectionOf(
      db.orm.em.fork().transactional(async (tx) => {
        await run(
          tx,
          "insert into notes_held_fail.notes (id, body) values ('0190a000-0000-7000-8000-000000000005', 'second')",
        );
        await run(
          tx,
          sentWithNext(`insert into notes_held_fail.notes (id, body) values ('${id}', 'again')`),
        );
      }),
    );
    await addNote(db, 'third'); // on the one connection, which the failure left usable

    expect(error.message).toMatch(/duplicate key/);
    expect(await noteBodies(db)).toEqual(['first', 'third']);
  });

  it('holds a marked statement in a transaction begun with an isolation level too (begin sent as it is)', async () => {
    const db = await start({ schema: 'notes_held_serial' });
    const insert = sentWithNext(
      "insert into notes_held_serial.notes (id, body) values ('0190a000-0000-7000-8000-000000000007', 'serial')",
    );

    const texts = await sentBy(() =>
      db.orm.em.fork().transactional((tx) => run(tx, insert), {
        isolationLevel: IsolationLevel.SERIALIZABLE,
      }),
    );

    expect(texts).toEqual(['start transaction isolation level serializable', `${insert};commit`]);
    expect(await noteBodies(db)).toEqual(['serial']);
  });

  it('sends a statement marked sentWithNext at once outside a transaction', async () => {
    const db = await start({ schema: 'notes_held_alone' });

    await query(
      db,
      sentWithNext(
        "insert into notes_held_alone.notes (id, body) values ('0190a000-0000-7000-8000-000000000006', 'alone')",
      ),
    );

    expect(await noteBodies(db)).toEqual(['alone']);
  });

  it('answers a query of several statements with the last statement’s rows', async () => {
    const db = await start({ schema: 'notes_multi' });

    expect(await query(db, 'select 1 as first; select 2 as last')).toEqual([{ last: 2 }]);
  });

  it('sends nothing for a transaction that sends nothing', async () => {
    const db = await start({ schema: 'notes_empty' });

    expect(await sentBy(() => db.orm.em.fork().transactional(async () => 'nothing'))).toEqual([]);
  });

  describe('prepared statements (prepared-statements.ts)', () => {
    /** The name of the statement `text` executes. */
    const nameIn = (text: string) => /execute (eg_\d+)/.exec(text)?.[1];
    /** The statements the connection of a one-connection pool holds. */
    const preparedOn = async (db: Database) =>
      (
        await query<{ name: string; statement: string }>(
          db,
          'select name, statement from pg_prepared_statements order by name',
        )
      ).map(({ name, statement }) => ({ name, statement }));

    it('prepares a marked statement on its first use by a connection, in the same round trip, then only executes it; answers as the statement', async () => {
      const db = await start({ schema: 'notes_prep', poolMax: 1 });
      const id = await addNote(db, 'one');
      const read = 'select id, body, length(body) as size from notes_prep.notes where id = ?';
      const connection = db.orm.em.getConnection();
      const answers: unknown[] = [];

      const plain = await connection.execute(read, [id]);
      const texts = await sentBy(async () => {
        answers.push(await connection.execute(prepared(read), [id]));
        answers.push(await connection.execute(prepared(read), [id]));
      });

      const name = nameIn(texts[1]!);
      expect(texts).toEqual([
        expect.stringMatching(
          /^do \$do\$ begin if exists .*prepare eg_\d+ as select id, .* where id = \$1\$eg\$/,
        ),
        `/* ${name} */ execute ${name}('${id}')`,
      ]);
      expect(texts[0]!.endsWith(`$do$;/* ${name} */ execute ${name}('${id}')`)).toBe(true);
      expect(answers).toEqual([plain, plain]);
      expect(plain).toEqual([{ id, body: 'one', size: 3 }]);
      expect(await preparedOn(db)).toContainEqual({
        name,
        statement: expect.stringContaining(`prepare ${name} as select id, body`),
      });
    });

    it('prepares a held statement in the round trip of the commit, and nothing for one a rollback drops', async () => {
      const db = await start({ schema: 'notes_prep_held', poolMax: 1 });
      const insert = sentWithNext(
        prepared('insert into notes_prep_held.notes (id, body) values (?, ?)'),
      );
      const write = (id: string, body: string) => (tx: EntityManager) =>
        tx.getConnection().execute(insert, [id, body], 'run', tx.getTransactionContext());

      const dropped = await sentBy(() =>
        rejectionOf(
          db.orm.em.fork().transactional(async (tx) => {
            await write('0190a000-0000-7000-8000-000000000011', 'dropped')(tx);
            throw new Error('refused');
          }),
        ),
      );
      const preparedAfterRollback = await preparedOn(db);
      const committed = await sentBy(() =>
        db.orm.em.fork().transactional(write('0190a000-0000-7000-8000-000000000012', 'kept')),
      );

      expect(dropped).toEqual([]);
      expect(preparedAfterRollback).toEqual([]);
      expect(committed).toEqual([
        expect.stringMatching(
          /^begin;do \$do\$ .*\$do\$;\/\* sent with the next statement \*\/ \/\* (eg_\d+) \*\/ execute \1\('0190a000-0000-7000-8000-000000000012', 'kept'\);commit$/,
        ),
      ]);
      expect(await noteBodies(db)).toEqual(['kept']);
    });

    it('prepares again, harmlessly, after a round trip that prepared and then failed', async () => {
      const db = await start({ schema: 'notes_prep_fail', poolMax: 1 });
      const id = await addNote(db, 'first');
      const insert = prepared('insert into notes_prep_fail.notes (id, body) values (?, ?)');
      const connection = db.orm.em.getConnection();

      // PREPARE ran, then the insert failed: the statement is held but not known to be.
      const error = await rejectionOf(connection.execute(insert, [id, 'again']));
      const texts = await sentBy(() =>
        connection.execute(insert, ['0190a000-0000-7000-8000-000000000013', 'second']),
      );

      expect(error.message).toMatch(/duplicate key/);
      expect(texts).toEqual([expect.stringMatching(/^do \$do\$ begin if exists/)]);
      expect(await noteBodies(db)).toEqual(['first', 'second']);
    });

    it('sends the reads of findRows prepared', async () => {
      const db = await start({ schema: 'notes_prep_rows', poolMax: 1 });
      await addNote(db, 'apple');
      const read = () => findRows(db.orm.em.fork(), NoteEntity, { body: 'apple' }, { limit: 5 });

      const texts = await sentBy(async () => {
        await read();
        await read();
      });

      expect(texts[1]).toMatch(/^\/\* (eg_\d+) \*\/ execute \1\('apple', 5\)$/);
      expect(await read()).toEqual([{ id: expect.any(String), body: 'apple' }]);
    });
  });
});

describe('findRows', () => {
  it('reads what em.find reads, filtered, ordered and limited, as plain rows the EntityManager does not manage', async () => {
    const db = await start({ schema: 'notes_rows' });
    for (const body of ['cherry', 'apple', 'banana', 'damson']) await addNote(db, body);
    const em = db.orm.em.fork();
    const where = { body: { $ne: 'damson' } };
    const options = { orderBy: { body: 'asc' as const }, limit: 2 };

    const rows = await findRows(em, NoteEntity, where, options);
    const entities = await db.orm.em.fork().find(NoteEntity, where, options);

    expect(rows).toEqual(entities.map(({ id, body }) => ({ id, body })));
    expect(rows.map((row) => row.body)).toEqual(['apple', 'banana']);
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);
    expect(em.getUnitOfWork().getIdentityMap().values()).toHaveLength(0);
    // A change to a row is not a change to the database.
    (rows[0] as { body: string }).body = 'apricot';
    await em.flush();
    expect(await noteBodies(db)).toEqual(['apple', 'banana', 'cherry', 'damson']);
  });
});
