/**
 * Two gateway replicas over the same subgraphs and Redis, as behind a load balancer: a
 * user's write answered by one gateway is seen by the user's next query on the other, even
 * while an identical query of the user's, started there before the write, is still in
 * flight (coalescing and fetch dedup must not hand the new query that older answer).
 *
 * The second gateway reaches the users subgraph through a proxy that can hold one answer
 * back: that keeps the older query in flight, on a known answer, for as long as the test
 * needs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PlatformHandle } from '../../platform/platform.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import { captureLogs, postGraphQL, waitFor } from '../../shared/testing/index.ts';
import { startLoneGateway, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const operation = (name: string) =>
  readFile(path.join(ROOT, 'schema/operations', `${name}.graphql`), 'utf8');

/**
 * An HTTP proxy to `target` that, once `holdNext()` is called, forwards the next request
 * but keeps its answer until `release()`; every other request passes straight through.
 */
async function holdingProxy(target: string) {
  let holding: { arrived: () => void; released: Promise<void> } | null = null;
  let release = () => {};
  let received = 0;
  const forward = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    received += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const hold = holding;
    holding = null;
    const upstream = await fetch(new URL(request.url!, target), {
      method: request.method!,
      headers: Object.fromEntries(
        Object.entries(request.headers).filter(
          (entry): entry is [string, string] =>
            typeof entry[1] === 'string' && !['host', 'connection'].includes(entry[0]),
        ),
      ),
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    const body = Buffer.from(await upstream.arrayBuffer());
    if (hold) {
      hold.arrived();
      await hold.released;
    }
    response.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'application/json',
    });
    response.end(body);
  };
  const server = http.createServer((request, response) => {
    forward(request, response).catch((error: unknown) => {
      response.writeHead(502).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Requests that have arrived so far. */
    received: () => received,
    /** Holds the next request's answer; resolves once that answer has come back from upstream. */
    holdNext(): Promise<void> {
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      return new Promise<void>((arrived) => {
        holding = { arrived, released };
      });
    },
    release: () => release(),
    async stop() {
      release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const logs = captureLogs();
let fixture: TestPlatform;
let proxy: Awaited<ReturnType<typeof holdingProxy>>;
let second: PlatformHandle;

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger);
  const url = (name: string) => `${fixture.platform.subgraphs.get(name as never)!.url}/graphql`;
  proxy = await holdingProxy(fixture.platform.subgraphs.get('users')!.url);
  second = await startLoneGateway({
    REDIS_KEY_PREFIX: fixture.redis.prefix,
    // The held fetch must not time out (and be retried) while the test holds it.
    GATEWAY_SUBGRAPH_TIMEOUT_MS: '120000',
    ...Object.fromEntries(
      SUBGRAPHS.map((s) => [
        `${s.name.toUpperCase()}_URL`,
        s.name === 'users' ? `${proxy.url}/graphql` : url(s.name),
      ]),
    ),
  });
});

afterAll(async () => {
  await proxy?.stop();
  await second?.stop();
  await fixture?.stop();
});

describe('gateway replicas', () => {
  it("show a user's write made through one gateway to the user's next query on the other, while an older identical query is in flight there", async () => {
    const token = await fixture.register('replicas@example.com', 'Before');
    const me = await operation('users/me');
    const askSecond = () =>
      postGraphQL<{ me: { name: string } }>(`${second.gateway!.url}/graphql`, me, undefined, {
        authorization: `Bearer ${token}`,
      });
    expect((await askSecond()).body.data?.me.name).toBe('Before');

    // An older `me` on the second gateway, held in flight with the name before the write.
    const held = proxy.holdNext();
    const older = askSecond();
    await held;

    // The write, answered by the first gateway.
    const updated = await fixture.data<{ updateProfile: { name: string } }>(
      await operation('users/update-profile'),
      { input: { name: 'After' } },
      token,
    );
    expect(updated.updateProfile.name).toBe('After');

    // The user's next query, on the second gateway, while the older one is still held: it
    // must reach the subgraph on its own instead of waiting for the older answer.
    const fetchesBefore = proxy.received();
    const newer = askSecond();
    await waitFor(() => proxy.received() > fetchesBefore, {
      what: 'the newer query to fetch on its own, not wait for the older one held in flight',
    });
    const newerAnswer = await newer;
    expect(newerAnswer.body.errors).toBeUndefined();
    expect(newerAnswer.body.data?.me.name).toBe('After');

    proxy.release();
    expect((await older).body.data?.me.name).toBe('Before');
    const metrics = await (await fetch(`${second.gateway!.url}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_coalesced_operations_total\{service="gateway"\} 0$/m);
  });
});
