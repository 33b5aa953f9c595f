/**
 * Analytics ingest benchmark (`npm run bench:analytics`): how fast the analytics service
 * stores domain events in PostgreSQL (`analytics.events` plus rollups) from the platform's
 * Kafka topics, wired exactly as the service wires it, against a plain kafkajs consumer that
 * does one INSERT per batch into a bare table, in the same invocation. Checks its
 * target (at least 10,000 events/s) and that the rollups equal `rollupDeltas` over the
 * produced events; exits 1 when either fails. See bench/README.md.
 *
 *   node bench/analytics.bench.ts [--events 60000] [--partitions 6] [--help] ...
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import '../shared/events/kafkajs-patch.ts';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import pg from 'pg';
import { TOPICS, catalogue } from '../schema/events/index.ts';
import { redactUrl } from '../shared/config/index.ts';
import { startDatabase } from '../shared/db/index.ts';
import type { Database } from '../shared/db/index.ts';
import {
  EVENT_TABLES_MIGRATIONS,
  createEventMetrics,
  startKafkaTransport,
  startServiceEvents,
} from '../shared/events/index.ts';
import type {
  BatchHandler,
  EventTransport,
  ServiceEvents,
  TransportMessage,
} from '../shared/events/index.ts';
import { createMetrics } from '../shared/observability/index.ts';
import { rollupDeltas, userOf } from '../subgraphs/analytics/domain/analytics.decisions.ts';
import type { RollupDeltas } from '../subgraphs/analytics/domain/analytics.decisions.ts';
import { createAnalyticsService } from '../subgraphs/analytics/domain/analytics.service.ts';
import { createIngestHandler } from '../subgraphs/analytics/events/ingest.handler.ts';
import { migrations } from '../subgraphs/analytics/migrations/index.ts';
import { generateDomainEvents } from './lib/domain-events.ts';
import type { DomainEvents } from './lib/domain-events.ts';
import {
  cleanup,
  cleanUpOnSignals,
  interrupted,
  offCleanup,
  onCleanup,
  progress,
  runBenchmark,
  sleep,
} from './lib/harness.ts';
import { KAFKA_DEFAULTS, cloudEventHeaders, consumerOutcomes } from './lib/pipelines.ts';
import {
  adminQuery,
  createBenchDatabase,
  createBenchLogger,
  flagParsers,
  newRunId,
  serverUrl,
  startBus,
} from './lib/setup.ts';
import type { Bus } from './lib/setup.ts';
import { fmt, percentile, ratio, table } from './lib/stats.ts';
import { measureResources, now } from './lib/timeline.ts';
import type { Resources } from './lib/timeline.ts';

const TARGET_EVENTS_PER_SECOND = 10_000;
/** Where analytics keeps its tables (its service name, as createSubgraph does). */
const SCHEMA = 'analytics';
const GROUP = 'analytics.ingest';
const PLATFORM_TOPICS = Object.values(TOPICS);

/**
 * Each round ingests the same pre-produced events again, into fresh tables and with fresh
 * consumer groups (so they read from the start); the first round uses the service's names.
 */
interface Round {
  readonly index: number;
  readonly schema: string;
  readonly group: string;
  readonly baselineSchema: string;
  readonly baselineGroup: string;
}

const round = (index: number): Round => {
  const suffix = index === 1 ? '' : `_${index}`;
  return {
    index,
    schema: `${SCHEMA}${suffix}`,
    group: `${GROUP}${suffix}`,
    baselineSchema: `bench_baseline${suffix}`,
    baselineGroup: `bench.raw-ingest${suffix}`,
  };
};

// ---------------------------------------------------------------------------------------------
// Options

const USAGE = `Usage: node bench/analytics.bench.ts [options]

  --events N            domain events to pre-produce and ingest (60000)
  --days N              event time spans this many days (3)
  --users N             users existing before the window (events / 10)
  --products N          products on sale before the window (2000)
  --partitions N        partitions of each platform topic (3, the platform's default,
                        KAFKA_TOPIC_PARTITIONS)
  --produce-batch N     events per send when pre-producing, per topic (500, the outbox
                        relay's batchSize: one send is what a service's relay sends at most)
  --nodes N             Kafka nodes to start (1, as docker-compose.yml runs; 3 for a
                        cluster with replication factor 3)
  --base-port N         first Kafka node's client port (59092; its controller listens 10
                        above; tests use 19092, 19292 and 19392, bench:events 19592)
  --max-wait-ms N       Kafka transport maxWaitTimeMs (code default 250)
  --concurrent-partitions N  Kafka transport partitionsConsumedConcurrently (code default 3)
  --session-timeout-ms N  Kafka consumer session timeout (code default 30000; only a
                        rebalance waits for it)
  --pool-max N          analytics database pool size, and the baseline's (code default 10)
  --rounds N            ingest the events N times (fresh tables and groups each time, the
                        baseline then ours each round); the target is judged on the median (3)
  --timeout-s N         longest wait for one pipeline to store every event (120)
  --progress-s N        seconds between progress lines (1)
  --no-baseline         skip the raw kafkajs baseline (no ratio)
  -h, --help

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres; the
benchmark creates and drops its own database there), KAFKA_BROKERS (use these brokers instead
of starting Kafka; the run's topics and groups are deleted after), BENCH_LOG_LEVEL
(code-under-test log lines shown on stderr, default warn).`;

