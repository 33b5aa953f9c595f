// Kafka test broker: a real-wire-protocol Kafka cluster for tests, without a JVM or a Kafka
// install. It runs librdkafka's in-memory mock cluster (./launcher.c, compiled on first use and
// cached under node_modules/.cache/eventgraph-kafka-broker/) and puts a small TCP proxy in front
// of every mock broker on FIXED ports, so clients such as kafkajs see a stable bootstrap address.
//
// Guarantees:
// - Clients only ever see the proxy: Metadata and FindCoordinator responses are rewritten to the
//   proxy's host/port, and the mock's bogus controller id (0) becomes a real broker id, so kafkajs
//   admin calls and idempotent producers work.
// - CreateTopics (which the mock lacks) is answered by the proxy: exact partition counts,
//   TOPIC_ALREADY_EXISTS for existing topics (auto-created ones included), validateOnly honoured.
// - Responses on a connection keep request order; Produce with acks=0 gets no response (the mock
//   sends one anyway; the proxy drops it).
// - stop() ends the launcher and closes every listener and socket: nothing keeps the event loop
//   alive afterwards. The launcher also exits by itself when its parent dies (stdin EOF).
// - All data is in memory and lost on stop().
//
// Known limits of the mock cluster (librdkafka 2.0.x): no DescribeGroups/ListGroups/DeleteTopics;
// auto-created topics get 4 partitions; a group's first join waits ~3 s and later rebalances wait
// sessionTimeout − 1 s, so tests should use short session timeouts (e.g. 6000 ms).

import { spawn, execFile } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import net from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  ApiKey,
  ErrorCode,
  METADATA_V1_ALL_TOPICS,
  encodeCreateTopicsResponse,
  encodeRequest,
  expectsResponse,
  frame,
  frameSplitter,
  parseCreateTopicsRequest,
  parseMetadataHead,
  parseMetadataV1Topics,
  parseRequestHeader,
  rewriteApiVersions,
  rewriteFindCoordinator,
  rewriteMetadata,
} from './protocol.ts';
import type { Address, CreateTopicResult, RequestHeader } from './protocol.ts';

/** Options for {@link startTestBroker}. */
export interface TestBrokerOptions {
  /**
   * Number of brokers in the cluster (1..16). Default: `ports.length` when `ports` is given,
   * otherwise 3.
   */
  brokers?: number;
  /**
   * TCP port of the first broker's proxy; broker i (0-based) listens on `basePort + i`.
   * Default 19092 (so 19092, 19093, 19094 for 3 brokers). Ignored when `ports` is given.
   */
  basePort?: number;
  /** Explicit TCP port for each broker's proxy, in broker order. Overrides `basePort`. */
  ports?: number[];
  /** Interface the proxies listen on. Default '127.0.0.1'. */
  host?: string;
  /**
   * Host name advertised to clients in Metadata/FindCoordinator responses and in `brokers`.
   * Default: `host`, or '127.0.0.1' when `host` is a wildcard ('0.0.0.0' / '::').
   */
  advertisedHost?: string;
  /**
   * Partition count used when CreateTopics asks for the broker default (numPartitions -1).
   * Default 4, the same as the mock's auto-created topics.
   */
  defaultPartitions?: number;
  /**
   * Milliseconds to wait for the mock cluster to report its addresses once the launcher is built.
   * Default 30000.
   */
  startTimeoutMs?: number;
  /**
   * Directory for the compiled launcher. Default
   * `<repo>/node_modules/.cache/eventgraph-kafka-broker`.
   */
  cacheDir?: string;
}

/** A running test broker; see {@link startTestBroker}. */
export interface TestBroker {
  /** Proxy addresses, one per broker, e.g. ['127.0.0.1:19092', '127.0.0.1:19093', ...]. */
  readonly brokers: string[];
  /** `brokers` joined with ',' (a bootstrap.servers string). */
  readonly bootstrap: string;
  /**
   * Creates a topic with exactly `partitions` partitions. `replicationFactor` defaults to
   * min(3, broker count). Resolves true when created, false when the topic already existed
   * (whatever its partition count); rejects on invalid arguments or if the cluster is gone.
   */
  createTopic(name: string, partitions: number, replicationFactor?: number): Promise<boolean>;
  /**
   * Makes the brokers unreachable, as a network partition would: every open connection is
   * cut and new ones are reset at once, until `resume()`. The cluster keeps its data,
   * topics, offsets and groups meanwhile.
   */
  suspend(): void;
  /** Accepts connections again after `suspend()`. */
  resume(): void;
  /** Stops the cluster and the proxies. Idempotent; resolves when everything is closed. */
  stop(): Promise<void>;
}

