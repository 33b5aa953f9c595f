/**
 * Changes to what a pooled connection sends, so that a transaction costs fewer round trips to
 * PostgreSQL. Nothing changes for PostgreSQL: it runs the same statements in the same order.
 *
 * - **`begin` goes out with the transaction's first statement.** The `begin` that MikroORM
 *   (through kysely) sends to open a transaction is held back and prefixed to the next
 *   statement, as one simple query. `begin` takes no snapshot and no lock, so the statements
 *   run as they would have. A transaction that sends nothing before its `commit` or
 *   `rollback` sends nothing at all.
 * - **A statement marked with `sentWithNext` goes out with the next one**, typically the
 *   `commit`: for writes whose answer the caller does not read (an outbox insert, the row of a
 *   new order). Its call answers at once with no rows; should it fail, the statement it went
 *   out with fails with its error, and so the transaction. A `rollback` drops it unsent.
 *   Outside a transaction it goes out at once, as any other.
 * - **A query of several statements answers with its last statement's result**, where
 *   node-postgres answers with an array of results that MikroORM cannot read. So one
 *   `execute` can take an advisory lock and then read under it: each statement of a simple
 *   query takes its own snapshot (READ COMMITTED), after the one before it has run.
 *
 * - **A statement marked with `prepared` is prepared before its first use** on the
 *   connection (and again after a minute), in the same round trip (prepared-statements.ts).
 *
 * These hold for text queries without bound parameters (the simple protocol, which takes
 * several statements; MikroORM inlines its values). Any other call first sends what is held,
 * in order.
 */
import type pg from 'pg';
import { WITH_NEXT } from './marks.ts';
import { withPreparations } from './prepared-statements.ts';

type QueryResult = pg.QueryResult | pg.QueryResult[];
/** Sends the texts as one simple query. */
type Send = (...texts: string[]) => Promise<QueryResult>;

/** What node-postgres answers to `begin`, `commit` and `rollback`; and to a held statement. */
const NOTHING = { rows: [], rowCount: null, fields: [], oid: 0 };

/**
 * `sql`, marked to wait on its connection and go out with the transaction's next statement
 * (see above). Only for statements whose answer is not read, inside a transaction.
 */
export function sentWithNext(sql: string): string {
  return WITH_NEXT + sql;
}

/** Installs these changes on a client of the pool (see `pg.Pool`'s `connect` event). */
export function sendFewerRoundTrips(client: pg.Client): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  /** The statements this connection has prepared, and when (prepared-statements.ts). */
  const preparedHere = new Map<string, number>();
  /** Sends texts as one simple query, each after the preparations it needs. */
  const send: Send = (...texts) => {
    const now = Date.now();
    const { text: sending, names } = withPreparations(texts, preparedHere, now);
    const result = query(sending) as Promise<QueryResult>;
    if (names.length === 0) return result;
    return result.then((answer) => {
      for (const name of names) preparedHere.set(name, now);
      return answer;
    });
  };
  /** Statements waiting for the next one, in order; `begin` first when it is held too. */
  let held: string[] = [];
  /** Between `begin` and `commit` or `rollback`: outside, nothing marked waits. */
  let inTransaction = false;
  const lastOf = (result: QueryResult) =>
    Array.isArray(result) ? result[result.length - 1]! : result;

  const replacement = (...args: unknown[]): unknown => {
    const [text, values, callback] = args;
    const simple =
      typeof text === 'string' &&
      callback === undefined &&
      (values === undefined || (Array.isArray(values) && values.length === 0));
    if (!simple) {
      if (held.length > 0) {
        // Queued before the call (node-postgres sends its queries in order); should it fail,
        // the transaction is aborted and the call fails for it.
        send(...held).catch(() => undefined);
        held = [];
      }
      return query(...args);
    }
    if (text === 'begin' || (inTransaction && text.startsWith(WITH_NEXT))) {
      inTransaction = true;
      held.push(text);
      return Promise.resolve({ ...NOTHING, command: text === 'begin' ? 'BEGIN' : 'HELD' });
    }
    if (text === 'commit' || text === 'rollback') inTransaction = false;
    // kysely's begin with an isolation level or access mode: sent as it is, but it begins.
    else if (text.startsWith('start transaction')) inTransaction = true;
    if (held.length === 0) return send(text).then(lastOf);
    const sending = held;
    held = [];
    if (text === 'rollback') {
      // What is held needs no undoing: unsent. A transaction whose begin is held never began.
      return sending[0] === 'begin'
        ? Promise.resolve({ ...NOTHING, command: 'ROLLBACK' })
        : send(text).then(lastOf);
    }
    if (text === 'commit' && sending.length === 1 && sending[0] === 'begin') {
      return Promise.resolve({ ...NOTHING, command: 'COMMIT' });
    }
    return send(...sending, text).then(lastOf);
  };
  client.query = replacement as typeof client.query;
}
