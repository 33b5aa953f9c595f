/**
 * OpenTelemetry tracing end to end: with a tracer provider registered (here one exporting to
 * memory, as OTEL_EXPORTER_OTLP_ENDPOINT would register one exporting over OTLP), one client
 * request that places an order yields one trace, from the client's `traceparent` through the
 * gateway, the orders subgraph, the outbox and Kafka, catalog's reservation and back to
 * orders' confirmation. Every other suite runs without a provider: tracing off.
 */
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import pg from 'pg';
import { ATTR_EVENTGRAPH_SERVICE, startTracing } from '../../shared/observability/index.ts';
import type { Tracing } from '../../shared/observability/index.ts';
import { captureLogs, postGraphQL, waitFor } from '../../shared/testing/index.ts';
import { startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';
const logs = captureLogs();
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let fixture: TestPlatform;
let db: pg.Client;

beforeAll(async () => {
  tracing = startTracing({ serviceName: 'eventgraph-test', logger: logs.logger, exporter });
  fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL });
  db = new pg.Client({ connectionString: fixture.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
  await tracing?.stop();
});

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The one span of `spans` matching; fails naming what is there otherwise. */
function only(spans: readonly ReadableSpan[], what: string, match: (s: ReadableSpan) => boolean) {
  const found = spans.filter(match);
  if (found.length !== 1) {
    const names = spans.map((s) => `${s.name} [${String(s.attributes[ATTR_EVENTGRAPH_SERVICE])}]`);
    throw new Error(`expected one ${what}, found ${found.length} among: ${names.join(', ')}`);
  }
  return found[0]!;
}

describe('tracing', () => {
  it('follows an order from the client through gateway, subgraph, Kafka and both consumers', async () => {
    const admin = await fixture.register(ADMIN_EMAIL);
    const { createProduct: product } = await fixture.data<{ createProduct: { id: string } }>(
      `mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { name: 'Traced widget', priceCents: 500, currency: 'EUR', stock: 3 } },
      admin,
    );
    await fixture.untilSellable(product.id);
    const ada = await fixture.register('ada@example.com');
    await fixture.data(
      'mutation ($id: ID!) { addToCart(productId: $id, quantity: 1) { totalCents } }',
      { id: product.id },
      ada,
    );

    // The client's own span: the trace the whole flow must join.
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const placed = await postGraphQL<{ placeOrder: { id: string } }>(
      `${fixture.gatewayUrl}/graphql`,
      'mutation PlaceOrder { placeOrder { id } }',
      {},
      { authorization: `Bearer ${ada}`, traceparent: `00-${traceId}-${clientSpanId}-01` },
    );
    expect(placed.body.errors).toBeUndefined();
    const orderId = placed.body.data!.placeOrder.id;
    await waitFor(
      async () => {
        const { rows } = await db.query('select status from orders.orders where id = $1', [
          orderId,
        ]);
        return rows[0]?.status === 'CONFIRMED';
      },
      { timeoutMs: 10_000, what: `order ${orderId} to be confirmed` },
    );
    await tracing.flush();

    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const service = (name: string) => (s: ReadableSpan) =>
      s.attributes[ATTR_EVENTGRAPH_SERVICE] === name;

    // Gateway: a server span under the client's, named after the operation.
    const gateway = only(spans, 'gateway server span', service('gateway'));
    expect(gateway).toMatchObject({ kind: SpanKind.SERVER, name: 'mutation PlaceOrder' });
    expect(gateway.attributes).toMatchObject({
      'graphql.operation.type': 'mutation',
      'graphql.operation.name': 'PlaceOrder',
      'http.response.status_code': 200,
    });
    expect(parentOf(gateway)).toBe(clientSpanId);

    // The executor's spans (named as @apollo/gateway names its own) join it; the orders fetch
    // is the subgraph span's parent.
    const gatewaySpans = spans.filter(
      (s) => s.instrumentationScope.name === 'eventgraph/gateway-executor',
    );
    expect(gatewaySpans.map((s) => s.name)).toEqual(
      expect.arrayContaining(['gateway.request', 'gateway.plan', 'gateway.fetch']),
    );
    const orders = only(
      spans,
      'orders server span',
      (s) => service('orders')(s) && s.kind === SpanKind.SERVER,
    );
    const fetch = only(gatewaySpans, 'fetch to orders', (s) => spanId(s) === parentOf(orders));
    expect(fetch.name).toBe('gateway.fetch');

    // The outbox carried the trace: catalog reserves under the orders request…
    const reserve = only(
      spans,
      'catalog consumer span for order.placed',
      (s) => service('catalog')(s) && s.name === 'process order.placed',
    );
    expect(reserve.kind).toBe(SpanKind.CONSUMER);
    expect(reserve.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'orders.events',
      'messaging.consumer.group.name': expect.stringMatching(/^catalog\./),
      'cloudevents.event_type': 'order.placed',
      'cloudevents.event_subject': orderId,
    });
    expect(parentOf(reserve)).toBe(spanId(orders));

    // …and orders confirms under catalog's reservation.
    const confirm = only(
      spans,
      'orders consumer span for stock.reserved',
      (s) => service('orders')(s) && s.name === 'process stock.reserved',
    );
    expect(confirm.kind).toBe(SpanKind.CONSUMER);
    expect(confirm.attributes['messaging.destination.name']).toBe('catalog.events');
    expect(parentOf(confirm)).toBe(spanId(reserve));

    // The Kafka message of stock.reserved carries the same context, header and envelope.
    const { rows } = await db.query<{ header: string; envelope: string }>(
      `select headers->>'traceparent' as header, value::jsonb->>'traceparent' as envelope
         from catalog.outbox where key = $1 and value::jsonb->>'type' = 'stock.reserved'`,
      [orderId],
    );
    expect(rows).toEqual([
      {
        header: `00-${traceId}-${spanId(reserve)}-01`,
        envelope: `00-${traceId}-${spanId(reserve)}-01`,
      },
    ]);
  });

  it('starts a trace of its own for a request without traceparent, and sends none back', async () => {
    exporter.reset();
    const response = await postGraphQL(`${fixture.gatewayUrl}/graphql`, '{ __typename }');
    expect(response.body.errors).toBeUndefined();
    expect(response.headers.get('traceparent')).toBeNull();
    await tracing.flush();
    const gateway = only(
      exporter.getFinishedSpans(),
      'gateway server span',
      (s) => s.attributes[ATTR_EVENTGRAPH_SERVICE] === 'gateway',
    );
    expect(gateway.parentSpanContext).toBeUndefined();
    expect(gateway.name).toBe('query');
  });
});
