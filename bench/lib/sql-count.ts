/**
 * Preloaded into the platform's processes by `bench:platform` (through `NODE_OPTIONS=--import
 * <this>`, see `sqlCountingEnv` in platform-process.ts): counts the SQL round trips the process
 * sends — every call of node-postgres' `Client.prototype.query` (pools, MikroORM's driver
 * through kysely and the services' own `pg` clients all end there; `BEGIN` and `COMMIT` count
 * as one each) — and answers whoever connects to the Unix socket
 * `$BENCH_SQL_COUNT_DIR/<pid>.sock` with the total so far. A socket named by pid rather than an
 * IPC channel, so the benchmark can ask any process it knows the pid of, whoever spawned it.
 * Patches every copy of `pg` installed (MikroORM's PostgreSQL driver may carry one of its own).
 * Nothing else changes in the process.
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

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

const dir = process.env['BENCH_SQL_COUNT_DIR'];
// A worker thread shares the pid (and would take the socket's name): only the main thread answers.
if (dir && isMainThread) {
  const server = createServer((socket) => socket.end(String(queries)));
  server.listen(join(dir, `${process.pid}.sock`));
  // The socket must not keep the platform alive: it stops on SIGTERM as `npm start` does.
  server.unref();
}
