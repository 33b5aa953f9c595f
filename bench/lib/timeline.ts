/**
 * Per-event timestamps (performance.now(), ms, one process) indexed by the event's sequence
 * number, and the phase runners that drive a pipeline: saturation and fixed rate.
 */
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { progress, sleep } from './harness.ts';
import { summarize } from './stats.ts';
import type { Summary } from './stats.ts';

export const now = (): number => performance.now();

export interface Timeline {
  /** When the publish was due (fixed rate only). */
  readonly scheduled: Float64Array;
  /** When the producer's transaction (or the raw send) resolved. */
  readonly committed: Float64Array;
  /** When the transport's send of the event resolved (relay side). */
  readonly sent: Float64Array;
  /** When the consumer was handed the event (start of its batch). */
  readonly delivered: Float64Array;
  /** When the consumer's effect was committed. */
  readonly effect: Float64Array;
  /** Event id → sequence number, for transport messages that carry only the id. */
  readonly ids: Map<string, number>;
  /** Next free sequence number. */
  next: number;
}

export function createTimeline(size: number): Timeline {
  const make = () => new Float64Array(size).fill(NaN);
  return {
    scheduled: make(),
    committed: make(),
    sent: make(),
    delivered: make(),
    effect: make(),
    ids: new Map(),
    next: 0,
  };
}

/** Sets `array[seq]` to `time` unless set already (the first occurrence counts). */
export function mark(array: Float64Array, seq: number | undefined, time: number): void {
  if (seq !== undefined && seq >= 0 && seq < array.length && Number.isNaN(array[seq])) {
    array[seq] = time;
  }
}

/** Something that moves events from a producer to a consumer effect. */
export interface Pipeline {
  readonly timeline: Timeline;
  /** Publishes events `first .. first+count-1` in one transaction / send; resolves once durable. */
  publish(first: number, count: number, publisher: number): Promise<void>;
}

