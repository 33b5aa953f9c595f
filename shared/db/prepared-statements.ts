/**
 * Statements PostgreSQL parses and plans once per connection rather than on every call.
 *
 * MikroORM writes a statement's values into its text, so PostgreSQL parses, analyses and plans
 * every statement it receives; on the busy paths that is about a third of the server's CPU. A
 * statement marked with `prepared` goes out instead as `execute eg_<n>(<values>)`: MikroORM
 * still writes the values in, as the arguments of a statement (SQL `PREPARE`) that each pooled
 * connection prepares the first time it sends it, in the same round trip. PostgreSQL then
 * parses only the short `execute`, and after a few calls reuses one plan where a plan for the
 * values at hand would be no better (its `plan_cache_mode` auto). A connection prepares each
 * statement afresh once it has held it for a minute: a kept plan is not made again until an
 * `ANALYZE` of a table it reads, so one made while a table was nearly empty (a scan of it)
 * would otherwise outlive that where autovacuum is off or behind.
 *
 * Two halves: `markedAsPrepared`, MikroORM's `onQuery` hook, turns a marked statement into its
 * `execute`, behind a comment that names what it executes (`eg_3`); `withPreparations`,
 * called by fewer-round-trips.ts on every query it sends, reads those names and puts the
 * preparation of each that the connection does not hold (or has held for a minute) before
 * the text. So a statement held for the commit (`sentWithNext`) is prepared in the commit's
 * round trip, and one that never goes out (a rollback drops it) prepares nothing.
 *
 * A statement marked `prepared` must be one statement whose `?` values PostgreSQL can type
 * from where they stand (compared with a column, inserted into one, cast, a typed function's
 * argument). A bare `?` in the select list is typed `text` by the preparation, where the same
 * value written into the text keeps its own type. Calls whose values MikroORM would expand (an
 * array becomes a list, a raw fragment SQL) go out as they are, unprepared.
 */
import { isRaw } from '@mikro-orm/core';
import { PREPARED as MARK, WITH_NEXT } from './marks.ts';

/** A connection prepares a statement afresh once it has held it this long. */
export const PREPARED_FOR_MS = 60_000;

/**
 * Most statements a process prepares: beyond that, further marked statements go out as they
 * are. Each distinct text of a marked statement (a list of N values is its own text) is one.
 */
const MAX_STATEMENTS = 1000;

/** A statement as registered: the name it is prepared under and the number of its `?`. */
type Registered = { readonly name: string; readonly count: number };

/** Marked statement (without its mark) → as registered; null when it cannot be prepared. */
const registered = new Map<string, Registered | null>();

/** Name → the statement that prepares it afresh, whether or not the connection holds it. */
const preparations = new Map<string, string>();

/** `sql`, marked to go out as the `execute` of a statement each connection prepares. */
export function prepared(sql: string): string {
  return MARK + sql;
}

/**
 * The prepared form of a statement and the number of `?` it takes, or null for one that
 * cannot be: not a single select, insert, update, delete or `with`; `??` identifiers or `\?`
 * escapes; a `$` (the preparation quotes with dollars, and numbers its values with them).
 */
function parameterized(sql: string): { text: string; count: number } | null {
  if (!/^\s*(select|insert|update|delete|with)\b/i.test(sql)) return null;
  if (sql.includes(';') || sql.includes('$') || sql.includes('??') || sql.includes('\\?')) {
    return null;
  }
  let count = 0;
  const text = sql.replace(/\?/g, () => `$${++count}`);
  return { text, count };
}

/** A marked statement, registered on first sight; null when it cannot be prepared. */
function register(sql: string): Registered | null {
  const known = registered.get(sql);
  if (known !== undefined) return known;
  if (registered.size >= MAX_STATEMENTS) return null;
  const form = parameterized(sql);
  const statement = form ? { name: `eg_${registered.size + 1}`, count: form.count } : null;
  registered.set(sql, statement);
  if (form && statement) {
    const { name } = statement;
    // Drops what the session holds under the name first: a preparation whose round trip
    // failed after it ran (PREPARE does not roll back), or one a minute old.
    preparations.set(
      name,
      `do $do$ begin if exists (select from pg_prepared_statements where name = '${name}') ` +
        `then execute 'deallocate ${name}'; end if; ` +
        `execute $eg$prepare ${name} as ${form.text}$eg$; end $do$`,
    );
  }
  return statement;
}

/** A value MikroORM writes as one literal (not a list, not SQL of its own). */
function isLiteral(value: unknown): boolean {
  return !Array.isArray(value) && !isRaw(value);
}

/**
 * What a marked text becomes: the names it executes, in a comment in front (so a connection
 * finds them without reading the values), then an `execute` per statement with its `?`.
 */
type Form = { readonly text: string; readonly count: number };

/** Marked text (after any `sentWithNext` mark) → its form; null when it goes out as it is. */
const forms = new Map<string, Form | null>();

function formOf(body: string): Form | null {
  const names: string[] = [];
  const executes: string[] = [];
  let count = 0;
  // Marked statements one after the other: `<mark>a;\n<mark>b`.
  const [before, ...statements] = body.split(MARK);
  if (before !== '') return null;
  for (const [index, statement] of statements.entries()) {
    const plain = index < statements.length - 1 ? statement.replace(/;\s*$/, '') : statement;
    const known = register(plain);
    if (!known) return null;
    const { name, count: values } = known;
    names.push(name);
    executes.push(
      values === 0 ? `execute ${name}` : `execute ${name}(${Array(values).fill('?').join(', ')})`,
    );
    count += values;
  }
  return { text: `/* ${names.join(' ')} */ ${executes.join(';')}`, count };
}

/**
 * MikroORM's `onQuery`: a marked statement (or several, separated by `;`, each marked) as the
 * `execute` of its prepared statement, with the same `?` in the same order; anything else as
 * it is. A `sentWithNext` mark stays in front.
 */
export function markedAsPrepared(sql: string, params: readonly unknown[]): string {
  const held = sql.startsWith(WITH_NEXT);
  const body = held ? sql.slice(WITH_NEXT.length) : sql;
  if (!body.startsWith(MARK)) return sql;
  let form = forms.get(body);
  if (form === undefined) {
    form = formOf(body);
    if (forms.size < MAX_STATEMENTS) forms.set(body, form);
  }
  if (!form || form.count !== params.length || !params.every(isLiteral)) return sql;
  return held ? WITH_NEXT + form.text : form.text;
}

/** The names a text from `markedAsPrepared` executes (none for any other text). */
function namesIn(text: string): string[] {
  const start = text.startsWith(WITH_NEXT) ? WITH_NEXT.length : 0;
  if (!text.startsWith('/* eg_', start)) return [];
  return text.slice(start + 3, text.indexOf(' */', start)).split(' ');
}

/**
 * The texts of one query joined, each after the preparations of the statements it executes
 * that `prepared` (the connection's: name → when it prepared it) does not hold, or has held
 * for `PREPARED_FOR_MS` at `now`; and the names so prepared.
 */
export function withPreparations(
  texts: readonly string[],
  prepared: ReadonlyMap<string, number>,
  now: number,
): { text: string; names: string[] } {
  const names: string[] = [];
  const sending: string[] = [];
  for (const text of texts) {
    for (const name of namesIn(text)) {
      const preparation = preparations.get(name);
      const since = prepared.get(name);
      const held = since !== undefined && now - since < PREPARED_FOR_MS;
      if (preparation && !held && !names.includes(name)) {
        names.push(name);
        sending.push(preparation);
      }
    }
    sending.push(text);
  }
  return { text: sending.join(';'), names };
}
