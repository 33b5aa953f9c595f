/**
 * Outbox relay: sends committed outbox rows to the transport in id order and marks them
 * sent, in batches. Woken by LISTEN/NOTIFY from other instances, by this process's own
 * commits, and by a polling fallback.
 *
 * Guarantees: at-least-once (a crash between send and mark resends the batch; consumers
 * dedupe by event id), and never concurrent: each batch runs in a transaction that must win
 * a transaction-scoped advisory lock, so of several relays on one table only one sends at a
 * time, and the next reads only after the previous batch's marks committed. With the
 * per-subject publish lock (outbox.ts) this keeps every aggregate's events in commit order.
 *
 * Cost: the relay runs on a PostgreSQL session of its own. A batch takes two round trips
 * (begin, lock and read; then mark and commit), and so does a look that finds nothing to
 * send (begin, lock and read; then commit).
 *
 * The batch transaction stays open while the transport sends: with embedded PGlite (one
 * session) that is safe only because transports never wait for consumers.
 */
import pg from 'pg';
import { backoffDelay, sleep } from '../async/index.ts';
import type { MikroORM } from '../db/index.ts';
import type { Logger } from '../observability/index.ts';
import type { EventMetrics } from './metrics.ts';
import { outboxChannel } from './outbox.ts';
import type { Outbox } from './outbox.ts';
import type { EventTransport } from './transport.ts';

export interface OutboxRelayOptions {
  orm: MikroORM;
  /** The outbox to drain: its schema's table; its publishing commits wake the relay. */
  outbox: Outbox;
  transport: EventTransport;
  logger: Logger;
  metrics?: EventMetrics;
  /** Rows per batch (and per transport send). @default 500 */
  batchSize?: number;
  /** Fallback poll when no notification arrives. @default 1000 */
  pollIntervalMs?: number;
  /**
   * PostgreSQL URL of the outbox's database. The relay keeps one session of its own there:
   * it runs its batches and LISTENs for the outbox's commits.
   */
  url: string;
  /** Sent rows are deleted after this long. @default 86400000 (1 day) */
  retentionMs?: number;
  /**
   * Longest back-off after failed sends (broker down); the delays start below 200 ms and
   * double, with full jitter. @default 5000
   */
  maxBackoffMs?: number;
  /** After a wake-up, wait this long so commits close together share one send. @default 25 */
  lingerMs?: number;
}

export interface OutboxRelay {
  /** Asks for a batch now (e.g. after a commit). */
  wake(): void;
  /** Unsent rows. */
  backlog(): Promise<number>;
  /** Sends what is pending (best effort, bounded by `timeoutMs`), then stops. */
  stop(timeoutMs?: number): Promise<void>;
}

/** The relay's wait after a wake-up when `lingerMs` is not given. */
export const DEFAULT_RELAY_LINGER_MS = 25;

