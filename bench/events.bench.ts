/**
 * Event backbone benchmark (`npm run bench:events`): events/s and end-to-end latency from a
 * committed outbox row to a committed consumer effect, at saturation and at a fixed rate,
 * against baselines measured in the same invocation. See bench/README.md.
 *
 *   node bench/events.bench.ts [--transport kafka|in-process] [--events 20000] [--rate 1000]
 *                              [--rate-seconds 10] [--strict] [--help] ...
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  DEFAULT_RELAY_LINGER_MS,
  createInProcessTransport,
  startKafkaTransport,
} from '../shared/events/index.ts';
import type { EventTransport } from '../shared/events/index.ts';
import { redactUrl } from '../shared/config/index.ts';
import {
  cleanup,
  cleanUpOnSignals,
  offCleanup,
  onCleanup,
  progress,
  runBenchmark,
} from './lib/harness.ts';
import {
  KAFKA_DEFAULTS,
  consumerOutcomes,
  startBackbone,
  startPgBaseline,
  startRawKafka,
  startTransportOnly,
} from './lib/pipelines.ts';
import type { Backbone, BusBaseline } from './lib/pipelines.ts';
import { fmt, ratio, table } from './lib/stats.ts';
import type { Summary } from './lib/stats.ts';
import {
  createTimeline,
  mark,
  now,
  runFixedRate,
  runSaturation,
  runWarmup,
} from './lib/timeline.ts';
import type { PhaseResult, Pipeline } from './lib/timeline.ts';
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

const TARGET_EVENTS_PER_SECOND = 5000;
const TARGET_P99_MS = 500;
const TARGET_RATE = 1000;

// ---------------------------------------------------------------------------------------------
// Options

const USAGE = `Usage: node bench/events.bench.ts [options]

  --transport kafka|in-process  bus under the backbone (default kafka: Apache Kafka started
                                by test/kafka, or KAFKA_BROKERS when set)
  --events N            saturation: events to publish as fast as possible (20000)
  --tx-size N           saturation: events per publish transaction (50)
  --publishers N        saturation: concurrent publishers (4)
  --rate N              fixed rate: events per second (1000)
  --rate-seconds N      fixed rate: duration (10)
  --tick-ms N           fixed rate: one transaction of rate*tick/1000 events every tick (10)
  --warmup N            events through each pipeline before measuring (500)
  --subjects N          aggregates (Kafka keys) per publisher (250)
  --partitions N        partitions of the topics (3)
  --nodes N             Kafka nodes to start (1, as docker-compose.yml runs; 3 for a
                        cluster with replication factor 3)
  --base-port N         first Kafka node's client port (19592; its controller listens 10
                        above; tests use 19092, 19292 and 19392)
  --relay-batch N       outbox relay batchSize (code default 500)
  --relay-poll-ms N     outbox relay pollIntervalMs (code default 1000)
  --linger-ms N         outbox relay lingerMs: wait after a wake-up so close commits share
                        one send (code default ${DEFAULT_RELAY_LINGER_MS}; 0 = none)
  --max-wait-ms N       Kafka transport maxWaitTimeMs (code default 250)
  --compression none|gzip  Kafka producer batch compression (code default none; services
                        set it from KAFKA_COMPRESSION, which the benchmark does not read)
  --concurrent-partitions N  Kafka transport partitionsConsumedConcurrently (code default 3)
  --session-timeout-ms N  Kafka consumer session timeout (code default 30000; only a
                        rebalance waits for it)
  --effect persist|insert  consumer handler: em.create() flushed with the batch commit
                        (default; the recommended handler pattern), or one INSERT query
                        per event
  --pool-max N          connections per service pool (code default 10)
  --drain-timeout-s N   longest wait for the last effects of a phase (60)
  --no-baseline         skip the baselines (no ratios)
  --strict              exit 1 when a target is missed
  -h, --help

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres; the
benchmark creates and drops its own database there), KAFKA_BROKERS (use these brokers instead
of starting Kafka; the run's topics and groups are deleted after), BENCH_LOG_LEVEL
(code-under-test log lines shown on stderr, default warn).`;

const { values } = parseArgs({
  allowNegative: true,
  options: {
    transport: { type: 'string', default: 'kafka' },
    events: { type: 'string', default: '20000' },
    'tx-size': { type: 'string', default: '50' },
    publishers: { type: 'string', default: '4' },
    rate: { type: 'string', default: String(TARGET_RATE) },
    'rate-seconds': { type: 'string', default: '10' },
    'tick-ms': { type: 'string', default: '10' },
    warmup: { type: 'string', default: '500' },
    subjects: { type: 'string', default: '250' },
    partitions: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '1' },
    'base-port': { type: 'string', default: '19592' },
    'relay-batch': { type: 'string' },
    'relay-poll-ms': { type: 'string' },
    'linger-ms': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    compression: { type: 'string' },
    'concurrent-partitions': { type: 'string' },
    'session-timeout-ms': { type: 'string' },
    'pool-max': { type: 'string' },
    effect: { type: 'string', default: 'persist' },
    'drain-timeout-s': { type: 'string', default: '60' },
    baseline: { type: 'boolean', default: true },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const { int, optionalInt, oneOf, optionalOneOf } = flagParsers(USAGE);

const opts = {
  transport: oneOf('transport', values.transport, ['kafka', 'in-process'] as const),
  events: int('events', values.events),
  txSize: int('tx-size', values['tx-size']),
  publishers: int('publishers', values.publishers),
  rate: int('rate', values.rate),
  rateSeconds: int('rate-seconds', values['rate-seconds']),
  tickMs: int('tick-ms', values['tick-ms']),
  warmup: int('warmup', values.warmup, 0),
  subjects: int('subjects', values.subjects),
  partitions: int('partitions', values.partitions),
  nodes: int('nodes', values.nodes),
  basePort: int('base-port', values['base-port']),
  relayBatch: optionalInt('relay-batch', values['relay-batch']),
  relayPollMs: optionalInt('relay-poll-ms', values['relay-poll-ms']),
  lingerMs: optionalInt('linger-ms', values['linger-ms'], 0),
  maxWaitMs: optionalInt('max-wait-ms', values['max-wait-ms'], 0),
  compression: optionalOneOf('compression', values.compression, ['none', 'gzip'] as const),
  concurrentPartitions: optionalInt('concurrent-partitions', values['concurrent-partitions']),
  sessionTimeoutMs: optionalInt('session-timeout-ms', values['session-timeout-ms']),
  poolMax: optionalInt('pool-max', values['pool-max']),
  effect: oneOf('effect', values.effect, ['insert', 'persist'] as const),
  drainTimeoutMs: int('drain-timeout-s', values['drain-timeout-s']) * 1000,
  baseline: values.baseline,
  strict: values.strict,
};
const perTick = Math.max(1, Math.round((opts.rate * opts.tickMs) / 1000));
const ticks = Math.max(1, Math.round((opts.rateSeconds * 1000) / opts.tickMs));
/** Sequence numbers one pipeline uses: warm-up, saturation, fixed rate. */
const timelineSize = opts.warmup + opts.events + perTick * ticks;

