/**
 * Preloaded into a platform process by `bench:platform` (`node --import <this> …`): counts
 * the SQL round trips the process sends — every call of node-postgres' `Client.prototype.query`
 * (pools, MikroORM's driver through kysely and the services' own `pg` clients all end there;
 * `BEGIN` and `COMMIT` count as one each) — and answers `{ type: 'sql-count' }` messages on
 * the IPC channel with the total so far. Patches every copy of `pg` installed (MikroORM's
 * PostgreSQL driver may carry one of its own). Nothing else changes in the process.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(pathToFileURL(`${process.cwd()}/package.json`));

let queries = 0;
const patched = new Set<unknown>();

/** Resolves `pg` as the package at `dir` sees it and counts the queries of its Client class. */
function patch(dir: string): void {
  let path: string;
  try {
    path = createRequire(`${dir}/package.json`).resolve('pg');
  } catch {
    return; // that package is not installed: nothing of it to count
  }
  const pg = require(path) as { Client: { prototype: { query: (...args: unknown[]) => unknown } } };
  const proto = pg.Client.prototype;
  if (patched.has(proto)) return;
  patched.add(proto);
  const query = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    queries++;
    return query.apply(this, args);
  };
}

const root = process.cwd();
patch(root);
patch(`${root}/node_modules/@mikro-orm/postgresql`);
patch(`${root}/node_modules/@mikro-orm/sql`);

if (process.send) {
  process.on('message', (message: { type?: string; id?: number }) => {
    if (message?.type === 'sql-count')
      process.send!({ type: 'sql-count', id: message.id, queries });
  });
  // The channel must not keep the platform alive: it stops on SIGTERM as `npm start` does.
  process.channel?.unref();
}