export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { orm, outbox, transport, logger, metrics } = options;
  const table = `"${outbox.schema}".outbox`;
  const lockKey = `eventgraph-outbox-relay:${outbox.schema}`;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const retentionMs = options.retentionMs ?? 86_400_000;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const lingerMs = options.lingerMs ?? DEFAULT_RELAY_LINGER_MS;
  let stopped = false;
  let woken = false;
  let wakeUp: (() => void) | undefined;
  let lastCleanup = 0;

  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  /** Waits `ms`, or less: a wake (new rows) or a stop ends the wait at once. */
  const sleepUnlessWoken = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  /**
   * The relay's own session: its batches run on it and it LISTENs for the outbox's commits.
   * Opened on first use and again after it is lost (the loop backs off in between).
   */
  let session: pg.Client | undefined;
  const openSession = async (): Promise<pg.Client> => {
    if (session) return session;
    const client = new pg.Client({ connectionString: options.url });
    const lost = (error?: Error) => {
      if (session !== client) return;
      session = undefined;
      if (error) logger.warn({ err: error }, 'outbox relay lost its database session');
      client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', wake);
    try {
      await client.connect();
      // The read below walks the partial index of unsent rows in id order and stops at the
      // batch's size. A bitmap scan, which the planner picks when it expects few unsent rows,
      // would instead visit the heap behind every entry the index still holds for rows sent
      // since the last vacuum (thousands under load) on every read. An index scan visits each
      // such row once, marks its entry dead, and skips it from then on.
      await client.query('set enable_bitmapscan = off');
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    try {
      await client.query(`listen "${outboxChannel(outbox.schema)}"`);
    } catch (error) {
      logger.warn({ err: error }, 'outbox LISTEN unavailable; relying on polling');
    }
    session = client;
    return client;
  };

  // A batch is two round trips on the session. The first begins the transaction, tries the
  // leader lock and, only if it won, reads the batch: in a separate statement, whose snapshot
  // is taken after the lock was won, so it sees the marks of the batch before it.
  const leader = 'eventgraph.outbox_relay_leader';
  const readBatch = `begin;
    select set_config('${leader}', pg_try_advisory_xact_lock(hashtextextended(${pg.escapeLiteral(lockKey)}, 0))::text, true) as leader;
    select id, topic, key, value, headers from ${table}
    where sent_at is null and current_setting('${leader}') = 'true'
    order by id limit ${batchSize}`;
  type OutboxRow = {
    id: string;
    topic: string;
    key: string;
    value: string;
    headers: Record<string, string>;
  };

  /** One batch: -1 when another relay holds the lock, else the number of rows sent. */
  const relayBatch = async () => {
    const client = await openSession();
    try {
      // A multi-statement query answers with one result per statement.
      const [, lock, batch] = (await client.query(readBatch)) as unknown as [
        pg.QueryResult,
        pg.QueryResult<{ leader: string }>,
        pg.QueryResult<OutboxRow>,
      ];
      const rows = batch.rows;
      if (rows.length === 0) {
        await client.query('commit');
        return lock.rows[0]?.leader === 'true' ? 0 : -1;
      }
      await transport.send(
        rows.map(({ topic, key, value, headers }) => ({ topic, key, value, headers })),
      );
      // Ids are bigserial values read back from the table: digits only.
      let finish = `update ${table} set sent_at = clock_timestamp()
        where id = any('{${rows.map((row) => row.id).join(',')}}'::bigint[]);`;
      if (Date.now() - lastCleanup > 60_000) {
        lastCleanup = Date.now();
        finish += `delete from ${table}
          where sent_at < clock_timestamp() - interval '${retentionMs} milliseconds';`;
      }
      await client.query(`${finish} commit`);
      if (metrics) for (const row of rows) metrics.published.inc({ topic: row.topic });
      return rows.length;
    } catch (error) {
      // Ends the transaction (and with it the lock); on a lost session this fails too, and
      // the next batch opens a new one.
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
  };

  // Wake on this process's own commits: the cheapest signal, no round trip.
  orm.em.getEventManager().registerSubscriber({
    afterTransactionCommit: ({ transaction }: { transaction?: object }) => {
      if (transaction && outbox.publishedIn(transaction)) wake();
    },
  });

  let failures = 0;
  const loop = (async () => {
    while (!stopped) {
      woken = false;
      let sent: number;
      try {
        sent = await relayBatch();
        if (failures > 0) logger.info({ afterFailures: failures }, 'outbox relay recovered');
        failures = 0;
      } catch (error) {
        failures++;
        const backoffMs = backoffDelay(failures, { baseMs: 200, maxMs: maxBackoffMs });
        logger.warn({ err: error, failures, backoffMs }, 'outbox relay batch failed; retrying');
        await sleep(backoffMs);
        continue;
      }
      if (sent === batchSize) continue;
      await sleepUnlessWoken(pollIntervalMs);
      if (woken && lingerMs > 0 && !stopped) await sleep(lingerMs);
    }
  })();

  const backlog = async () => {
    const [row] = await orm.em
      .getConnection()
      .execute<{ count: string }[]>(`select count(*) as count from ${table} where sent_at is null`);
    return Number(row?.count ?? 0);
  };
  if (metrics) {
    // Refreshed on every scrape.
    Object.assign(metrics.outboxBacklog, {
      collect: async () => metrics.outboxBacklog.set(await backlog().catch(() => NaN)),
    });
  }

  return {
    wake,
    backlog,
    async stop(timeoutMs = 5000) {
      // Flush what is pending so a graceful stop leaves nothing behind it could have sent.
      const deadline = Date.now() + timeoutMs;
      stopped = true;
      wakeUp?.();
      await loop;
      try {
        while (Date.now() < deadline && (await relayBatch()) === batchSize);
      } catch (error) {
        logger.warn(
          { err: error },
          'outbox relay could not flush on stop; rows stay for next start',
        );
      }
      await session?.end().catch(() => undefined);
    },
  };
}
