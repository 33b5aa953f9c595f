/**
 * The embedded PostgreSQL in a process of its own, for `npm start`: the services reach it over
 * the wire protocol anyway, so only the socket crosses the process boundary.
 *
 * Why a process: PGlite runs Postgres as WASM on the thread that hosts it, so its queries
 * would block every service's event loop; and V8's optimising compiler, tiering up the 9 MB
 * Postgres module, holds about 500 MB for seconds. Here the database runs beside the services
 * (a second core), on V8's baseline compiler only (`--liftoff-only`: less memory, and faster
 * over a start-up than waiting for the optimiser).
 *
 * The child stops when told, and on its own when its parent goes away (the IPC channel
 * closes), so a killed `npm start` leaves no database behind; terminal signals (Ctrl-C reaches
 * the whole process group) are left to the parent, which stops the services first.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EmbeddedPostgres } from './embedded-postgres.ts';

export interface EmbeddedPostgresProcessOptions {
  /** Directory holding the database files; created when missing. */
  dataDir: string;
  /** Client connections served at once. @default 8 */
  maxConnections?: number;
}

/**
 * Whether `dataDir` already holds a database (its files were created by an earlier start).
 * Creating one (initdb) is what makes a first start slow.
 */
export function hasEmbeddedDatabase(dataDir: string): boolean {
  return existsSync(path.join(path.resolve(dataDir), 'pg', 'PG_VERSION'));
}

/** Messages from the child (embedded-postgres-child.ts). */
export type ChildMessage =
  { type: 'ready'; url: string } | { type: 'created' } | { type: 'failed'; message: string };

/** What the child does: create the database and exit, or serve it until stopped. */
export type ChildTask = 'create' | 'serve';

/** The child's entry point: `.ts` run from source, `.js` in the build (`dist/`). */
const CHILD = new URL(
  `./embedded-postgres-child${path.extname(new URL(import.meta.url).pathname)}`,
  import.meta.url,
);

export async function startEmbeddedPostgresProcess(
  options: EmbeddedPostgresProcessOptions,
): Promise<EmbeddedPostgres> {
  // Creating a database (initdb) takes PGlite about twice the memory of serving one, and a
  // process keeps what it once held: one process creates it and exits, another serves it.
  if (!hasEmbeddedDatabase(options.dataDir)) {
    const creator = runChild('create', options);
    await creator.started;
    await creator.exited;
  }
  const server = runChild('serve', options);
  const url = await server.started;
  let stopping: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopping ??= (async () => {
        if (server.child.connected) server.child.send({ type: 'stop' });
        const code = await server.exited;
        if (code !== 0) throw new Error(`embedded PostgreSQL stopped with code ${code}`);
      })();
      return stopping;
    },
  };
}

/**
 * Forks the child for `task`; `started` resolves once the child has done it: with its URL
 * (serve), or '' (create).
 */
function runChild(task: ChildTask, options: EmbeddedPostgresProcessOptions) {
  // Not the parent's flags or watch-mode reporting (`node --watch` asks its child, through the
  // environment, to send its imports over IPC; this child's channel is ours).
  const { WATCH_REPORT_DEPENDENCIES: _watching, ...env } = process.env;
  const child = fork(CHILD, [task, options.dataDir, String(options.maxConnections ?? 8)], {
    execArgv: ['--liftoff-only'],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const started = new Promise<string>((resolve, reject) => {
    const early = (code: number | null) =>
      reject(new Error(`embedded PostgreSQL exited during start-up (code ${code})`));
    child.once('exit', early);
    child.once('error', reject);
    // Only its own messages: the IPC channel may carry Node's too.
    child.on('message', function started(message: ChildMessage) {
      if (message.type !== 'ready' && message.type !== 'created' && message.type !== 'failed') {
        return;
      }
      child.off('message', started);
      child.off('exit', early);
      if (message.type === 'failed') reject(new Error(message.message));
      else resolve(message.type === 'ready' ? message.url : '');
    });
  });
  return { child, started, exited };
}
