/**
 * Entry point of the embedded PostgreSQL process (see embedded-postgres-process.ts):
 * `<create|serve> <dataDir> <maxConnections>`. `serve` serves until its parent says stop or
 * goes away, then closes the database (its files are complete on disk) and exits 0; `create`
 * creates the database files (initdb) and exits 0.
 */
import { createLogger } from '../observability/index.ts';
import { createEmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres.ts';
import type { ChildMessage } from './embedded-postgres-process.ts';

const [task = 'serve', dataDir = '', maxConnections = '8'] = process.argv.slice(2);
/** Sends to the parent if it is still there; resolves once the message is out. */
const send = (message: ChildMessage) =>
  new Promise<void>((resolve) => {
    if (!process.connected || !process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });

// Ctrl-C reaches the whole process group: the parent stops the services, then this.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

try {
  if (task === 'create') {
    await createEmbeddedDatabase(dataDir);
    await send({ type: 'created' });
    process.exit(0);
  }
  const embedded = await startEmbeddedPostgres({
    dataDir,
    maxConnections: Number(maxConnections),
    logger: createLogger({ level: 'silent' }),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await embedded.stop();
    process.exit(0);
  };
  await send({ type: 'ready', url: embedded.url });
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  // The parent went away while the database started: nobody will use it.
  if (!process.connected) await stop();
} catch (error) {
  await send({ type: 'failed', message: (error as Error).message });
  process.exit(1);
}