const MOCK_DEFAULT_PARTITIONS = 4;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const here = dirname(fileURLToPath(import.meta.url));
const LAUNCHER_SOURCE = join(here, 'launcher.c');
const DEFAULT_CACHE_DIR = join(
  here,
  '..',
  '..',
  'node_modules',
  '.cache',
  'eventgraph-kafka-broker',
);

/** Error raised for a topic request that the broker rejects, with the Kafka error code. */
function topicError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

// ---------------------------------------------------------------------------------------------
// Launcher build

function run(file: string, args: string[]): Promise<{ stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (error) {
        reject(
          Object.assign(new Error(`${file} failed`, { cause: error }), {
            code: error.code,
            stderr,
          }),
        );
      } else resolve({ stderr });
    });
  });
}

/** Compiles launcher.c into the cache dir unless a binary for this exact source exists. */
async function buildLauncher(cacheDir: string): Promise<string> {
  const source = await readFile(LAUNCHER_SOURCE);
  const hash = createHash('sha256')
    .update(source)
    .update(`${process.platform}-${process.arch}`)
    .digest('hex')
    .slice(0, 16);
  const binary = join(cacheDir, `launcher-${hash}`);
  if (existsSync(binary)) return binary;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.${Date.now()}.tmp`;
  const cc = process.env.CC ?? 'cc';
  try {
    await run(cc, ['-O2', '-o', tmp, LAUNCHER_SOURCE, '-lrdkafka']);
  } catch (error) {
    await rm(tmp, { force: true });
    const err = error as Error & { code?: unknown; stderr?: string };
    if (err.code === 'ENOENT') {
      throw new Error(
        `Kafka test broker: C compiler '${cc}' not found; install a C toolchain ` +
          `(Debian/Ubuntu: apt-get install gcc librdkafka-dev) or set CC.`,
        { cause: error },
      );
    }
    const stderr = err.stderr ?? '';
    if (/rdkafka(_mock)?\.h|-lrdkafka|librdkafka/.test(stderr)) {
      throw new Error(
        `Kafka test broker: librdkafka development files are missing; install librdkafka-dev ` +
          `(Debian/Ubuntu: apt-get install librdkafka-dev; macOS: brew install librdkafka).\n` +
          stderr.trim(),
        { cause: error },
      );
    }
    throw new Error(`Kafka test broker: compiling ${LAUNCHER_SOURCE} failed:\n${stderr.trim()}`, {
      cause: error,
    });
  }
  await rename(tmp, binary); // atomic: parallel test workers may build concurrently
  return binary;
}

// ---------------------------------------------------------------------------------------------
// Launcher process

interface MockBroker {
  id: number;
  host: string;
  port: number;
}

interface Launcher {
  brokers: MockBroker[];
  /** Sends one command line; resolves with the reply line ('ok' or 'error ...'). */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

async function startLauncher(binary: string, brokerCount: number, timeoutMs: number) {
  const child: ChildProcessWithoutNullStreams = spawn(binary, [String(brokerCount)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  child.stdin.on('error', () => {}); // EPIPE after the child died; reported via 'exit'
  const describeExit = () =>
    `launcher exited (code ${child.exitCode}, signal ${child.signalCode})` +
    (stderrTail.length > 0 ? `: ${stderrTail.join('').trim()}` : '');

  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const waiters: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let onFirstLine: ((line: string) => void) | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (onFirstLine) {
      const f = onFirstLine;
      onFirstLine = undefined;
      f(line);
    } else {
      waiters.shift()?.resolve(line);
    }
  });
  let dead = false;
  child.once('close', () => {
    dead = true;
    const error = new Error(`Kafka test broker: ${describeExit()}`);
    for (const w of waiters.splice(0)) w.reject(error);
  });

  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Kafka test broker: launcher did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    onFirstLine = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`Kafka test broker: cannot run ${binary}: ${e.message}`));
    });
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`Kafka test broker: ${describeExit()}`));
    });
  }).catch(async (error: unknown) => {
    if (child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    throw error;
  });

  let parsed: { brokers?: MockBroker[]; error?: string } = {};
  try {
    parsed = JSON.parse(first) as typeof parsed;
  } catch {
    // reported below
  }
  if (!parsed.brokers || parsed.brokers.length !== brokerCount) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`Kafka test broker: launcher failed: ${parsed.error ?? first}`);
  }

  const launcher: Launcher = {
    brokers: parsed.brokers,
    command(line) {
      if (dead) return Promise.reject(new Error(`Kafka test broker: ${describeExit()}`));
      return new Promise((resolve, reject) => {
        waiters.push({ resolve, reject });
        child.stdin.write(`${line}\n`);
      });
    },
    async stop() {
      if (!dead) {
        child.stdin.end(); // EOF → launcher destroys the cluster and exits 0
        const term = setTimeout(() => child.kill('SIGTERM'), 3000);
        const kill = setTimeout(() => child.kill('SIGKILL'), 6000);
        await exited;
        clearTimeout(term);
        clearTimeout(kill);
      }
      await exited;
    },
  };
  return launcher;
}

// ---------------------------------------------------------------------------------------------
// One-shot upstream requests (the proxy's own view of the mock cluster)

let ownCorrelationId = 0;

function requestUpstream(
  target: MockBroker,
  apiKey: number,
  apiVersion: number,
  body: Buffer,
  timeoutMs = 5000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const correlationId = (ownCorrelationId = (ownCorrelationId + 1) & 0x7fffffff);
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (error: Error | null, payload?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(payload!);
    };
    const timer = setTimeout(
      () => done(new Error(`Kafka test broker: no answer from mock broker ${target.id}`)),
      timeoutMs,
    );
    const push = frameSplitter((payload) => {
      if (payload.readInt32BE(0) === correlationId) done(null, payload);
    });
    socket.on('data', (chunk) => {
      try {
        push(chunk);
      } catch (e) {
        done(e as Error);
      }
    });
    socket.on('error', (e) => done(e));
    socket.on('close', () => done(new Error('Kafka test broker: mock broker closed connection')));
    socket.write(encodeRequest(apiKey, apiVersion, correlationId, 'eventgraph-test-broker', body));
  });
}

async function listTopics(target: MockBroker): Promise<Set<string>> {
  const payload = await requestUpstream(target, ApiKey.Metadata, 1, METADATA_V1_ALL_TOPICS);
  return new Set(parseMetadataV1Topics(payload).map((t) => t.name));
}

// ---------------------------------------------------------------------------------------------
// Proxy

interface PendingResponse {
  correlationId: number;
  header: RequestHeader;
  response?: Buffer;
  local: boolean;
}

interface ProxyContext {
  addresses: ReadonlyMap<number, Address>;
  fallbackControllerId: number;
  createTopics(payload: Buffer, header: RequestHeader): Promise<Buffer>;
  sockets: Set<Socket>;
  isStopped(): boolean;
}

function rewriteResponse(ctx: ProxyContext, header: RequestHeader, payload: Buffer): Buffer {
  try {
    switch (header.apiKey) {
      case ApiKey.ApiVersions:
        return rewriteApiVersions(payload, header.apiVersion);
      case ApiKey.Metadata:
        return rewriteMetadata(payload, header.apiVersion, ctx.addresses, ctx.fallbackControllerId);
      case ApiKey.FindCoordinator:
        return rewriteFindCoordinator(payload, header.apiVersion, ctx.addresses);
      default:
        return payload;
    }
  } catch (error) {
    process.emitWarning(
      `Kafka test broker: cannot rewrite response to api ${header.apiKey} ` +
        `v${header.apiVersion}: ${(error as Error).message}`,
    );
    return payload;
  }
}

function handleConnection(ctx: ProxyContext, client: Socket, target: MockBroker): void {
  if (ctx.isStopped()) {
    client.destroy();
    return;
  }
  const upstream = net.connect({ host: target.host, port: target.port });
  ctx.sockets.add(client);
  ctx.sockets.add(upstream);
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const pending: PendingResponse[] = [];
  // Produce with acks=0 must get no response, but the mock answers anyway: drop those answers.
  const unanswered = new Set<number>();
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    ctx.sockets.delete(client);
    ctx.sockets.delete(upstream);
  };
  // Answers go back in request order, whether they came from the mock or from the proxy.
  const flush = () => {
    while (pending[0]?.response !== undefined && !closed) {
      client.write(frame(pending.shift()!.response!));
    }
  };

  const fromClient = frameSplitter((payload) => {
    const header = parseRequestHeader(payload);
    if (header.apiKey === ApiKey.CreateTopics) {
      const entry: PendingResponse = { correlationId: header.correlationId, header, local: true };
      pending.push(entry);
      void ctx.createTopics(payload, header).then(
        (response) => {
          entry.response = response;
          flush();
        },
        () => close(),
      );
      return;
    }
    if (expectsResponse(header, payload)) {
      pending.push({ correlationId: header.correlationId, header, local: false });
    } else if (unanswered.size < 10_000) {
      unanswered.add(header.correlationId);
    }
    upstream.write(frame(payload));
  });
  const fromUpstream = frameSplitter((payload) => {
    const correlationId = payload.readInt32BE(0);
    if (unanswered.delete(correlationId)) return;
    const entry = pending.find(
      (p) => !p.local && p.response === undefined && p.correlationId === correlationId,
    );
    if (entry === undefined) {
      // Not a request we tracked (should not happen): pass it through untouched.
      if (pending.length === 0) client.write(frame(payload));
      return;
    }
    entry.response = rewriteResponse(ctx, entry.header, payload);
    flush();
  });

  const guard = (push: (chunk: Buffer) => void) => (chunk: Buffer) => {
    try {
      push(chunk);
    } catch {
      close(); // corrupt stream
    }
  };
  client.on('data', guard(fromClient));
  upstream.on('data', guard(fromUpstream));
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `Kafka test broker: port ${port} on ${host} is already in use ` +
                `(another test broker running? choose other ports via basePort/ports)`,
            )
          : new Error(`Kafka test broker: cannot listen on ${host}:${port}: ${error.message}`),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, exclusive: true });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts a mock Kafka cluster behind fixed-port proxies. Rejects with a clear error when a port
 * is taken, librdkafka-dev or a C compiler is missing, or the cluster does not come up.
 */
export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const count = options.brokers ?? options.ports?.length ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16) {
    throw new Error(`Kafka test broker: brokers must be an integer 1..16, got ${count}`);
  }
  const basePort = options.basePort ?? 19092;
  const ports = options.ports ?? Array.from({ length: count }, (_, i) => basePort + i);
  if (ports.length !== count) {
    throw new Error(`Kafka test broker: ${count} brokers need ${count} ports, got ${ports.length}`);
  }
  const host = options.host ?? '127.0.0.1';
  const advertisedHost =
    options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  const defaultPartitions = options.defaultPartitions ?? MOCK_DEFAULT_PARTITIONS;
  const defaultReplication = Math.min(3, count);
  const timeoutMs = options.startTimeoutMs ?? 30_000;

  // Bind the fixed ports first: a port clash is the most likely failure and the cheapest check.
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let launcher: Launcher | undefined;
  let stopped = false;
  const cleanup = async () => {
    stopped = true;
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(servers.map(closeServer));
    await launcher?.stop();
  };

  try {
    for (const port of ports) {
      const server = net.createServer();
      servers.push(server);
      await listen(server, port, host);
    }
    const binary = await buildLauncher(options.cacheDir ?? DEFAULT_CACHE_DIR);
    launcher = await startLauncher(binary, count, timeoutMs);
  } catch (error) {
    await cleanup();
    throw error;
  }
  const mock = [...launcher.brokers].sort((a, b) => a.id - b.id);
  const running = launcher;

  // Cross-check the launcher's id → port list against what the cluster itself reports.
  try {
    const payload = await requestUpstream(mock[0]!, ApiKey.Metadata, 1, METADATA_V1_ALL_TOPICS);
    const reported = parseMetadataHead(payload, 1).brokers;
    for (const b of mock) {
      if (!reported.some((r) => r.nodeId === b.id && r.port === b.port)) {
        throw new Error(`mock broker ${b.id} (port ${b.port}) missing from cluster metadata`);
      }
    }
  } catch (error) {
    await cleanup();
    throw new Error(`Kafka test broker: cluster did not come up: ${(error as Error).message}`, {
      cause: error,
    });
  }

  const addresses = new Map<number, Address>(
    mock.map((b, i) => [b.id, { host: advertisedHost, port: ports[i]! }]),
  );

  async function create(
    name: string,
    partitions: number,
    replication: number,
    validateOnly: boolean,
  ): Promise<CreateTopicResult> {
    const result = (errorCode: number, errorMessage: string | null) => ({
      name,
      errorCode,
      errorMessage,
    });
    if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
      return result(ErrorCode.INVALID_TOPIC_EXCEPTION, `Invalid topic name '${name}'`);
    }
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 100_000) {
      return result(ErrorCode.INVALID_PARTITIONS, `Invalid partition count ${partitions}`);
    }
    if (!Number.isInteger(replication) || replication < 1 || replication > count) {
      return result(
        ErrorCode.INVALID_REPLICATION_FACTOR,
        `Replication factor ${replication} is invalid for ${count} brokers`,
      );
    }
    if (validateOnly) {
      const exists = (await listTopics(mock[0]!)).has(name);
      return exists
        ? result(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`)
        : result(ErrorCode.NONE, null);
    }
    const reply = await running.command(`topic ${name} ${partitions} ${replication}`);
    if (reply === 'ok') return result(ErrorCode.NONE, null);
    if (reply.startsWith('error TOPIC_ALREADY_EXISTS')) {
      return result(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
    }
    return result(ErrorCode.UNKNOWN_SERVER_ERROR, reply);
  }

  const proxy: ProxyContext = {
    addresses,
    fallbackControllerId: mock[0]!.id,
    sockets,
    isStopped: () => stopped,
    async createTopics(payload, header) {
      if (header.apiVersion > 4) {
        throw new Error(`CreateTopics v${header.apiVersion} is not supported`);
      }
      const request = parseCreateTopicsRequest(payload, header);
      const seen = new Map<string, number>();
      for (const t of request.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
      const results: CreateTopicResult[] = [];
      for (const t of request.topics) {
        if (seen.get(t.name)! > 1) {
          results.push({
            name: t.name,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: `Topic '${t.name}' appears more than once in the request`,
          });
          continue;
        }
        const manual = t.assignments.length > 0;
        const partitions = manual
          ? t.assignments.length
          : t.numPartitions === -1
            ? defaultPartitions
            : t.numPartitions;
        const replication = manual
          ? (t.assignments[0]?.brokerIds.length ?? 0)
          : t.replicationFactor === -1
            ? defaultReplication
            : t.replicationFactor;
        try {
          results.push(await create(t.name, partitions, replication, request.validateOnly));
        } catch (error) {
          results.push({
            name: t.name,
            errorCode: ErrorCode.UNKNOWN_SERVER_ERROR,
            errorMessage: (error as Error).message,
          });
        }
      }
      return encodeCreateTopicsResponse(header.correlationId, header.apiVersion, results);
    },
  };

  let suspended = false;
  for (const [i, server] of servers.entries()) {
    const target = mock[i]!;
    server.on('connection', (socket: Socket) => {
      if (suspended) socket.destroy();
      else handleConnection(proxy, socket, target);
    });
  }

  let stopping: Promise<void> | undefined;
  const brokers = ports.map((port) => `${advertisedHost}:${port}`);
  return {
    brokers,
    bootstrap: brokers.join(','),
    async createTopic(name, partitions, replicationFactor = defaultReplication) {
      if (stopping) throw new Error('Kafka test broker: stopped');
      const r = await create(name, partitions, replicationFactor, false);
      if (r.errorCode === ErrorCode.NONE) return true;
      if (r.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) return false;
      throw topicError(r.errorCode, `Kafka test broker: createTopic: ${r.errorMessage}`);
    },
    suspend() {
      suspended = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    resume() {
      suspended = false;
    },
    stop() {
      stopping ??= cleanup();
      return stopping;
    },
  };
}
