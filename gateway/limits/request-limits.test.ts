import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { Registry } from 'prom-client';
import { graphqlErrorHandler } from '../../shared/server/index.ts';
import { testLogger, waitFor } from '../../shared/testing/index.ts';
import { limitConcurrency } from './request-limits.ts';

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: Record<string, unknown>;
}

/**
 * An app whose requests (`?id=N`) pass `limitConcurrency` and are then held until the test
 * finishes them: what arrived, what started and in which order, and what the metrics say.
 */
async function heldApp(limits: { maxConcurrent: number; maxQueued: number }) {
  const registry = new Registry();
  const arrived: string[] = [];
  const started: string[] = [];
  /** Requests whose connection closed before their answer. */
  const left: string[] = [];
  const held = new Map<string, () => void>();
  const app = express();
  app.use(
    '/graphql',
    (req: Request, res: Response, next: NextFunction) => {
      const id = req.query['id'] as string;
      res.locals['logger'] = testLogger();
      res.locals['requestId'] = `req-${id}`;
      arrived.push(id);
      res.once('close', () => {
        if (!res.writableFinished) left.push(id);
      });
      next();
    },
    limitConcurrency({ ...limits, registry }),
    (req: Request, res: Response) => {
      const id = req.query['id'] as string;
      started.push(id);
      held.set(id, () => res.json({ data: { id } }));
    },
    graphqlErrorHandler,
  );
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  /**
   * Sends request `id` on a connection of its own and resolves, once the server has it
   * (limited or not), with the promise of its answer.
   */
  async function send(id: string, signal?: AbortSignal) {
    const response = new Promise<Answer>((resolve, reject) => {
      const request = http.get(`${base}?id=${id}`, { agent: false, signal }, (answer) => {
        let text = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => (text += chunk));
        answer.on('end', () =>
          resolve({
            status: answer.statusCode!,
            retryAfter: answer.headers['retry-after'],
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      });
      request.on('error', reject);
    });
    response.catch(() => undefined);
    await waitFor(() => arrived.includes(id), { what: `request ${id} to arrive` });
    return { response };
  }
  return {
    started,
    send,
    /**
     * Sends request `id` as `send` does; its `leave` closes the connection and resolves once
     * the server has seen it go.
     */
    async sendLeaving(id: string) {
      const leaving = new AbortController();
      const { response } = await send(id, leaving.signal);
      return {
        async leave() {
          leaving.abort();
          await expect(response).rejects.toThrow();
          await waitFor(() => left.includes(id), { what: `the server to see request ${id} leave` });
        },
      };
    },
    /** Answers the started request `id`. */
    finish(id: string) {
      held.get(id)!();
    },
    async gauge(name: string) {
      const metric = await registry.getSingleMetric(name)!.get();
      return metric.values[0]?.value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('limitConcurrency', () => {
  let app: Awaited<ReturnType<typeof heldApp>>;
  afterEach(async () => {
    await app.close();
  });

  it('works on at most maxConcurrent requests; the others start in arrival order as turns end', async () => {
    app = await heldApp({ maxConcurrent: 2, maxQueued: 10 });
    const answers = [];
    for (const id of ['1', '2', '3', '4']) answers.push((await app.send(id)).response);
    expect(app.started).toEqual(['1', '2']);
    expect(await app.gauge('gateway_requests_working')).toBe(2);
    expect(await app.gauge('gateway_requests_waiting')).toBe(2);

    app.finish('2');
    await waitFor(() => app.started.length === 3, { what: 'request 3 to start' });
    expect(app.started).toEqual(['1', '2', '3']);
    app.finish('1');
    await waitFor(() => app.started.length === 4, { what: 'request 4 to start' });
    app.finish('3');
    app.finish('4');
    expect((await Promise.all(answers)).map((answer) => answer.body)).toEqual(
      ['1', '2', '3', '4'].map((id) => ({ data: { id } })),
    );
    await waitFor(async () => (await app.gauge('gateway_requests_working')) === 0, {
      what: 'every turn to end',
    });
    expect(await app.gauge('gateway_requests_waiting')).toBe(0);
  });

  it('refuses a request once maxQueued are waiting: 503, Retry-After and SERVICE_UNAVAILABLE', async () => {
    app = await heldApp({ maxConcurrent: 1, maxQueued: 1 });
    const { response: first } = await app.send('1');
    const { response: second } = await app.send('2');
    const { response: refused } = await app.send('3');
    expect(await refused).toEqual({
      status: 503,
      retryAfter: '1',
      body: {
        errors: [
          {
            message: 'The gateway is at capacity; retry shortly',
            extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: 1 },
          },
        ],
      },
    });
    expect(await app.gauge('gateway_requests_refused_total')).toBe(1);
    app.finish('1');
    await waitFor(() => app.started.includes('2'), { what: 'request 2 to start' });
    app.finish('2');
    expect([(await first).status, (await second).status]).toEqual([200, 200]);
  });

  it('gives no turn to a request whose client left while it waited', async () => {
    app = await heldApp({ maxConcurrent: 1, maxQueued: 10 });
    const { response: first } = await app.send('1');
    const leaving = await app.sendLeaving('2');
    const { response: third } = await app.send('3');
    await leaving.leave();

    app.finish('1');
    await waitFor(() => app.started.includes('3'), { what: 'request 3 to start' });
    expect(app.started).toEqual(['1', '3']);
    app.finish('3');
    expect([(await first).status, (await third).status]).toEqual([200, 200]);
  });

  it('ends the turn of a request whose client left while it was worked on', async () => {
    app = await heldApp({ maxConcurrent: 1, maxQueued: 10 });
    const leaving = await app.sendLeaving('1');
    const { response: second } = await app.send('2');
    await leaving.leave();

    await waitFor(() => app.started.includes('2'), { what: 'request 2 to start' });
    app.finish('2');
    expect((await second).status).toBe(200);
  });
});