const { values } = parseArgs({
  allowNegative: true,
  options: {
    events: { type: 'string', default: '60000' },
    days: { type: 'string', default: '3' },
    users: { type: 'string' },
    products: { type: 'string', default: '2000' },
    partitions: { type: 'string', default: '3' },
    'produce-batch': { type: 'string', default: '500' },
    nodes: { type: 'string', default: '1' },
    'base-port': { type: 'string', default: '59092' },
    'max-wait-ms': { type: 'string' },
    'concurrent-partitions': { type: 'string' },
    'session-timeout-ms': { type: 'string' },
    'pool-max': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'timeout-s': { type: 'string', default: '120' },
    'progress-s': { type: 'string', default: '1' },
    baseline: { type: 'boolean', default: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const { int, optionalInt } = flagParsers(USAGE);
const opts = {
  events: int('events', values.events),
  days: int('days', values.days),
  users: optionalInt('users', values.users),
  products: int('products', values.products),
  partitions: int('partitions', values.partitions),
  produceBatch: int('produce-batch', values['produce-batch']),
  nodes: int('nodes', values.nodes),
  basePort: int('base-port', values['base-port']),
  maxWaitMs: optionalInt('max-wait-ms', values['max-wait-ms'], 0),
  concurrentPartitions: optionalInt('concurrent-partitions', values['concurrent-partitions']),
  sessionTimeoutMs: optionalInt('session-timeout-ms', values['session-timeout-ms']),
  poolMax: optionalInt('pool-max', values['pool-max']),
  rounds: int('rounds', values.rounds),
  timeoutMs: int('timeout-s', values['timeout-s']) * 1000,
  progressMs: int('progress-s', values['progress-s']) * 1000,
  baseline: values.baseline,
};

const log = createBenchLogger();
const { logger } = log;
const runId = newRunId();

// ---------------------------------------------------------------------------------------------
// Pre-producing the platform's traffic

/** Publishes the events as the services' relays would: per topic, in sends of `produceBatch`. */
async function produce(bus: Bus, domain: DomainEvents): Promise<number> {
  const transport = await startKafkaTransport({
    brokers: bus.brokers,
    clientId: 'eventgraph-bench-producer',
    logger,
    topicPrefix: bus.topicPrefix,
    defaultPartitions: opts.partitions,
  });
  onCleanup('producer', () => transport.stop());
  await transport.ensureTopics(PLATFORM_TOPICS.map((topic) => ({ topic })));
  const started = now();
  let sent = 0;
  let lastLine = started;
  const pending = new Map<string, TransportMessage[]>();
  const flush = async (messages: TransportMessage[]) => {
    await transport.send(messages);
    sent += messages.length;
    if (now() - lastLine >= opts.progressMs) {
      lastLine = now();
      progress(`producing: ${fmt(sent)} / ${fmt(domain.events.length)} events sent`);
    }
  };
  for (const { topic, envelope } of domain.events) {
    const messages = pending.get(topic) ?? [];
    messages.push({
      topic,
      key: envelope.subject,
      value: JSON.stringify(envelope),
      headers: cloudEventHeaders(envelope),
    });
    pending.set(topic, messages);
    if (messages.length >= opts.produceBatch) {
      pending.delete(topic);
      await flush(messages);
    }
  }
  for (const messages of pending.values()) await flush(messages);
  const seconds = (now() - started) / 1000;
  await transport.stop();
  offCleanup('producer');
  return seconds;
}

// ---------------------------------------------------------------------------------------------
// Measuring one pipeline

interface IngestResult {
  readonly label: string;
  readonly round: number;
  readonly stored: number;
  /** Start (before the consumer connects) → the commit that stored the last event, ms. */
  readonly totalMs: number;
  /** Start → the first batch transaction began (connect, group join, first fetch), ms. */
  readonly joinMs: number;
  /** Per batch transaction (from BEGIN / the INSERT to COMMIT), ms, and events per batch. */
  readonly batchMs: number[];
  readonly batchSizes: number[];
  readonly rollbacks: number;
  /** CPU from the first batch to the last commit. */
  readonly resources: Resources | undefined;
}

/** What a pipeline tells the waiter as it commits. */
interface Progress {
  startedAt: number;
  firstBatchAt: number;
  lastCommitAt: number;
  stored: number;
  readonly batchMs: number[];
  readonly batchSizes: number[];
  rollbacks: number;
  resources?: () => Resources;
}

/** The first batch began: the ingest proper starts (and its CPU measure). */
function firstBatch(state: Progress, at: number): void {
  if (!Number.isNaN(state.firstBatchAt)) return;
  state.firstBatchAt = at;
  state.resources = measureResources();
}

const newProgress = (): Progress => ({
  startedAt: now(),
  firstBatchAt: NaN,
  lastCommitAt: NaN,
  stored: 0,
  batchMs: [],
  batchSizes: [],
  rollbacks: 0,
});

/**
 * Waits until the pipeline has committed every event, printing the count of `table` (the
 * database's own view) every `progressMs`. Throws on timeout.
 */
async function waitForIngest(
  label: string,
  index: number,
  state: Progress,
  databaseUrl: string,
  countTable: string,
): Promise<IngestResult> {
  const deadline = state.startedAt + opts.timeoutMs;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    let lastLine = { at: state.startedAt, count: 0 };
    while (state.stored < opts.events) {
      if (now() > deadline) {
        throw new Error(
          `${label}: only ${state.stored} of ${opts.events} events stored after ${opts.timeoutMs / 1000} s`,
        );
      }
      if (interrupted()) throw new Error('interrupted');
      await sleep(50);
      if (now() - lastLine.at >= opts.progressMs) {
        const { rows } = await client.query<{ n: string }>(
          `select count(*) as n from ${countTable}`,
        );
        const count = Number(rows[0]?.n);
        const at = now();
        const rate = ((count - lastLine.count) * 1000) / (at - lastLine.at);
        progress(
          `${label}: ${fmt(count)} / ${fmt(opts.events)} events in ${countTable}` +
            (Number.isNaN(state.firstBatchAt)
              ? ' (joining the group)'
              : ` (${fmt(rate)} events/s over the last ${((at - lastLine.at) / 1000).toFixed(1)} s)`),
        );
        lastLine = { at, count };
      }
    }
  } finally {
    await client.end();
  }
  return {
    label,
    round: index,
    stored: state.stored,
    totalMs: state.lastCommitAt - state.startedAt,
    joinMs: state.firstBatchAt - state.startedAt,
    batchMs: state.batchMs,
    batchSizes: state.batchSizes,
    rollbacks: state.rollbacks,
    resources: state.resources?.(),
  };
}

const kafkaSettings = () => ({
  sessionTimeoutMs: opts.sessionTimeoutMs ?? KAFKA_DEFAULTS.sessionTimeoutMs,
  maxWaitTimeMs: opts.maxWaitMs ?? KAFKA_DEFAULTS.maxWaitTimeMs,
  partitionsConsumedConcurrently:
    opts.concurrentPartitions ?? KAFKA_DEFAULTS.partitionsConsumedConcurrently,
});

// ---------------------------------------------------------------------------------------------
// Baseline: plain kafkajs, one INSERT per batch into a bare table

/**
 * The fastest simple ingest: a kafkajs consumer configured as the Kafka adapter configures
 * it (same session timeout, heartbeat, fetch wait, partitions consumed concurrently; fetch
 * sizes at kafkajs' defaults; offsets resolved and committed per batch), whose `eachBatch`
 * parses the values and stores the batch with one INSERT (autocommit) into a table without
 * keys or indexes: no catalogue validation, inbox, dedupe, rollups or explicit transaction.
 */
async function runBaseline(bus: Bus, databaseUrl: string, r: Round): Promise<IngestResult> {
  const label = `baseline, round ${r.index}`;
  const rawTable = `${r.baselineSchema}.events`;
  progress(`${label}: raw kafkajs consumer, one INSERT per batch into a bare table`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.poolMax ?? 10 });
  const kafka = new kafkajs.Kafka({
    clientId: 'eventgraph-bench-raw-ingest',
    brokers: [...bus.brokers],
    connectionTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: kafkajs.logLevel.ERROR,
  });
  const settings = kafkaSettings();
  const consumer: Consumer = kafka.consumer({
    groupId: `${bus.topicPrefix}${r.baselineGroup}`,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(settings.sessionTimeoutMs / 10)),
    maxWaitTimeInMs: settings.maxWaitTimeMs,
    allowAutoTopicCreation: true,
  });
  const stop = async () => {
    await consumer.disconnect().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };
  onCleanup('baseline', stop);
  await pool.query(`
    create schema ${r.baselineSchema};
    create table ${rawTable} (
      id uuid not null,
      type text not null,
      source text not null,
      subject text not null,
      user_id uuid,
      time timestamptz not null,
      data jsonb not null,
      ingested_at timestamptz not null default clock_timestamp()
    )`);
  const state = newProgress();
  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const started = now();
    firstBatch(state, started);
    const rows = batch.messages.map((message) => {
      const event = JSON.parse(message.value?.toString('utf8') ?? 'null') as {
        id: string;
        type: string;
        source: string;
        subject: string;
        time: string;
        data: unknown;
      };
      const { id, type, source, subject, time, data } = event;
      return { id, type, source, subject, userId: userOf(type, data), time, data };
    });
    await pool.query(
      `insert into ${rawTable} (id, type, source, subject, user_id, time, data)
       select id, type, source, subject, "userId", time, data
       from jsonb_to_recordset($1::jsonb) as x(id uuid, type text, source text, subject text,
         "userId" uuid, time timestamptz, data jsonb)`,
      [JSON.stringify(rows)],
    );
    const committed = now();
    state.batchMs.push(committed - started);
    state.batchSizes.push(rows.length);
    state.stored += rows.length;
    state.lastCommitAt = committed;
    payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
    await payload.commitOffsetsIfNecessary();
    await payload.heartbeat();
  };
  state.startedAt = now();
  await consumer.connect();
  await consumer.subscribe({
    topics: PLATFORM_TOPICS.map((topic) => bus.topicPrefix + topic),
    fromBeginning: true,
  });
  await consumer.run({
    partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently,
    eachBatchAutoResolve: false,
    autoCommit: true,
    eachBatch,
  });
  const result = await waitForIngest(label, r.index, state, databaseUrl, rawTable);
  await stop();
  offCleanup('baseline');
  const [row] = await adminQuery<{ n: string; distinct: string }>(
    `select count(*) as n, count(distinct id) as distinct from ${rawTable}`,
    databaseUrl,
  );
  if (Number(row?.n) !== opts.events || Number(row?.distinct) !== opts.events) {
    throw new Error(
      `${label}: ${row?.n} rows (${row?.distinct} distinct) for ${opts.events} events`,
    );
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Ours: the analytics service's ingest

interface OursResult extends IngestResult {
  readonly outcomes: Record<string, number>;
  readonly checks: string[];
  readonly totals: string;
}

/**
 * Analytics as `subgraphs/analytics/main.ts` (through createSubgraph) runs it: its migrations
 * (event tables, then analytics') on schema `analytics`, its own Kafka transport with the
 * service's default settings, `startServiceEvents`, and the `analytics.ingest` group over
 * every platform topic with `createIngestHandler` (later rounds: `analytics_<n>`,
 * `analytics.ingest_<n>`). The handler is wrapped only to learn which transactions are ingest
 * batches (for their timing); it calls the real one unchanged.
 */
async function runOurs(
  bus: Bus,
  databaseUrl: string,
  domain: DomainEvents,
  r: Round,
): Promise<OursResult> {
  const label = `analytics ingest, round ${r.index}`;
  progress(`${label}: migrating schema ${r.schema}, starting the service's consumer`);
  const metrics = createMetrics('analytics');
  const eventMetrics = createEventMetrics(metrics.registry);
  const db: Database = await startDatabase({
    schema: r.schema,
    url: databaseUrl,
    dataDir: '.data/bench-unused',
    entities: [],
    migrations: [...EVENT_TABLES_MIGRATIONS, ...migrations],
    ...(opts.poolMax ? { poolMax: opts.poolMax } : {}),
    logger,
  });
  onCleanup('analytics database', () => db.stop());
  // As createSubgraph builds it from the service's configuration (KAFKA_*), defaults otherwise.
  const transport: EventTransport = await startKafkaTransport({
    brokers: bus.brokers,
    clientId: 'eventgraph-analytics',
    topicPrefix: bus.topicPrefix,
    logger,
    defaultPartitions: opts.partitions,
    ...(opts.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
    ...(opts.maxWaitMs !== undefined ? { maxWaitTimeMs: opts.maxWaitMs } : {}),
    ...(opts.concurrentPartitions !== undefined
      ? { partitionsConsumedConcurrently: opts.concurrentPartitions }
      : {}),
  });
  onCleanup('analytics transport', () => transport.stop());

  // Batch transaction timing: BEGIN (afterTransactionStart) → COMMIT of the transactions in
  // which the ingest handler ran.
  const state = newProgress();
  const begun = new WeakMap<object, number>();
  const ingestBatches = new WeakMap<object, number>();
  db.orm.em.getEventManager().registerSubscriber({
    afterTransactionStart: ({ transaction }: { transaction?: object }) => {
      if (transaction) begun.set(transaction, now());
    },
    afterTransactionCommit: ({ transaction }: { transaction?: object }) => {
      const size = transaction ? ingestBatches.get(transaction) : undefined;
      if (size === undefined) return;
      const committed = now();
      state.batchMs.push(committed - (begun.get(transaction!) ?? committed));
      state.batchSizes.push(size);
      state.stored += size;
      state.lastCommitAt = committed;
    },
    afterTransactionRollback: ({ transaction }: { transaction?: object }) => {
      if (transaction && ingestBatches.has(transaction)) state.rollbacks++;
    },
  });
  const analytics = createAnalyticsService({ schema: r.schema, logger, metrics });
  const ingest = createIngestHandler(analytics, catalogue.definitions());
  const batchHandler: BatchHandler = {
    types: ingest.types,
    async handle(context) {
      const transaction = context.em.getTransactionContext<object>();
      if (transaction) firstBatch(state, begun.get(transaction) ?? now());
      await ingest.handle(context);
      if (transaction) ingestBatches.set(transaction, context.events.length);
    },
  };

  state.startedAt = now();
  const events: ServiceEvents = await startServiceEvents({
    orm: db.orm,
    schema: r.schema,
    source: SCHEMA,
    catalogue,
    transport,
    logger,
    metrics: eventMetrics,
    url: db.url,
  });
  onCleanup('analytics events', () => events.stop());
  await events.consume({ group: r.group, topics: PLATFORM_TOPICS, batchHandler });
  const result = await waitForIngest(label, r.index, state, databaseUrl, `${r.schema}.events`);
  const outcomes = await consumerOutcomes(eventMetrics);
  await events.stop();
  offCleanup('analytics events');
  await transport.stop();
  offCleanup('analytics transport');
  await db.stop();
  offCleanup('analytics database');
  const { checks, totals } = await verify(databaseUrl, domain, r.schema);
  return { ...result, outcomes, checks, totals };
}

// ---------------------------------------------------------------------------------------------
// Correctness: stored once each, rollups equal to rollupDeltas over what was produced

async function verify(
  databaseUrl: string,
  domain: DomainEvents,
  schema: string,
): Promise<{ checks: string[]; totals: string }> {
  const checks: string[] = [];
  const check = (ok: boolean, text: string) => checks.push(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
  const query = <T extends pg.QueryResultRow>(sql: string) => adminQuery<T>(sql, databaseUrl);

  const [stored] = await query<{ n: string; distinct: string }>(
    `select count(*) as n, count(distinct id) as distinct from ${schema}.events`,
  );
  check(
    Number(stored?.n) === opts.events && Number(stored?.distinct) === opts.events,
    `${schema}.events rows ${fmt(Number(stored?.n))} (distinct ${fmt(Number(stored?.distinct))}) = events produced ${fmt(opts.events)}`,
  );
  const [inbox] = await query<{ n: string; dead: string }>(
    `select count(*) as n, count(*) filter (where dead_lettered) as dead from ${schema}.inbox`,
  );
  check(
    Number(inbox?.n) === opts.events,
    `inbox rows ${fmt(Number(inbox?.n))} = ${fmt(opts.events)}`,
  );
  check(Number(inbox?.dead) === 0, `dead-lettered ${inbox?.dead} = 0`);

  const expected: RollupDeltas = rollupDeltas(
    domain.events.map(({ envelope }) => ({
      type: envelope.type,
      time: new Date(envelope.time),
      data: envelope.data,
    })),
  );
  /** Rows of a rollup table against the expected map: missing, extra and differing keys. */
  const compare = <T>(
    name: string,
    rows: Map<string, T>,
    want: Map<string, T>,
    same: (a: T, b: T) => boolean,
  ) => {
    let differing = 0;
    for (const [key, value] of want) {
      const row = rows.get(key);
      if (!row || !same(row, value)) differing++;
    }
    const extra = [...rows.keys()].filter((key) => !want.has(key)).length;
    check(
      differing === 0 && extra === 0,
      `${name}: ${fmt(rows.size)} rows = rollupDeltas over the produced events` +
        (differing || extra ? ` — ${differing} missing or different, ${extra} unexpected` : ''),
    );
  };

  const daily = await query<{
    day: string;
    signups: number;
    logins: number;
    orders_placed: number;
    orders_confirmed: number;
    revenue_cents: string;
  }>(
    `select to_char(day, 'YYYY-MM-DD') as day, signups, logins, orders_placed, orders_confirmed,
       revenue_cents from ${schema}.daily_metrics`,
  );
  compare(
    'daily_metrics',
    new Map(
      daily.map((row) => [
        row.day,
        {
          signups: row.signups,
          logins: row.logins,
          ordersPlaced: row.orders_placed,
          ordersConfirmed: row.orders_confirmed,
          revenueCents: Number(row.revenue_cents),
        },
      ]),
    ),
    expected.daily,
    (a, b) =>
      a.signups === b.signups &&
      a.logins === b.logins &&
      a.ordersPlaced === b.ordersPlaced &&
      a.ordersConfirmed === b.ordersConfirmed &&
      a.revenueCents === b.revenueCents,
  );
  const products = await query<{ product_id: string; units_sold: string; revenue_cents: string }>(
    `select product_id, units_sold, revenue_cents from ${schema}.product_sales`,
  );
  compare(
    'product_sales',
    new Map(
      products.map((row) => [
        row.product_id,
        { unitsSold: Number(row.units_sold), revenueCents: Number(row.revenue_cents) },
      ]),
    ),
    expected.products,
    (a, b) => a.unitsSold === b.unitsSold && a.revenueCents === b.revenueCents,
  );
  const users = await query<{
    user_id: string;
    last_login_at: Date | null;
    login_count: number;
    order_count: number;
    total_spent_cents: string;
  }>(
    `select user_id, last_login_at, login_count, order_count, total_spent_cents
     from ${schema}.user_activity`,
  );
  compare(
    'user_activity',
    new Map(
      users.map((row) => [
        row.user_id,
        {
          lastLoginAt: row.last_login_at,
          loginCount: row.login_count,
          orderCount: row.order_count,
          totalSpentCents: Number(row.total_spent_cents),
        },
      ]),
    ),
    expected.users,
    (a, b) =>
      (a.lastLoginAt?.getTime() ?? null) === (b.lastLoginAt?.getTime() ?? null) &&
      a.loginCount === b.loginCount &&
      a.orderCount === b.orderCount &&
      a.totalSpentCents === b.totalSpentCents,
  );

  const sum = (key: 'signups' | 'logins' | 'ordersPlaced' | 'ordersConfirmed' | 'revenueCents') =>
    [...expected.daily.values()].reduce((total, delta) => total + delta[key], 0);
  const totals =
    `signups ${fmt(sum('signups'))}, logins ${fmt(sum('logins'))}, orders placed ` +
    `${fmt(sum('ordersPlaced'))}, confirmed ${fmt(sum('ordersConfirmed'))}, revenue ` +
    `${fmt(sum('revenueCents') / 100, 2)} EUR over ${expected.daily.size} days, ` +
    `${fmt(expected.products.size)} products sold, ${fmt(expected.users.size)} active users`;
  return { checks, totals };
}

// ---------------------------------------------------------------------------------------------
// Report

/** Events/s of the ingest proper: first batch → last commit (`withJoin`: from the start). */
const rate = (result: IngestResult | undefined, withJoin = false) =>
  result ? (result.stored * 1000) / (result.totalMs - (withJoin ? 0 : result.joinMs)) : undefined;

function row(result: IngestResult | undefined, label: string): string[] {
  if (!result) return [label, '-', '-', '-', '-', '-', '-', '-', '-'];
  const sizes = Float64Array.from(result.batchSizes).sort();
  const times = Float64Array.from(result.batchMs).sort();
  const mean = result.stored / Math.max(1, result.batchSizes.length);
  const r = result.resources ?? { processCpu: NaN, eventLoop: NaN, machineCpu: NaN };
  return [
    label,
    fmt(result.stored),
    (result.joinMs / 1000).toFixed(2),
    ((result.totalMs - result.joinMs) / 1000).toFixed(2),
    fmt(rate(result)),
    fmt(rate(result, true)),
    `${fmt(result.batchSizes.length)} × ${fmt(mean, 0)} (p50 ${fmt(percentile(sizes, 50))})`,
    `${fmt(percentile(times, 50), 1)} / ${fmt(percentile(times, 95), 1)} / ${fmt(times.at(-1), 0)}`,
    `${fmt(r.processCpu * 100)}% / ${fmt(r.eventLoop * 100)}% / ${fmt(r.machineCpu * 100)}%`,
  ];
}

/** Middle value (mean of the two middle ones for an even count); NaN when empty. */
function median(values: readonly (number | undefined)[]): number {
  const sorted = values.filter((v): v is number => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `median (min–max)` of the rates of some results. */
function spread(results: readonly IngestResult[], withJoin = false): string {
  const rates = results.map((result) => rate(result, withJoin)!);
  if (rates.length === 0) return '-';
  if (rates.length === 1) return fmt(rates[0]);
  return `${fmt(median(rates))} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))})`;
}

interface Outcome {
  readonly serverVersion: string;
  readonly bus: Bus;
  readonly domain: DomainEvents;
  readonly produceSeconds: number;
  readonly baselines: readonly IngestResult[];
  readonly ours: readonly OursResult[];
  readonly failure: string | undefined;
}

function report(outcome: Outcome): boolean {
  const { bus, domain, baselines, ours, failure } = outcome;
  const out: string[] = [];
  const code = <T extends number | string>(value: T | undefined, fallback: T) =>
    value === undefined ? `${fallback} (code default)` : String(value);
  const bytes =
    domain.events.reduce((total, { envelope }) => total + JSON.stringify(envelope).length, 0) /
    domain.events.length;
  const mix = [...domain.types]
    .sort(([, a], [, b]) => b - a)
    .map(([type, n]) => `${type} ${fmt((n * 100) / domain.events.length, 1)}%`)
    .join(', ');
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  out.push('');
  out.push('== eventgraph analytics ingest benchmark ==');
  out.push(
    `machine: ${os.cpus().length} CPUs, load ${load}, node ${process.version}, ` +
      `PostgreSQL ${outcome.serverVersion} at ${redactUrl(serverUrl)}`,
  );
  out.push(
    `bus: ${bus.description}; topics ${PLATFORM_TOPICS.join(', ')} × ${opts.partitions} partitions`,
  );
  out.push(
    `events: ${fmt(domain.events.length)} pre-produced (${fmt(outcome.produceSeconds, 1)} s), event time ` +
      `${domain.from.toISOString().slice(0, 16)} → ${domain.to.toISOString().slice(0, 16)}, ` +
      `${fmt(domain.users)} users, ${fmt(domain.products)} products, ${fmt(bytes)} bytes/event on ` +
      `average, keyed by subject, in sends of ≤ ${opts.produceBatch} per topic (the relay's batch)`,
  );
  out.push(`mix: ${mix}`);
  out.push(
    `settings: kafka maxWaitTimeMs ${code(opts.maxWaitMs, KAFKA_DEFAULTS.maxWaitTimeMs)}, ` +
      `partitionsConsumedConcurrently ${code(opts.concurrentPartitions, KAFKA_DEFAULTS.partitionsConsumedConcurrently)}, ` +
      `fetch sizes kafkajs defaults (minBytes 1, maxBytes 10 MB, maxBytesPerPartition 1 MB), ` +
      `sessionTimeoutMs ${code(opts.sessionTimeoutMs, KAFKA_DEFAULTS.sessionTimeoutMs)}; pool max ${code(opts.poolMax, 10)}; ` +
      `PostgreSQL as configured (synchronous_commit etc. untouched); ${opts.rounds} round(s), ` +
      `each the baseline then the analytics ingest, fresh tables and consumer groups`,
  );
  out.push('');
  out.push(
    'events/s = events ÷ (first batch transaction began → commit that stored the last event): the',
  );
  out.push(
    'ingest rate. "join s" is start → first batch (connect, the group join — immediate on test/kafka',
  );
  out.push(
    'and compose, whose group.initial.rebalance.delay.ms is 0 — and the first fetch); "incl. join"',
  );
  out.push('counts from the start.');
  out.push(
    'Batch tx: BEGIN → COMMIT of one consumer batch (ours: inbox, events, rollups; baseline: its INSERT).',
  );
  out.push('CPU is measured over the ingest (first batch → last commit); 100% = one core.');
  out.push('');
  const rows: string[][] = [];
  for (let index = 1; index <= opts.rounds; index++) {
    const baseline = baselines.find((result) => result.round === index);
    const our = ours.find((result) => result.round === index);
    if (!baseline && !our) continue;
    if (opts.baseline) rows.push(row(baseline, `${index}  baseline: raw kafkajs, 1 INSERT/batch`));
    rows.push(row(our, `${index}  analytics ingest (service wiring)`));
  }
  out.push(
    table([
      [
        'round / pipeline',
        'events',
        'join s',
        'ingest s',
        'events/s',
        'events/s incl. join',
        'batches × events',
        'batch tx p50 / p95 / max ms',
        'CPU proc / loop / machine',
      ],
      ...rows,
    ]),
  );
  if (ours.length > 0) {
    out.push(
      `consumer outcomes: ${ours
        .map(
          (result) =>
            `round ${result.round}: ` +
            (Object.entries(result.outcomes)
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(', ') || '-') +
            `, ${result.rollbacks} batch transactions rolled back`,
        )
        .join('; ')}`,
    );
    out.push(`rollups: ${ours[0]!.totals}`);
  }
  const notable = log.notable();
  if (notable) out.push(`log lines of the code under test: ${notable}`);
  for (const result of ours) {
    const failed = result.checks.filter((c) => !c.startsWith('ok'));
    if (result.round === 1 || failed.length > 0) {
      for (const check of result.round === 1 ? result.checks : failed) {
        out.push(`check, round ${result.round}: ${check}`);
      }
    } else {
      out.push(`check, round ${result.round}: ok   all ${result.checks.length} checks as round 1`);
    }
  }
  if (failure) out.push(`FAILED: ${failure}`);

  const oursRate = median(ours.map((result) => rate(result)));
  const baselineRate = median(baselines.map((result) => rate(result)));
  out.push('');
  out.push(
    table([
      [
        ours.length > 1 ? `median of ${ours.length} rounds (min–max)` : 'result',
        'events/s',
        'events/s incl. join',
      ],
      ...(opts.baseline
        ? [['baseline: raw kafkajs, 1 INSERT/batch', spread(baselines), spread(baselines, true)]]
        : []),
      ['analytics ingest (service wiring)', spread(ours), spread(ours, true)],
      ...(opts.baseline
        ? [
            [
              'ratio analytics ingest ÷ baseline',
              ratio(oursRate, baselineRate),
              ratio(
                median(ours.map((result) => rate(result, true))),
                median(baselines.map((result) => rate(result, true))),
              ),
            ],
          ]
        : []),
    ]),
  );
  if (opts.baseline && ours.length > 1) {
    const perRound = ours.map((our) => {
      const baseline = baselines.find((result) => result.round === our.round);
      return ratio(rate(our), rate(baseline));
    });
    out.push(`ratio per round (events/s): ${perRound.join(', ')}`);
  }

  const complete = ours.length === opts.rounds && ours.every((r) => r.stored === opts.events);
  const rateOk = complete && oursRate >= TARGET_EVENTS_PER_SECOND;
  const checksOk = complete && ours.every((r) => r.checks.every((c) => c.startsWith('ok')));
  out.push('');
  out.push('Target (bench:analytics ingests ≥ 10,000 events/s into PostgreSQL):');
  out.push(
    `  ${rateOk ? 'PASS' : 'FAIL'}  analytics ingest ${fmt(oursRate)} events/s` +
      (ours.length > 1 ? ` (median of ${ours.length} rounds)` : '') +
      `, target ≥ ${fmt(TARGET_EVENTS_PER_SECOND)}` +
      (opts.baseline ? `; ${ratio(oursRate, baselineRate)} of the baseline` : ''),
  );
  out.push(`  ${checksOk ? 'PASS' : 'FAIL'}  correctness (stored once each, rollups exact)`);
  const pass = rateOk && checksOk && !failure;
  out.push(`  overall: ${pass ? 'PASS' : 'FAIL'}`);
  console.log(out.join('\n'));
  return pass;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  cleanUpOnSignals();
  const startedAt = now();
  const database = await createBenchDatabase(runId);
  const bus = await startBus({ runId, nodes: opts.nodes, basePort: opts.basePort });
  progress(`generating ${fmt(opts.events)} domain events`);
  const domain = generateDomainEvents({
    count: opts.events,
    days: opts.days,
    products: opts.products,
    ...(opts.users !== undefined ? { users: opts.users } : {}),
  });
  progress(
    `pre-producing them to ${PLATFORM_TOPICS.length} topics × ${opts.partitions} partitions`,
  );
  const produceSeconds = await produce(bus, domain);
  const baselines: IngestResult[] = [];
  const ours: OursResult[] = [];
  let failure: string | undefined;
  try {
    for (let index = 1; index <= opts.rounds; index++) {
      if (opts.baseline) baselines.push(await runBaseline(bus, database.url, round(index)));
      ours.push(await runOurs(bus, database.url, domain, round(index)));
    }
  } catch (error) {
    if (interrupted()) throw error;
    failure = (error as Error).message;
  }
  await cleanup();
  const pass = report({
    serverVersion: database.serverVersion,
    bus,
    domain,
    produceSeconds,
    baselines,
    ours,
    failure,
  });
  progress(`done in ${((now() - startedAt) / 1000).toFixed(1)} s`);
  return pass ? 0 : 1;
}

runBenchmark(main);
