/**
 * The subgraph data source against a fake subgraph on a local port: each attempt is bounded
 * by the timeout; a query is retried once after a timeout, a lost connection or a 502-504,
 * and a mutation never is; other failures are not retried. A subgraph of the gateway's own
 * process gets what HTTP would carry, under the same rules.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../../shared/auth/index.ts';
import type { InProcessAnswer, InProcessRequest } from '../../shared/server/index.ts';
import { waitFor } from '../../shared/testing/index.ts';
import { SubgraphTimeoutError, createSubgraphDataSource, isQuery } from './datasource.ts';
import { localWriteEpochs, writerOf } from '../coalescing/write-epochs.ts';
import type { WriteEpochs } from '../coalescing/write-epochs.ts';

type Behaviour = 'hang' | 503 | 500 | 'ok' | 'reset' | 'slow';

/** A subgraph that answers its n-th request as `plan[n]` (the last entry thereafter). */
async function fakeSubgraph(plan: Behaviour[]) {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push(body);
      const behaviour = plan[Math.min(received.length - 1, plan.length - 1)]!;
      if (behaviour === 'hang') return;
      if (behaviour === 'slow') {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ data: { items: [{ id: 'a' }] } }));
        }, 100);
        return;
      }
      if (behaviour === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(behaviour === 'ok' ? 200 : behaviour, { 'content-type': 'application/json' });
      res.end(JSON.stringify(behaviour === 'ok' ? { data: { ok: true } } : { errors: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const gatewayTokens = createGatewayTokens({
  secret: 'datasource-test-secret-0123456789-abcdefghijkl',
});

function call(url: string, query: string, timeoutMs = 300) {
  const source = createSubgraphDataSource({
    name: 'library',
    url,
    gatewayTokens,
    timeoutMs,
  });
  // A health-check kind needs no incoming request context.
  return source.process({ kind: 'health check' as never, request: { query }, context: {} });
}

describe('a subgraph fetch', () => {
  let subgraph: Awaited<ReturnType<typeof fakeSubgraph>> | undefined;
  afterEach(async () => {
    await subgraph?.stop();
    subgraph = undefined;
  });

  it('gives up on a subgraph that never answers, a query after one retry', async () => {
    subgraph = await fakeSubgraph(['hang']);
    const started = Date.now();
    const error = await call(subgraph.url, '{ books { id } }').catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(SubgraphTimeoutError);
    expect((error as Error).message).toBe('subgraph library did not answer within 300 ms');
    expect(subgraph.received).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(2 * 300 - 20);
    expect(elapsed).toBeLessThan(2 * 300 + 1000);
  });

  it('never retries a mutation that timed out', async () => {
    subgraph = await fakeSubgraph(['hang']);
    const started = Date.now();
    const error = await call(subgraph.url, 'mutation { borrowBook { id } }').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SubgraphTimeoutError);
    expect(subgraph.received).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(300 + 1000);
  });

  it('answers a query from the second attempt after a 503', async () => {
    subgraph = await fakeSubgraph([503, 'ok']);
    const response = await call(subgraph.url, 'query Op__library__0 { books { id } }');
    expect(response.data).toEqual({ ok: true });
    expect(subgraph.received).toHaveLength(2);
  });

  it('answers a query from the second attempt after the connection was reset', async () => {
    subgraph = await fakeSubgraph(['reset', 'ok']);
    const response = await call(subgraph.url, '{ books { id } }');
    expect(response.data).toEqual({ ok: true });
    expect(subgraph.received).toHaveLength(2);
  });

  it('does not retry a mutation after a 503', async () => {
    subgraph = await fakeSubgraph([503, 'ok']);
    await expect(call(subgraph.url, 'mutation { borrowBook { id } }')).rejects.toThrow(
      '503: Service Unavailable',
    );
    expect(subgraph.received).toHaveLength(1);
  });

  it('does not retry a query after a 500', async () => {
    subgraph = await fakeSubgraph([500, 'ok']);
    await expect(call(subgraph.url, '{ books { id } }')).rejects.toThrow(
      '500: Internal Server Error',
    );
    expect(subgraph.received).toHaveLength(1);
  });
});

describe("a fetch from a subgraph in the gateway's own process", () => {
  /** A subgraph route that answers its n-th request as `plan[n]` (the last thereafter). */
  function inProcessSubgraph(plan: ('hang' | 503 | 'ok')[]) {
    const received: InProcessRequest[] = [];
    const graphql = (request: InProcessRequest): Promise<InProcessAnswer> => {
      received.push(request);
      const behaviour = plan[Math.min(received.length - 1, plan.length - 1)]!;
      if (behaviour === 'hang') return new Promise(() => undefined);
      return Promise.resolve({
        status: behaviour === 'ok' ? 200 : behaviour,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(behaviour === 'ok' ? { data: { ok: true } } : { errors: [] }),
      });
    };
    return { graphql, received };
  }
  const callInProcess = (
    subgraph: ReturnType<typeof inProcessSubgraph>,
    query: string,
    timeoutMs = 300,
  ) =>
    createSubgraphDataSource({
      name: 'library',
      url: 'http://127.0.0.1:1/graphql',
      gatewayTokens,
      inProcess: subgraph.graphql,
      timeoutMs,
    }).process({
      kind: 'incoming operation' as never,
      request: { query, variables: { id: 1 } },
      context: { requestId: 'request-0001', clientIp: '198.51.100.4', accessClaims: null } as never,
      incomingRequestContext: {} as never,
    });

  it('hands over the headers and JSON an HTTP fetch sends, and reads the answer as one', async () => {
    const subgraph = inProcessSubgraph(['ok']);
    const response = await callInProcess(subgraph, '{ books { id } }');
    expect(response.data).toEqual({ ok: true });
    const [sent] = subgraph.received;
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers['x-request-id']).toBe('request-0001');
    expect(await gatewayTokens.verify(sent!.headers[GATEWAY_TOKEN_HEADER])).toMatchObject({
      identity: null,
      clientIp: '198.51.100.4',
    });
    expect(JSON.parse(sent!.body)).toEqual({ query: '{ books { id } }', variables: { id: 1 } });
  });

  it('gives up after the time limit, hanging up on each attempt, a query after one retry', async () => {
    const subgraph = inProcessSubgraph(['hang']);
    const error = await callInProcess(subgraph, '{ books { id } }').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubgraphTimeoutError);
    expect(subgraph.received).toHaveLength(2);
    expect(subgraph.received.map((request) => request.signal.aborted)).toEqual([true, true]);
  });

  it('retries a query after a 503 (a subgraph stopping), never a mutation', async () => {
    const query = inProcessSubgraph([503, 'ok']);
    expect((await callInProcess(query, '{ books { id } }')).data).toEqual({ ok: true });
    expect(query.received).toHaveLength(2);
    const mutation = inProcessSubgraph([503, 'ok']);
    await expect(callInProcess(mutation, 'mutation { borrowBook { id } }')).rejects.toThrow(
      '503: Service Unavailable',
    );
    expect(mutation.received).toHaveLength(1);
  });
});

describe('identical subgraph queries in flight', () => {
  let subgraph: Awaited<ReturnType<typeof fakeSubgraph>> | undefined;
  afterEach(async () => {
    await subgraph?.stop();
    subgraph = undefined;
  });
  const claims = (sub: string) =>
    ({ sub, role: 'USER', scope: 'user', jti: `token-${sub}` }) as never;
  const request = (
    source: ReturnType<typeof createSubgraphDataSource>,
    query: string,
    context: Record<string, unknown>,
  ) =>
    source.process({
      kind: 'incoming operation' as never,
      request: { query, variables: {} },
      context: { requestId: `r-${Math.random()}`, clientIp: null, ...context } as never,
      incomingRequestContext: {} as never,
    });
  const sourceFor = (url: string, epochs: WriteEpochs | null = localWriteEpochs()) =>
    createSubgraphDataSource({
      name: 'library',
      url,
      gatewayTokens,
      deduplicate: epochs ? { epochs } : false,
    });

  it('share one fetch for the same caller, and each request gets its own copy', async () => {
    subgraph = await fakeSubgraph(['slow']);
    const source = sourceFor(subgraph.url);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        request(source, '{ items { id } }', { accessClaims: claims('ada') }),
      ),
    );
    expect(subgraph.received).toHaveLength(1);
    expect(answers.map((a) => a.data)).toEqual(Array(10).fill({ items: [{ id: 'a' }] }));
    (answers[0]!.data as { items: { id: string }[] }).items[0]!.id = 'changed';
    expect((answers[1]!.data as { items: { id: string }[] }).items[0]!.id).toBe('a');
  });

  it('are not shared between callers, nor once answered, nor for mutations, nor when switched off', async () => {
    subgraph = await fakeSubgraph(['slow']);
    const source = sourceFor(subgraph.url);
    await Promise.all([
      request(source, '{ items { id } }', { accessClaims: claims('ada') }),
      request(source, '{ items { id } }', { accessClaims: claims('bob') }),
      request(source, '{ items { id } }', { accessClaims: null }),
    ]);
    expect(subgraph.received).toHaveLength(3);
    await request(source, '{ items { id } }', { accessClaims: claims('ada') });
    expect(subgraph.received).toHaveLength(4);
    await Promise.all(
      Array.from({ length: 3 }, () =>
        request(source, 'mutation { borrowBook { id } }', { accessClaims: claims('ada') }),
      ),
    );
    expect(subgraph.received).toHaveLength(7);
    const plain = sourceFor(subgraph.url, null);
    await Promise.all(
      Array.from({ length: 3 }, () =>
        request(plain, '{ items { id } }', { accessClaims: claims('ada') }),
      ),
    );
    expect(subgraph.received).toHaveLength(10);
  });

  it('are not shared across a write of the same user: a fetch after it does not take one from before', async () => {
    subgraph = await fakeSubgraph(['slow']);
    const epochs = localWriteEpochs();
    const source = sourceFor(subgraph.url, epochs);
    const before = request(source, '{ items { id } }', { accessClaims: claims('ada') });
    await waitFor(() => subgraph!.received.length === 1, { what: 'the first fetch to start' });
    // Ada's mutation answers (from another session: the user is the writer), then she asks.
    await epochs.bump(writerOf({ accessClaims: claims('ada'), clientIp: '10.0.0.9' }));
    const after = request(source, '{ items { id } }', { accessClaims: claims('ada') });
    const sameTime = request(source, '{ items { id } }', { accessClaims: claims('ada') });
    await Promise.all([before, after, sameTime]);
    // Before and after the write: two fetches; the two after it share one.
    expect(subgraph.received).toHaveLength(2);
  });
});

describe('telling a query from the operation text', () => {
  it.each([
    ['{ books { id } }', true],
    ['query Op__library__0 { books { id } }', true],
    ['  # comment\n query($r:[_Any!]!){_entities(representations:$r){__typename}}', true],
    ['mutation { borrowBook { id } }', false],
    ['mutation Op__loans__1 { borrowBook { id } }', false],
    ['subscription { bookReturned { id } }', false],
    ['queryX { a }', false],
    ['', false],
  ])('%j is a query: %s', (operation, expected) => {
    expect(isQuery(operation)).toBe(expected);
  });
});