// ---------------------------------------------------------------------------------------------
// Resources: logger, database, broker

const log = createBenchLogger();
const { logger } = log;
const runId = newRunId();
let databaseUrl = '';

async function createDatabase(): Promise<string> {
  const database = await createBenchDatabase(runId);
  databaseUrl = database.url;
  return database.serverVersion;
}

async function startEventsBus(): Promise<Bus | undefined> {
  if (opts.transport !== 'kafka') return undefined;
  return startBus({ runId, nodes: opts.nodes, basePort: opts.basePort });
}

async function kafkaTransport(bus: Bus, clientId: string): Promise<EventTransport> {
  return startKafkaTransport({
    brokers: bus.brokers,
    clientId,
    logger,
    topicPrefix: bus.topicPrefix,
    defaultPartitions: opts.partitions,
    ...(opts.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
    ...(opts.maxWaitMs !== undefined ? { maxWaitTimeMs: opts.maxWaitMs } : {}),
    ...(opts.compression !== undefined ? { compression: opts.compression } : {}),
    ...(opts.concurrentPartitions !== undefined
      ? { partitionsConsumedConcurrently: opts.concurrentPartitions }
      : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Phases

interface Results {
  pgInsert?: PhaseResult;
  busLabel?: string;
  busSaturation?: PhaseResult;
  busRate?: PhaseResult;
  saturation?: PhaseResult;
  rate?: PhaseResult;
  checks: string[];
  counters?: Backbone['counters'];
  /** What the relay and consumer did during each measured phase. */
  phaseCounters: { saturation?: Backbone['counters']; rate?: Backbone['counters'] };
  outcomes?: Record<string, number>;
}

const saturation = {
  events: opts.events,
  txSize: opts.txSize,
  publishers: opts.publishers,
  drainTimeoutMs: opts.drainTimeoutMs,
};
const fixedRate = {
  rate: opts.rate,
  seconds: opts.rateSeconds,
  tickMs: opts.tickMs,
  publishers: opts.publishers,
  maxInFlight: 8,
  drainTimeoutMs: opts.drainTimeoutMs,
};

async function runPgBaseline(results: Results): Promise<void> {
  progress(
    `baseline: ${opts.events} plain INSERT rows, ${opts.txSize}/tx, ${opts.publishers} publishers`,
  );
  const baseline = await startPgBaseline(databaseUrl, opts.publishers, opts.subjects);
  onCleanup('pg baseline', () => baseline.stop());
  const timeline = createTimeline(opts.events + opts.warmup);
  // The "effect" is the commit itself: this measures the producer's database floor.
  const pipeline: Pipeline = {
    timeline,
    async publish(first, count, publisher) {
      await baseline.insert(first, count, publisher);
      const time = now();
      for (let seq = first; seq < first + count; seq++) mark(timeline.effect, seq, time);
    },
  };
  await runWarmup('baseline PG warm-up', pipeline, opts.warmup, opts.txSize, 30_000);
  results.pgInsert = await runSaturation('baseline PG INSERT', pipeline, saturation);
  await baseline.stop();
  offCleanup('pg baseline');
}

async function runBusBaseline(results: Results, bus: Bus | undefined): Promise<void> {
  const timeline = createTimeline(timelineSize);
  let baseline: BusBaseline;
  if (bus) {
    progress('baseline: raw kafkajs produce → consume (consumer group join takes a few s)');
    baseline = await startRawKafka({
      brokers: bus.brokers,
      topicPrefix: bus.topicPrefix,
      partitions: opts.partitions,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? KAFKA_DEFAULTS.sessionTimeoutMs,
      maxWaitTimeMs: opts.maxWaitMs ?? KAFKA_DEFAULTS.maxWaitTimeMs,
      compression: opts.compression ?? KAFKA_DEFAULTS.compression,
      partitionsConsumedConcurrently:
        opts.concurrentPartitions ?? KAFKA_DEFAULTS.partitionsConsumedConcurrently,
      subjects: opts.subjects,
      timeline,
    });
  } else {
    progress('baseline: in-process transport send → subscribe');
    baseline = await startTransportOnly(
      createInProcessTransport({ logger, defaultPartitions: opts.partitions }),
      opts.subjects,
      timeline,
    );
  }
  onCleanup('bus baseline', () => baseline.stop());
  results.busLabel = baseline.description;
  await runWarmup('baseline bus warm-up', baseline, opts.warmup, opts.txSize, 60_000);
  results.busSaturation = await runSaturation('baseline bus saturation', baseline, saturation);
  results.busRate = await runFixedRate(`baseline bus ${opts.rate}/s`, baseline, fixedRate);
  await baseline.stop();
  offCleanup('bus baseline');
}

async function runBackbone(results: Results, bus: Bus | undefined): Promise<void> {
  progress('backbone: starting producer (outbox + relay) and consumer (inbox + effect)');
  let producerTransport: EventTransport;
  let consumerTransport: EventTransport;
  if (bus) {
    producerTransport = await kafkaTransport(bus, 'eventgraph-bench-producer');
    onCleanup('producer transport', () => producerTransport.stop());
    consumerTransport = await kafkaTransport(bus, 'eventgraph-bench-consumer');
    onCleanup('consumer transport', () => consumerTransport.stop());
  } else {
    producerTransport = createInProcessTransport({ logger, defaultPartitions: opts.partitions });
    consumerTransport = producerTransport;
    onCleanup('transport', () => producerTransport.stop());
  }
  const timeline = createTimeline(timelineSize);
  const backbone = await startBackbone({
    url: databaseUrl,
    logger,
    timeline,
    producerTransport,
    consumerTransport,
    subjects: opts.subjects,
    poolMax: opts.poolMax,
    effect: opts.effect,
    relay: {
      ...(opts.relayBatch !== undefined ? { batchSize: opts.relayBatch } : {}),
      ...(opts.relayPollMs !== undefined ? { pollIntervalMs: opts.relayPollMs } : {}),
      ...(opts.lingerMs !== undefined ? { lingerMs: opts.lingerMs } : {}),
    },
  });
  onCleanup('backbone', () => backbone.stop());
  try {
    await runWarmup('backbone warm-up', backbone, opts.warmup, opts.txSize, 30_000);
  } catch (error) {
    const outcomes = await consumerOutcomes(backbone.consumerMetrics);
    throw new Error(
      `${(error as Error).message}; consumer outcomes so far: ${JSON.stringify(outcomes)}`,
      { cause: error },
    );
  }
  const counted = async <T>(run: () => Promise<T>): Promise<[T, Backbone['counters']]> => {
    const before = { ...backbone.counters };
    const result = await run();
    const after: Backbone['counters'] = { ...backbone.counters };
    for (const key of Object.keys(after) as (keyof Backbone['counters'])[]) {
      after[key] -= before[key];
    }
    return [result, after];
  };
  [results.saturation, results.phaseCounters.saturation] = await counted(() =>
    runSaturation('backbone saturation', backbone, saturation),
  );
  [results.rate, results.phaseCounters.rate] = await counted(() =>
    runFixedRate(`backbone ${opts.rate}/s`, backbone, fixedRate),
  );
  results.counters = { ...backbone.counters };
  results.outcomes = await consumerOutcomes(backbone.consumerMetrics);

  // Exactly-once in effect, nothing left behind.
  const expected = timeline.next;
  const [effects] = await adminQuery<{ rows: string; distinct: string }>(
    'select count(*) as rows, count(distinct seq) as distinct from bench_consumer.effect',
    databaseUrl,
  );
  const [unsent] = await adminQuery<{ n: string }>(
    'select count(*) as n from bench_producer.outbox where sent_at is null',
    databaseUrl,
  );
  const [inbox] = await adminQuery<{ n: string; dead: string }>(
    `select count(*) as n, count(*) filter (where dead_lettered) as dead
     from bench_consumer.inbox`,
    databaseUrl,
  );
  const check = (ok: boolean, text: string) =>
    results.checks.push(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
  check(
    Number(effects?.rows) === expected && Number(effects?.distinct) === expected,
    `effect rows ${effects?.rows} (distinct ${effects?.distinct}) = events published ${expected}`,
  );
  check(Number(inbox?.n) === expected, `inbox rows ${inbox?.n} = ${expected}`);
  check(Number(inbox?.dead) === 0, `dead-lettered ${inbox?.dead} = 0`);
  check(Number(unsent?.n) === 0, `unsent outbox rows ${unsent?.n} = 0`);

  await backbone.stop();
  offCleanup('backbone');
  await producerTransport.stop();
  offCleanup('producer transport');
  offCleanup('transport');
  if (consumerTransport !== producerTransport) {
    await consumerTransport.stop();
    offCleanup('consumer transport');
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (value: number) => fmt(value, value < 10 ? 1 : 0);

function phaseRow(label: string, result: PhaseResult | undefined, latency = true): string[] {
  if (!result) return [label, '-', '-', '-', '-', '-', '-', '-'];
  const done =
    result.completed === result.count ? fmt(result.count) : `${result.completed}/${result.count}`;
  const summary: Summary = result.latency;
  return [
    label,
    done,
    fmt(result.throughput),
    fmt(result.publishRate),
    latency ? ms(summary.p50) : '-',
    latency ? ms(summary.p99) : '-',
    latency ? ms(summary.max) : '-',
    `${fmt(result.resources.processCpu * 100)}% / ${fmt(result.resources.eventLoop * 100)}% / ${fmt(result.resources.machineCpu * 100)}%`,
  ];
}

function stageRows(
  label: string,
  result: PhaseResult | undefined,
  counters: Backbone['counters'] | undefined,
): string[] {
  if (!result || !counters) return [label, '-', '-', '-', '-', '-', '-'];
  const cell = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)}`;
  return [
    label,
    cell(result.stages.toSent),
    cell(result.stages.toDelivered),
    cell(result.stages.toEffect),
    `${ms(result.publishLag.p50)} / ${ms(result.publishLag.p99)}`,
    `${fmt(counters.sends)} × ${fmt(counters.sentMessages / counters.sends, 1)}`,
    `${fmt(counters.batches)} × ${fmt(counters.batchMessages / counters.batches, 1)}`,
  ];
}

function report(results: Results, pgVersion: string, bus: Bus | undefined): boolean {
  const out: string[] = [];
  const code = <T extends number | string>(value: T | undefined, fallback: T) =>
    value === undefined ? `${fallback} (code default)` : String(value);
  out.push('');
  out.push('== eventgraph event backbone benchmark ==');
  out.push(
    `machine: ${os.cpus().length} CPUs, node ${process.version}, PostgreSQL ${pgVersion} at ${redactUrl(serverUrl)}`,
  );
  out.push(
    `bus: ${opts.transport}${bus ? ` — ${bus.description}, ${opts.partitions} partitions` : ''}`,
  );
  out.push(
    `saturation: ${opts.events} events, ${opts.txSize}/transaction, ${opts.publishers} concurrent publishers; ` +
      `fixed rate: ${opts.rate} events/s for ${opts.rateSeconds} s (${perTick} events/transaction every ${opts.tickMs} ms, open loop); warm-up ${opts.warmup}`,
  );
  out.push(
    `settings: relay batchSize ${code(opts.relayBatch, 500)}, pollIntervalMs ${code(opts.relayPollMs, 1000)}, ` +
      `lingerMs ${code(opts.lingerMs, DEFAULT_RELAY_LINGER_MS)}, woken by commits that published; ` +
      (opts.transport === 'kafka'
        ? `kafka maxWaitTimeMs ${code(opts.maxWaitMs, KAFKA_DEFAULTS.maxWaitTimeMs)}, ` +
          `compression ${code(opts.compression, KAFKA_DEFAULTS.compression)}, ` +
          `partitionsConsumedConcurrently ${code(opts.concurrentPartitions, KAFKA_DEFAULTS.partitionsConsumedConcurrently)}, ` +
          `sessionTimeoutMs ${code(opts.sessionTimeoutMs, KAFKA_DEFAULTS.sessionTimeoutMs)}; `
        : '') +
      `pool max ${code(opts.poolMax, 10)} per service; effect: ${opts.effect === 'insert' ? 'one INSERT query per event' : 'em.create, flushed with the batch commit (the recommended handler pattern)'}`,
  );
  out.push('');
  out.push(
    'Latency = consumer effect commit − producer commit, both performance.now() in this process:',
  );
  out.push(
    '  producer commit: publish transaction (outbox.publish in em.transactional) has resolved;',
  );
  out.push(
    '  effect commit: the consumer batch transaction holding the effect row and inbox row has',
  );
  out.push(
    '  committed (MikroORM afterTransactionCommit). For the bus baseline: send acknowledged →',
  );
  out.push('  consumer handed the message (no database). events/s = events ÷ (first publish →');
  out.push(
    '  last effect). Producer, relay, consumer share this one Node process; the broker is separate.',
  );
  out.push('');
  out.push(
    table([
      [
        'phase',
        'events',
        'events/s',
        'publish/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'CPU proc / loop / machine',
      ],
      ...(opts.baseline
        ? [
            phaseRow('baseline: PG INSERT transactions', results.pgInsert, false),
            phaseRow(`baseline: bus saturation`, results.busSaturation),
            phaseRow(`baseline: bus ${opts.rate}/s`, results.busRate),
          ]
        : []),
      phaseRow('backbone saturation', results.saturation),
      phaseRow(`backbone ${opts.rate}/s`, results.rate),
    ]),
  );
  if (results.busLabel) out.push(`(bus baseline = ${results.busLabel})`);
  out.push('');
  out.push('Where the backbone time goes (p50 / p99 ms):');
  out.push(
    table([
      [
        'phase',
        'commit → relay sent',
        'sent → consumer batch',
        'batch → effect commit',
        'publish lag (due → commit)',
        'relay sends × events',
        'consumer batches × events',
      ],
      stageRows('backbone saturation', results.saturation, results.phaseCounters.saturation),
      stageRows(`backbone ${opts.rate}/s`, results.rate, results.phaseCounters.rate),
    ]),
  );
  if (results.counters) {
    const c = results.counters;
    out.push(
      `consumer service, whole run: ${fmt(c.commits)} effect transactions committed, ` +
        `${fmt(c.rollbacks)} rolled back; ${fmt(c.consumerServiceCommits - c.commits)} other ` +
        `transactions on its ORM (its own relay polling its empty outbox: effect commits publish ` +
        `nothing, so they do not wake it)`,
    );
  }
  if (results.outcomes) {
    out.push(
      `consumer outcomes: ${Object.entries(results.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  }
  const notable = log.notable();
  if (notable) out.push(`log lines of the code under test: ${notable}`);
  for (const check of results.checks) out.push(`check: ${check}`);

  if (opts.baseline) {
    out.push('');
    out.push('Ratios against the baselines of this run (backbone ÷ baseline):');
    out.push(
      table([
        ['measure', 'ratio'],
        [
          'saturation events/s ÷ PG INSERT transactions events/s',
          ratio(results.saturation?.throughput, results.pgInsert?.throughput),
        ],
        [
          'saturation events/s ÷ bus-only events/s',
          ratio(results.saturation?.throughput, results.busSaturation?.throughput),
        ],
        [
          `${opts.rate}/s p50 latency ÷ bus-only p50`,
          ratio(results.rate?.latency.p50, results.busRate?.latency.p50),
        ],
        [
          `${opts.rate}/s p99 latency ÷ bus-only p99`,
          ratio(results.rate?.latency.p99, results.busRate?.latency.p99),
        ],
      ]),
    );
  }

  const sat = results.saturation;
  const rate = results.rate;
  const satOk = !!sat && sat.completed === sat.count && sat.throughput >= TARGET_EVENTS_PER_SECOND;
  const rateOk = !!rate && rate.completed === rate.count && rate.latency.p99 < TARGET_P99_MS;
  const rateIsTarget = opts.rate === TARGET_RATE;
  out.push('');
  out.push('Targets (issue: ≥ 5,000 events/s sustained; p99 < 500 ms at 1,000 events/s):');
  out.push(
    `  ${satOk ? 'PASS' : 'FAIL'}  saturation ${fmt(sat?.throughput)} events/s (target ≥ ${fmt(TARGET_EVENTS_PER_SECOND)})` +
      (sat && sat.completed !== sat.count
        ? ` — ${sat.count - sat.completed} events never applied`
        : ''),
  );
  out.push(
    `  ${rateOk ? 'PASS' : 'FAIL'}  p99 ${ms(rate?.latency.p99 ?? NaN)} ms at ${opts.rate} events/s (target < ${TARGET_P99_MS} ms)` +
      (rateIsTarget ? '' : ` — measured at --rate ${opts.rate}, not ${TARGET_RATE}`) +
      (rate && rate.completed !== rate.count
        ? ` — ${rate.count - rate.completed} events never applied`
        : ''),
  );
  const checksOk = results.checks.every((c) => c.startsWith('ok'));
  const pass = satOk && rateOk && rateIsTarget && checksOk;
  out.push(`  overall: ${pass ? 'PASS' : 'FAIL'}${opts.strict ? '' : ' (exit 0 unless --strict)'}`);
  console.log(out.join('\n'));
  return pass;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  cleanUpOnSignals();
  const startedAt = now();
  const pgVersion = await createDatabase();
  const bus = await startEventsBus();
  const results: Results = { checks: [], phaseCounters: {} };
  if (opts.baseline) {
    await runPgBaseline(results);
    await runBusBaseline(results, bus);
  }
  await runBackbone(results, bus);
  await cleanup();
  const pass = report(results, pgVersion, bus);
  progress(`done in ${((now() - startedAt) / 1000).toFixed(1)} s`);
  return opts.strict && !pass ? 1 : 0;
}

runBenchmark(main);
