/**
 * `npm start` as a user runs it: the real entry point in a child process on embedded
 * defaults (no DATABASE_URL, REDIS_URL or KAFKA_BROKERS). Proves the walking skeleton serves
 * GraphQL and Sandbox, stops cleanly on SIGTERM, keeps its data across restarts, exports
 * traces to an OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set, and fails
 * fast with one line when configuration is bad.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, glob, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../../shared/auth/index.ts';
import { startEmbeddedPostgres } from '../../shared/db/index.ts';
import { postGraphQL, testLogger, waitFor } from '../../shared/testing/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ENTRY = path.join(ROOT, 'platform/start.ts');

interface RunningPlatform {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** The exit code, once the process has exited and all of its output has been read. */
  readonly exited: Promise<number | null>;
  /** Whether `exited` has resolved. */
  readonly closed: () => boolean;
}

/** Every process a test launched; afterEach kills any a failed test left running. */
const launched: RunningPlatform[] = [];

afterEach(() => {
  for (const { child } of launched.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

/** Environment of a fresh shell: nothing of the test run's own configuration leaks in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    NODE_ENV: 'development',
    ...extra,
  };
}

function launch(env: Record<string, string>, entry = ENTRY): RunningPlatform {
  const child = spawn(process.execPath, [entry], { env: cleanEnv(env), stdio: 'pipe' });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts)
      if (part.trim()) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(...chunk.split('\n').filter((line) => line.trim()));
  });
  let closed = false;
  // 'close', not 'exit': by then stdout and stderr have been read to their end.
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      closed = true;
      resolve(code);
    }),
  );
  const running = { child, lines, stderr, exited, closed: () => closed };
  launched.push(running);
  return running;
}

/**
 * The first log line `match` accepts, as soon as the process writes it, however long a busy
 * machine makes start-up take; fails at once if the process ends without writing it.
 */
async function waitForLine(
  running: RunningPlatform,
  match: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (;;) {
    const found = running.lines.find(match);
    if (found) return found;
    if (running.closed()) {
      throw new Error(
        `process exited without that log line; stderr: ${running.stderr.join(' | ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const startedUrl = (line: Record<string, unknown>) => String(line['url']).replace(/\/graphql$/, '');

describe('npm start on embedded defaults', () => {
  let dataDir: string;
  const userId = '0194a3c0-0000-7000-8000-00000000c0de';

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-start-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves GraphQL, Sandbox, /health and /ready, and exits 0 on SIGTERM', async () => {
    const running = launch({ DATA_DIR: dataDir, PORT: '0' });
    try {
      const ready = await waitForLine(running, (l) =>
        String(l['msg']).startsWith('gateway ready at'),
      );
      const gateway = startedUrl(ready);
      // A first start creates the one embedded database the services share, and says so.
      const steps = running.lines.map((l) => String(l['msg']));
      expect(steps).toContain(
        `creating the embedded database in ${dataDir} (first start only, a few seconds)`,
      );
      expect(steps).toContain(
        'embedded database ready (PostgreSQL in PGlite, a schema per service)',
      );
      const modes = await waitForLine(running, (l) => l['service'] === 'users' && 'database' in l);
      expect(modes).toMatchObject({ cache: 'memory', events: 'in-process' });
      // The banner: where to go, a first query, how to stop.
      const banner = await waitForLine(running, (l) =>
        String(l['msg']).startsWith('eventgraph is ready at'),
      );
      expect(banner).toMatchObject({
        graphql: `${gateway}/graphql`,
        sandbox: `${gateway}/ (open it in a browser)`,
        banner: ['graphql', 'sandbox', 'query', 'curl', 'stop'],
      });
      expect(String(banner['stop'])).toMatch(/^Ctrl-C/);
      const firstQuery = await postGraphQL(`${gateway}/graphql`, String(banner['query']));
      expect(firstQuery.body).toEqual({ data: { products: { edges: [] } } });

      const response = await postGraphQL(`${gateway}/graphql`, '{ __typename }');
      expect(response.body).toEqual({ data: { __typename: 'Query' } });

      const landing = await fetch(`${gateway}/`, { headers: { accept: 'text/html' } });
      expect(landing.status).toBe(200);
      expect(await landing.text()).toMatch(/embeddable-sandbox|Apollo Sandbox/i);

      expect((await fetch(`${gateway}/health`)).status).toBe(200);
      expect((await fetch(`${gateway}/ready`)).status).toBe(200);
    } finally {
      running.child.kill('SIGTERM');
    }
    expect(await running.exited).toBe(0);
    expect(running.lines.some((l) => l['msg'] === 'shutdown complete')).toBe(true);
  });

  it('keeps the data of the previous run', async () => {
    // Write a profile into the stopped platform's database, as the first run would have.
    const embedded = await startEmbeddedPostgres({ dataDir, logger: testLogger() });
    const client = new pg.Client({ connectionString: embedded.url });
    try {
      await client.connect();
      await client.query(
        `insert into users.users (id, email, name, role, created_at, updated_at)
         values ($1, 'kept@example.com', 'Kept', 'USER', now(), now())`,
        [userId],
      );
    } finally {
      await client.end();
      await embedded.stop();
    }

    // A known secret, so the test can ask the users subgraph itself, as the gateway would.
    const secret = 'start-test-gateway-secret-0123456789abcdef';
    const running = launch({ DATA_DIR: dataDir, PORT: '0', GATEWAY_TOKEN_SECRET: secret });
    try {
      const usersReady = await waitForLine(running, (l) => l['msg'] === 'users subgraph ready');
      const migration = running.lines.find(
        (l) => l['service'] === 'users' && 'migrationsApplied' in l,
      );
      expect(migration?.['migrationsApplied']).toEqual([]);
      const response = await postGraphQL<{ _entities: unknown[] }>(
        `${startedUrl(usersReady)}/graphql`,
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }',
        { r: [{ __typename: 'User', id: userId }] },
        {
          [GATEWAY_TOKEN_HEADER]: await createGatewayTokens({ secret }).sign({
            claims: null,
            clientIp: null,
          }),
        },
      );
      expect(response.body.data?._entities).toEqual([{ id: userId, name: 'Kept' }]);
    } finally {
      running.child.kill('SIGTERM');
    }
    expect(await running.exited).toBe(0);
  });

  it('leaves no database process behind when killed, and the next start opens the data', async () => {
    const killed = launch({ DATA_DIR: dataDir, PORT: '0' });
    await waitForLine(killed, (l) => String(l['msg']).startsWith('gateway ready at'));
    // The embedded database's own process holds the data directory's lock.
    const database = Number(await readFile(path.join(dataDir, 'eventgraph.lock'), 'utf8'));
    expect(database).not.toBe(killed.child.pid);

    killed.child.kill('SIGKILL');
    await killed.exited;
    await waitFor(() => !isRunning(database), { what: 'the database process to exit' });

    const running = launch({ DATA_DIR: dataDir, PORT: '0' });
    try {
      await waitForLine(running, (l) => l['msg'] === `opening the embedded database in ${dataDir}`);
      await waitForLine(running, (l) => String(l['msg']).startsWith('gateway ready at'));
    } finally {
      running.child.kill('SIGTERM');
    }
    expect(await running.exited).toBe(0);
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it("exports the request's trace over OTLP/HTTP and flushes it on SIGTERM", async () => {
    const received: { path: string; body: string }[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as AddressInfo;
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-otel-'));
    const running = launch({
      DATA_DIR: dataDir,
      PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    try {
      const ready = await waitForLine(running, (l) =>
        String(l['msg']).startsWith('gateway ready at'),
      );
      const response = await postGraphQL(
        `${startedUrl(ready)}/graphql`,
        'query Probe { __typename }',
        {},
        { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      );
      expect(response.body.errors).toBeUndefined();
    } finally {
      running.child.kill('SIGTERM');
    }
    try {
      expect(await running.exited).toBe(0);
      const exported = received.filter((r) => r.path === '/v1/traces').map((r) => r.body);
      // OTLP/JSON: ids hex-encoded, the resource names the process.
      expect(exported.join('\n')).toContain(traceId);
      expect(exported.join('\n')).toContain('"query Probe"');
      expect(exported.join('\n')).toMatch(/"service\.name","value":\{"stringValue":"eventgraph"/);
    } finally {
      collector.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the build, as the image runs it', () => {
  // Inside node_modules, so the compiled code resolves the project's packages as dist/ does.
  const outDir = path.join(ROOT, 'node_modules/.cache/eventgraph-build-test', String(process.pid));

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('compiles, starts on embedded defaults, answers its first query and exits 0 on SIGTERM', async () => {
    // What `npm run build` does, into a directory of this test's own.
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    await promisify(execFile)(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir],
      {
        cwd: ROOT,
      },
    );
    for await (const file of glob(['subgraphs/*/schema.graphql', 'schema/supergraph.graphql'], {
      cwd: ROOT,
    })) {
      await cp(path.join(ROOT, file), path.join(outDir, file));
    }
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-build-'));
    try {
      const running = launch(
        { DATA_DIR: dataDir, PORT: '0' },
        path.join(outDir, 'platform/start.js'),
      );
      const ready = await waitForLine(running, (l) =>
        String(l['msg']).startsWith('gateway ready at'),
      );
      const answer = await postGraphQL(
        String(ready['url']),
        '{ products(first: 1) { edges { cursor } } }',
      );
      expect(answer.body).toEqual({ data: { products: { edges: [] } } });
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('npm start with bad configuration', () => {
  it('fails fast with one line naming DATABASE_URL when the database is unreachable', async () => {
    const running = launch({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x', PORT: '0' });
    expect(await running.exited).toBe(1);
    expect(running.stderr).toHaveLength(1);
    expect(running.stderr[0]).toMatch(
      /DATABASE_URL: cannot connect to postgres:\/\/nobody@127\.0\.0\.1:1\/x/,
    );
  });

  it('refuses a malformed variable with one line naming it and what was expected', async () => {
    const running = launch({ PORT: 'eighty', REDIS_URL: 'http://nope' });
    expect(await running.exited).toBe(1);
    expect(running.stderr).toHaveLength(1);
    expect(running.stderr[0]).toContain('PORT: expected a TCP port number');
    expect(running.stderr[0]).toContain('REDIS_URL: expected a URL like redis://host:6379');
  });
});