/** Whole-machine CPU busy fraction between two readings of /proc/stat (NaN elsewhere). */
function cpuTicks(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const values = fields.slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

export interface Resources {
  /** This process: (user+system CPU) / wall time; 1.0 = one core. */
  readonly processCpu: number;
  /** Event-loop utilization of this process, 0..1. */
  readonly eventLoop: number;
  /** Whole machine: busy fraction of all cores, 0..1. */
  readonly machineCpu: number;
}

export function measureResources(): () => Resources {
  const wall = now();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const ticks = cpuTicks();
  return () => {
    const used = process.cpuUsage(cpu);
    const after = cpuTicks();
    return {
      processCpu: (used.user + used.system) / 1000 / (now() - wall),
      eventLoop: performance.eventLoopUtilization(elu).utilization,
      machineCpu: (after.busy - ticks.busy) / (after.total - ticks.total),
    };
  };
}

export interface PhaseResult {
  readonly label: string;
  readonly first: number;
  readonly count: number;
  /** Events whose effect was observed. */
  readonly completed: number;
  /** Events per second from the first publish to the last effect. */
  readonly throughput: number;
  /** Events per second of the publishers alone (first publish to last commit). */
  readonly publishRate: number;
  /** Effect commit − producer commit. */
  readonly latency: Summary;
  /** Producer commit − when it was due (fixed rate): did the producer keep the pace? */
  readonly publishLag: Summary;
  readonly stages: {
    readonly toSent: Summary;
    readonly toDelivered: Summary;
    readonly toEffect: Summary;
  };
  readonly resources: Resources;
  readonly wallMs: number;
}

function analyse(
  label: string,
  timeline: Timeline,
  first: number,
  count: number,
  startedAt: number,
  publishedAt: number,
  resources: Resources,
): PhaseResult {
  const range = (array: Float64Array) => array.subarray(first, first + count);
  const diff = (later: Float64Array, earlier: Float64Array) => {
    const a = range(later);
    const b = range(earlier);
    return Array.from(a, (value, i) => value - b[i]!);
  };
  const effects = range(timeline.effect);
  let completed = 0;
  let lastEffect = -Infinity;
  for (const value of effects) {
    if (Number.isFinite(value)) {
      completed++;
      lastEffect = Math.max(lastEffect, value);
    }
  }
  return {
    label,
    first,
    count,
    completed,
    throughput: completed === count ? (count * 1000) / (lastEffect - startedAt) : NaN,
    publishRate: (count * 1000) / (publishedAt - startedAt),
    latency: summarize(diff(timeline.effect, timeline.committed)),
    publishLag: summarize(diff(timeline.committed, timeline.scheduled)),
    stages: {
      toSent: summarize(diff(timeline.sent, timeline.committed)),
      toDelivered: summarize(diff(timeline.delivered, timeline.sent)),
      toEffect: summarize(diff(timeline.effect, timeline.delivered)),
    },
    resources,
    wallMs: now() - startedAt,
  };
}

/** Waits until every event of the range has its effect, or `timeoutMs` passes. */
async function waitForEffects(
  label: string,
  timeline: Timeline,
  first: number,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = now() + timeoutMs;
  let lastReport = now();
  for (;;) {
    let done = 0;
    for (const value of timeline.effect.subarray(first, first + count)) {
      if (!Number.isNaN(value)) done++;
    }
    if (done === count) return;
    if (now() > deadline) {
      progress(`${label}: gave up waiting after ${timeoutMs} ms: ${count - done} effects missing`);
      return;
    }
    if (now() - lastReport >= 1000) {
      lastReport = now();
      progress(`${label}: draining, ${done}/${count} effects committed`);
    }
    await sleep(20);
  }
}

function reserve(timeline: Timeline, count: number): number {
  const first = timeline.next;
  if (first + count > timeline.effect.length) {
    throw new Error(`timeline too small: need ${first + count}, have ${timeline.effect.length}`);
  }
  timeline.next += count;
  return first;
}

function stamp(array: Float64Array, first: number, count: number, time: number): void {
  array.fill(time, first, first + count);
}

export interface SaturationOptions {
  readonly events: number;
  readonly txSize: number;
  readonly publishers: number;
  readonly drainTimeoutMs: number;
}

/** Publishes `events` as fast as `publishers` concurrent loops can; waits for every effect. */
export async function runSaturation(
  label: string,
  pipeline: Pipeline,
  options: SaturationOptions,
): Promise<PhaseResult> {
  const { timeline } = pipeline;
  const first = reserve(timeline, options.events);
  const end = first + options.events;
  let next = first;
  let committed = 0;
  const resources = measureResources();
  const startedAt = now();
  const ticker = setInterval(() => {
    let done = 0;
    for (const value of timeline.effect.subarray(first, end)) if (!Number.isNaN(value)) done++;
    progress(`${label}: ${committed}/${options.events} published, ${done} effects committed`);
  }, 1000);
  try {
    await Promise.all(
      Array.from({ length: options.publishers }, async (_, publisher) => {
        while (next < end) {
          const from = next;
          const count = Math.min(options.txSize, end - from);
          next += count;
          await pipeline.publish(from, count, publisher);
          stamp(timeline.committed, from, count, now());
          committed += count;
        }
      }),
    );
    const publishedAt = now();
    await waitForEffects(label, timeline, first, options.events, options.drainTimeoutMs);
    return analyse(label, timeline, first, options.events, startedAt, publishedAt, resources());
  } finally {
    clearInterval(ticker);
  }
}

export interface FixedRateOptions {
  readonly rate: number;
  readonly seconds: number;
  readonly tickMs: number;
  readonly publishers: number;
  /** Publishes allowed in flight at once; beyond it the pacer waits (and the lag shows). */
  readonly maxInFlight: number;
  readonly drainTimeoutMs: number;
}

/**
 * Open-loop pacing: every `tickMs` one transaction of `rate * tickMs / 1000` events is started
 * at its due time, without waiting for the previous one (up to `maxInFlight`).
 */
export async function runFixedRate(
  label: string,
  pipeline: Pipeline,
  options: FixedRateOptions,
): Promise<PhaseResult> {
  const { timeline } = pipeline;
  const perTick = Math.max(1, Math.round((options.rate * options.tickMs) / 1000));
  const ticks = Math.max(1, Math.round((options.seconds * 1000) / options.tickMs));
  const count = perTick * ticks;
  const first = reserve(timeline, count);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let committed = 0;
  const resources = measureResources();
  const startedAt = now();
  let lastReport = startedAt;
  for (let tick = 0; tick < ticks && failure === undefined; tick++) {
    const due = startedAt + tick * options.tickMs;
    const wait = due - now();
    if (wait >= 1) await sleep(wait);
    const from = first + tick * perTick;
    stamp(timeline.scheduled, from, perTick, due);
    const publish = pipeline.publish(from, perTick, tick % options.publishers).then(() => {
      stamp(timeline.committed, from, perTick, now());
      committed += perTick;
    });
    inFlight.add(publish);
    publish.then(
      () => inFlight.delete(publish),
      (error: unknown) => {
        failure ??= error;
        inFlight.delete(publish);
      },
    );
    while (inFlight.size >= options.maxInFlight && failure === undefined) {
      await Promise.race(inFlight).catch(() => undefined);
    }
    if (now() - lastReport >= 1000) {
      lastReport = now();
      let done = 0;
      for (const value of timeline.effect.subarray(first, first + count)) {
        if (!Number.isNaN(value)) done++;
      }
      progress(`${label}: ${committed}/${count} published, ${done} effects committed`);
    }
  }
  await Promise.allSettled(inFlight);
  if (failure !== undefined) {
    throw failure instanceof Error ? failure : new Error('publish failed', { cause: failure });
  }
  const publishedAt = now();
  await waitForEffects(label, timeline, first, count, options.drainTimeoutMs);
  return analyse(label, timeline, first, count, startedAt, publishedAt, resources());
}

/** Publishes `count` events in transactions of `txSize` and waits for their effects. */
export async function runWarmup(
  label: string,
  pipeline: Pipeline,
  count: number,
  txSize: number,
  timeoutMs: number,
): Promise<void> {
  if (count <= 0) return;
  const { timeline } = pipeline;
  const first = reserve(timeline, count);
  for (let from = first; from < first + count; from += txSize) {
    const n = Math.min(txSize, first + count - from);
    await pipeline.publish(from, n, 0);
    stamp(timeline.committed, from, n, now());
  }
  await waitForEffects(label, timeline, first, count, timeoutMs);
  const missing = Array.from(timeline.effect.subarray(first, first + count)).filter(Number.isNaN);
  if (missing.length > 0)
    throw new Error(`${label}: ${missing.length} warm-up events never arrived`);
}
