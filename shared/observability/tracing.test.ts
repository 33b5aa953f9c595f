/**
 * Tracing off (no provider registered, as without OTEL_EXPORTER_OTLP_ENDPOINT): the helpers
 * step aside, so nothing carries a trace context. The end-to-end trace with a provider is
 * test/e2e/tracing.test.ts.
 */
import express from 'express';
import { postGraphQL, testLogger } from '../testing/index.ts';
import {
  consumeSpan,
  contextFromTraceparent,
  currentTraceparent,
  startTracing,
  traceHttpRequests,
} from './index.ts';

const CLIENT_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing, when not configured', () => {
  it('registers nothing', async () => {
    const tracing = startTracing({
      serviceName: 'test',
      endpoint: undefined,
      logger: testLogger(),
    });
    expect(tracing.enabled).toBe(false);
    await tracing.stop();
  });

  it('has no traceparent to give, even inside a request that sent one', async () => {
    const app = express();
    let seen: string | undefined = 'not called';
    app.use('/graphql', traceHttpRequests('test'), (_req, res) => {
      seen = currentTraceparent();
      res.json({ data: {} });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      await postGraphQL(
        `http://127.0.0.1:${port}/graphql`,
        '{ __typename }',
        {},
        {
          traceparent: CLIENT_TRACEPARENT,
        },
      );
    } finally {
      server.close();
    }
    expect(seen).toBeUndefined();
  });

  it('applies an event without a span: what it publishes carries no traceparent', async () => {
    const published = await consumeSpan(
      {
        service: 'catalog',
        system: 'kafka',
        topic: 'orders.events',
        group: 'catalog.orders',
        eventId: 'e1',
        eventType: 'order.placed',
        subject: 'o1',
        partition: 0,
        offset: '0',
        traceparent: CLIENT_TRACEPARENT,
      },
      async () => currentTraceparent(),
    );
    expect(published).toBeUndefined();
  });

  it('reads a traceparent, and ignores a malformed one', () => {
    expect(currentTraceparent(contextFromTraceparent(CLIENT_TRACEPARENT))).toBe(CLIENT_TRACEPARENT);
    expect(currentTraceparent(contextFromTraceparent('00-nonsense'))).toBeUndefined();
  });
});
