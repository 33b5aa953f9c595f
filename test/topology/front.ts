/**
 * A round-robin front: what a Kubernetes Service is to a Deployment's pods, or a load balancer
 * to the gateways. One loopback port; each HTTP request goes to the next backend in rotation
 * (the body is read first, GraphQL bodies are small), each WebSocket upgrade too, and that
 * connection then stays on its backend. It balances requests, as an L7 proxy or a service mesh
 * does (a plain ClusterIP Service balances connections).
 *
 * A backend is in rotation while the harness says so (it answered /ready and was not killed
 * since), as an Endpoints list follows readiness. A backend that refuses the connection is
 * skipped for the next one, since it cannot have seen the request; one that drops a request it
 * received costs that request a 502, and its open WebSockets close, as with a real proxy.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Duplex } from 'node:stream';

interface Backend {
  readonly name: string;
  readonly port: number;
  /** Its own keep-alive pool, destroyed when it leaves rotation (its sockets are dead). */
  readonly agent: http.Agent;
  /** WebSocket connections open through the front. */
  readonly sockets: Set<Duplex>;
  requests: number;
}

export interface FrontStats {
  /** Requests forwarded (answered or not) since the backend last entered rotation. */
  readonly requests: number;
  /** WebSocket connections it holds now. */
  readonly webSockets: number;
}

export interface Front {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Puts a backend (a process on a loopback port) in rotation. */
  enter(name: string, port: number): void;
  /** Takes a backend out of rotation: it gets no new requests or connections. */
  leave(name: string): void;
  /** The backends in rotation, in rotation order, and their traffic. */
  stats(): ReadonlyMap<string, FrontStats>;
  /**
   * Holds back the answer to the next POST (GraphQL) request: the backend answers, and the front keeps
   * that answer until `release()`. `held` resolves once it has it. For a test that needs a
   * request in flight on an answer read at a known moment.
   */
  holdNextAnswer(): { held: Promise<void>; release(): void };
  close(): Promise<void>;
}

/** Headers that describe one hop's connection, not the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

function isRefused(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

export async function startFront(name: string): Promise<Front> {
  const backends: Backend[] = [];
  let turn = 0;
  /** The next backend in rotation that is not in `skip`. */
  const next = (skip: ReadonlySet<string>): Backend | undefined => {
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[turn++ % backends.length]!;
      if (!skip.has(backend.name)) return backend;
    }
    return undefined;
  };

  /** The hold the next request takes, if one is armed. */
  let nextHold: { held: () => void; released: Promise<void> } | null = null;

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    tried: Set<string>,
    hold: typeof nextHold,
  ) => {
    const backend = next(tried);
    if (!backend) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`${name}: no backend in rotation\n`);
      return;
    }
    backend.requests++;
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([header]) => !HOP_BY_HOP.has(header)),
    );
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: backend.port,
        method: req.method,
        path: req.url,
        headers,
        agent: backend.agent,
      },
      (response) => {
        const answer = Object.fromEntries(
          Object.entries(response.headers).filter(([header]) => !HOP_BY_HOP.has(header)),
        );
        if (!hold) {
          res.writeHead(response.statusCode ?? 502, answer);
          response.pipe(res);
          response.once('error', () => res.destroy());
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', () => res.destroy());
        response.once('end', () => {
          hold.held();
          void hold.released.then(() =>
            res.writeHead(response.statusCode ?? 502, answer).end(Buffer.concat(chunks)),
          );
        });
      },
    );
    upstream.once('error', (error) => {
      if (res.headersSent) {
        res.destroy();
      } else if (isRefused(error)) {
        tried.add(backend.name);
        forward(req, res, body, tried, hold);
      } else {
        res
          .writeHead(502, { 'content-type': 'text/plain' })
          .end(`${name}: ${backend.name} dropped the request (${error.message})\n`);
      }
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      // Only a POST (a GraphQL request) takes the hold, not a probe of /ready.
      const hold = req.method === 'POST' ? nextHold : null;
      if (hold) nextHold = null;
      forward(req, res, Buffer.concat(chunks), new Set(), hold);
    });
    req.once('error', () => res.destroy());
  });
  // Keep-alive from clients: the front is their one connection, whatever is behind it.
  server.keepAliveTimeout = 60_000;

  const tunnel = (
    req: http.IncomingMessage,
    client: Duplex,
    head: Buffer,
    tried: Set<string>,
  ): void => {
    const backend = next(tried);
    if (!backend) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      return;
    }
    const upstream = net.connect(backend.port, '127.0.0.1');
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      backend.sockets.add(client);
      client.once('close', () => backend.sockets.delete(client));
      let request = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        request += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      }
      upstream.write(`${request}\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.once('error', (error) => {
      if (!connected && isRefused(error)) {
        tried.add(backend.name);
        tunnel(req, client, head, tried);
      } else {
        client.destroy();
      }
    });
    upstream.once('close', () => client.destroy());
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  };
  server.on('upgrade', (req: http.IncomingMessage, client: Duplex, head: Buffer) =>
    tunnel(req, client, head, new Set()),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const remove = (backendName: string) => {
    const index = backends.findIndex((backend) => backend.name === backendName);
    if (index < 0) return;
    const [backend] = backends.splice(index, 1);
    backend!.agent.destroy();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    enter(backendName, backendPort) {
      remove(backendName);
      backends.push({
        name: backendName,
        port: backendPort,
        agent: new http.Agent({ keepAlive: true }),
        sockets: new Set(),
        requests: 0,
      });
    },
    leave: remove,
    stats: () =>
      new Map(
        backends.map((backend) => [
          backend.name,
          { requests: backend.requests, webSockets: backend.sockets.size },
        ]),
      ),
    holdNextAnswer() {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const held = new Promise<void>((resolve) => (nextHold = { held: resolve, released }));
      return { held, release };
    },
    async close() {
      for (const backend of backends.splice(0)) {
        backend.agent.destroy();
        for (const socket of backend.sockets) socket.destroy();
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
