/**
 * The two halves of prepared statements, without a database: what a marked statement becomes
 * (MikroORM's `onQuery`) and what a connection sends before an `execute` it has not prepared.
 * That PostgreSQL answers them as the statements themselves is database.integration.test.ts.
 */
import { sentWithNext } from './fewer-round-trips.ts';
import {
  PREPARED_FOR_MS,
  markedAsPrepared,
  prepared,
  withPreparations,
} from './prepared-statements.ts';

const READ = 'select id, body from unit_prep.notes where id = ? and body <> ?';

/** The name a marked statement's `execute` gives. */
function nameIn(text: string): string {
  const name = /execute (eg_\d+)/.exec(text)?.[1];
  if (!name) throw new Error(`no execute in ${text}`);
  return name;
}

describe('markedAsPrepared (MikroORM onQuery)', () => {
  it('turns a marked statement into the execute of one name, with its ? in order, the same name every time', () => {
    const first = markedAsPrepared(prepared(READ), ['a', 'b']);
    const again = markedAsPrepared(prepared(READ), ['c', 'd']);

    expect(first).toMatch(/^\/\* (eg_\d+) \*\/ execute \1\(\?, \?\)$/);
    expect(again).toBe(first);
  });

  it('gives different statements different names, and one without values an execute without arguments', () => {
    const one = nameIn(markedAsPrepared(prepared(READ), ['a', 'b']));
    const constant = markedAsPrepared(prepared('select count(*) from unit_prep.notes'), []);

    expect(constant).toMatch(/^\/\* (eg_\d+) \*\/ execute \1$/);
    expect(nameIn(constant)).not.toBe(one);
  });

  it('keeps the sentWithNext mark in front of the execute', () => {
    const text = markedAsPrepared(
      sentWithNext(prepared('insert into unit_prep.notes (id, body) values (?, ?)')),
      ['a', 'b'],
    );

    expect(text).toMatch(
      /^\/\* sent with the next statement \*\/ \/\* (eg_\d+) \*\/ execute \1\(\?, \?\)$/,
    );
  });

  it('turns statements marked one by one in one text into their executes, sharing out the values', () => {
    const lock = prepared('select pg_advisory_xact_lock(hashtextextended(?::text, 0))');
    const read = prepared('select body from unit_prep.notes where id = ? and body <> ?');

    const text = markedAsPrepared(`${lock};\n${read}`, ['k', 'a', 'b']);

    expect(text).toMatch(/^\/\* (eg_\d+) (eg_\d+) \*\/ execute \1\(\?\);execute \2\(\?, \?\)$/);
  });

  it.each([
    ['an unmarked statement', READ, ['a', 'b']],
    ['a list value (MikroORM writes an array as a list)', prepared(READ), [['a', 'b'], 'c']],
    ['more values than ?', prepared(READ), ['a', 'b', 'c']],
    ['two statements of which one is marked', `select 1;${prepared(READ)}`, ['a', 'b']],
    ['a statement that is not a read or write', prepared('vacuum unit_prep.notes'), []],
    ['a dollar in the text', prepared('select $$x$$ from unit_prep.notes where id = ?'), ['a']],
    [
      'an identifier value (??)',
      prepared('select ?? from unit_prep.notes where id = ?'),
      ['body', 'a'],
    ],
  ])('leaves %s as it is', (_, sql, params) => {
    expect(markedAsPrepared(sql, params)).toBe(sql);
  });
});

describe('withPreparations (each connection)', () => {
  const execute = markedAsPrepared(prepared(READ), ['a', 'b']).replace(/\?/g, "'x'");
  const name = nameIn(execute);
  const preparation =
    `do $do$ begin if exists (select from pg_prepared_statements where name = '${name}') ` +
    `then execute 'deallocate ${name}'; end if; ` +
    `execute $eg$prepare ${name} as select id, body from unit_prep.notes where id = $1 and body <> $2$eg$; end $do$`;
  const now = 1_000_000;

  it('puts the preparation of a statement the connection has not prepared before the text that executes it, and names it', () => {
    expect(withPreparations(['begin', execute, 'commit'], new Map(), now)).toEqual({
      text: `begin;${preparation};${execute};commit`,
      names: [name],
    });
  });

  it('sends texts whose statements the connection has held for less than a minute as they are', () => {
    const held = new Map([[name, now - PREPARED_FOR_MS + 1]]);

    expect(withPreparations([execute, 'commit'], held, now)).toEqual({
      text: `${execute};commit`,
      names: [],
    });
  });

  it('prepares afresh a statement the connection has held for a minute (its plan made again)', () => {
    const held = new Map([[name, now - PREPARED_FOR_MS]]);

    expect(withPreparations([execute], held, now)).toEqual({
      text: `${preparation};${execute}`,
      names: [name],
    });
  });

  it('prepares a statement once however often the query executes it, also when held for the commit', () => {
    const held = sentWithNext(execute);

    expect(withPreparations([held, execute, 'commit'], new Map(), now)).toEqual({
      text: `${preparation};${held};${execute};commit`,
      names: [name],
    });
  });

  it('reads the names from the front only: a value that reads like an execute prepares nothing', () => {
    const text = `select '/* ${name} */ execute ${name}'`;

    expect(withPreparations([text], new Map(), now)).toEqual({ text, names: [] });
  });

  it('leaves alone an execute of a name it did not give', () => {
    expect(
      withPreparations(['/* eg_999999 */ execute eg_999999(1)'], new Map(), now).names,
    ).toEqual([]);
  });
});
