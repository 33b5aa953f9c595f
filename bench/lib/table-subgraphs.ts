/**
 * Subgraphs that cost almost nothing, for `bench:gateway --mode gateway-bound`: one tiny
 * node:http server per subgraph name, each on its own port of 127.0.0.1, answering from a
 * table of recorded responses. Runs as a child of the bench (an IPC channel drives it).
 *
 * Three phases, on the same ports, so the gateways never see a switch:
 *
 * - record: each server is a proxy in front of the real subgraph (UPSTREAMS: JSON name →
 *   base URL). It forwards the request as it is (method, path, headers, body), answers with
 *   the upstream's status, content type and bytes, and stores them under the request's key.
 * - learn (IPC message `learn`): answers from the table, and records through to the real
 *   subgraph only what is not in it yet (counted as learned). Some gateways shape their
 *   subgraph requests by timing (Hive merges the entity fetches that fall in one tick), and
 *   the table answers with other timing than the real subgraphs: load in this phase records
 *   the shapes the table's own timing brings out.
 * - replay (IPC message `replay`): no upstream any more; a request whose key is in the table
 *   gets the stored bytes, any other gets HTTP 500 with a body saying so (and is counted), so
 *   that a request the recording missed fails loudly instead of being measured.
 *
 * The key of a POST is its body's `{query, variables}`, normalised as
 * `JSON.stringify({ query, variables })`: headers (identity tokens, request ids) and any
 * other body field are ignored. The key of any other method is the method and path (the
 * JWKS, `/ready`). When two recorded requests with one key get different answers, the first
 * is kept and the conflict counted: the bench refuses to measure over conflicts.
 *
 * IPC: `learn` → `{ phase: 'learn' }`; `replay` → `{ phase: 'replay' }`;
 * `stats` → `{ stats: TableStats }`.
 * Prints `ready <JSON name → base URL>` on stdout once every server listens.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TableStats {
  /** Entries recorded, per subgraph name. */
  recorded: Record<string, number>;
  /** Replayed requests whose key was not recorded (each got HTTP 500), per subgraph name. */
  misses: Record<string, number>;
  /** Keys recorded twice with different answers, per subgraph name. */
  conflicts: Record<string, number>;
  /** Entries recorded in the learn phase (missing after the record phase), all together. */
  learned: number;
  /** Requests answered from the table, all subgraphs together. */
  hits: number;
  /** A few of the keys that missed, to show what the recording lacked. */
  missedKeys: string[];
}

interface Entry {
  status: number;
  contentType: string;
  body: Buffer;
}

const upstreams = JSON.parse(process.env['UPSTREAMS'] ?? '{}') as Record<string, string>;
const tables = new Map<string, Map<string, Entry>>();
const stats: TableStats = {
  recorded: {},
  misses: {},
  conflicts: {},
  learned: 0,
  hits: 0,
  missedKeys: [],
};
let phase: 'record' | 'learn' | 'replay' = 'record';

function keyOf(method: string, path: string, body: Buffer): string {
  if (method !== 'POST') return `${method} ${path}`;
  try {
    const { query, variables } = JSON.parse(body.toString()) as {
      query?: unknown;
      variables?: unknown;
    };
    return JSON.stringify({ query, variables });
  } catch {
    return `POST ${path} (not JSON) ${body.toString()}`;
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, entry: Entry): void {
  response.writeHead(entry.status, {
    'content-type': entry.contentType,
    'content-length': entry.body.length,
  });
  response.end(entry.body);
}

async function record(
  name: string,
  upstream: string,
  request: IncomingMessage,
  body: Buffer,
  key: string,
): Promise<Entry> {
  const headers = new Headers();
  for (const [header, value] of Object.entries(request.headers)) {
    // Hop-by-hop and length headers are fetch's own business.
    if (['host', 'connection', 'content-length', 'transfer-encoding'].includes(header)) continue;
    if (typeof value === 'string') headers.set(header, value);
  }
  const answer = await fetch(new URL(request.url ?? '/', upstream), {
    method: request.method ?? 'GET',
    headers,
    ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { body }),
  });
  const entry: Entry = {
    status: answer.status,
    contentType: answer.headers.get('content-type') ?? 'application/json',
    body: Buffer.from(await answer.arrayBuffer()),
  };
  const table = tables.get(name)!;
  const earlier = table.get(key);
  if (!earlier) {
    table.set(key, entry);
    stats.recorded[name] = table.size;
  } else if (!earlier.body.equals(entry.body) || earlier.status !== entry.status) {
    stats.conflicts[name] = (stats.conflicts[name] ?? 0) + 1;
  }
  return entry;
}

const urls: Record<string, string> = {};
for (const [name, upstream] of Object.entries(upstreams)) {
  tables.set(name, new Map());
  stats.recorded[name] = 0;
  stats.misses[name] = 0;
  stats.conflicts[name] = 0;
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const key = keyOf(request.method ?? 'GET', request.url ?? '/', body);
      if (phase === 'record') {
        send(response, await record(name, upstream, request, body, key));
        return;
      }
      const entry = tables.get(name)!.get(key);
      if (entry) {
        stats.hits++;
        send(response, entry);
        return;
      }
      if (phase === 'learn') {
        stats.learned++;
        send(response, await record(name, upstream, request, body, key));
        return;
      }
      stats.misses[name] = (stats.misses[name] ?? 0) + 1;
      if (stats.missedKeys.length < 5) stats.missedKeys.push(`${name}: ${key.slice(0, 300)}`);
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`table subgraph ${name}: no recorded response for ${key.slice(0, 300)}`);
    })().catch((error: unknown) => {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`table subgraph ${name}: ${(error as Error).message}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

process.on('message', (message: unknown) => {
  if (message === 'learn' || message === 'replay') {
    phase = message;
    process.send?.({ phase });
  } else if (message === 'stats') {
    process.send?.({ stats });
  }
});
process.stdout.write(`ready ${JSON.stringify(urls)}\n`);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
