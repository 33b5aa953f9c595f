/**
 * Two changes to what a pooled connection sends, so that a transaction costs fewer round
 * trips to PostgreSQL:
 *
 * - **`begin` goes out with the transaction's first statement.** The `begin` that MikroORM
 *   (through kysely) sends to open a transaction is held back and prefixed to the next
 *   statement, as one simple query. A transaction that sends nothing before its `commit` or
 *   `rollback` sends nothing at all. Nothing changes for PostgreSQL: `begin` takes no
 *   snapshot and no lock, so the statements run as they would have.
 * - **A query of several statements answers with its last statement's result**, where
 *   node-postgres answers with an array of results that MikroORM cannot read. So one
 *   `execute` can take an advisory lock and then read under it: each statement of a simple
 *   query takes its own snapshot (READ COMMITTED), after the one before it has run.
 *
 * Both hold only for text queries without bound parameters (the simple protocol, which takes
 * several statements; MikroORM inlines its values). Any other call sends a held `begin` on
 * its own first, in order.
 */
import type pg from 'pg';

type QueryResult = pg.QueryResult | pg.QueryResult[];
type Send = (text: string) => Promise<QueryResult>;

/** What node-postgres answers to `begin`, `commit` and `rollback`. */
const NOTHING = { rows: [], rowCount: null, fields: [], oid: 0 };

/** Installs both changes on a client of the pool (see `pg.Pool`'s `connect` event). */
export function sendFewerRoundTrips(client: pg.Client): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const send = query as Send;
  let heldBegin = false;
  const lastOf = (result: QueryResult) =>
    Array.isArray(result) ? result[result.length - 1]! : result;

  const replacement = (...args: unknown[]): unknown => {
    const [text, values, callback] = args;
    const simple =
      typeof text === 'string' &&
      callback === undefined &&
      (values === undefined || (Array.isArray(values) && values.length === 0));
    if (!simple) {
      if (heldBegin) {
        heldBegin = false;
        // Queued before the call: node-postgres sends its queries in order.
        send('begin').catch(() => undefined);
      }
      return query(...args);
    }
    if (text === 'begin') {
      heldBegin = true;
      return Promise.resolve({ ...NOTHING, command: 'BEGIN' });
    }
    if (heldBegin) {
      heldBegin = false;
      if (text === 'commit' || text === 'rollback') {
        return Promise.resolve({ ...NOTHING, command: text.toUpperCase() });
      }
      return send(`begin;${text}`).then(lastOf);
    }
    return send(text).then(lastOf);
  };
  client.query = replacement as typeof client.query;
}
