/**
 * A subscription the gateway was never told about: the conformance fixture's inventory
 * subgraph declares `productRestocked(upc)` in its own schema, fed by its own
 * `inventory.restocked` events (an event catalogue of the fixture's), resolved through the
 * products subgraph's `@lookup` and inventory's entity fields. Through our gateway, with no
 * gateway change, a client gets the product's state and then its state after each restock;
 * an event for another product, or one that fails the catalogue, sends nothing.
 */
import { createClient } from 'graphql-ws';
import type { Client, ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { createEnvelope, createInProcessTransport } from '../../shared/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import { testLogger, waitFor } from '../../shared/testing/index.ts';
import { startConformanceGateways } from './gateways.ts';
import type { ConformanceGateways } from './gateways.ts';
import { startConformanceSubgraphs } from './subgraphs.ts';
import type { ConformanceSubgraphs } from './subgraphs.ts';

let subgraphs: ConformanceSubgraphs;
let gateways: ConformanceGateways;
let transport: EventTransport;
let client: Client;

beforeAll(async () => {
  transport = createInProcessTransport({ logger: testLogger() });
  subgraphs = await startConformanceSubgraphs();
  gateways = await startConformanceGateways(subgraphs, transport);
  client = createClient({
    url: gateways.ours.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
  });
});

afterAll(async () => {
  await client?.dispose();
  await gateways?.stop();
  await subgraphs?.stop();
  await transport?.stop();
});

/** Publishes what inventory would after a restock (or anything else, as `data`). */
async function publish(data: unknown) {
  const event = createEnvelope(
    'inventory',
    { type: 'inventory.restocked', subject: 'x', data },
    undefined,
  );
  await transport.send([
    { topic: 'inventory.events', key: 'x', value: JSON.stringify(event), headers: {} },
  ]);
}

function follow(query: string) {
  const results: ExecutionResult[] = [];
  const errors: unknown[] = [];
  client.subscribe(
    { query },
    {
      next: (value) => void results.push(value as ExecutionResult),
      error: (error) => void errors.push(error),
      complete: () => undefined,
    },
  );
  return { results, errors };
}

it('serves a subscription a fixture subgraph declares: the current state, then each restock', async () => {
  const couch = follow('subscription { productRestocked(upc: "2") { upc name inStock units } }');
  const table = follow('subscription { productRestocked(upc: "1") { name units } }');
  await waitFor(() => couch.results.length === 1 && table.results.length === 1, {
    what: 'the current states',
  });
  expect(couch.results[0]).toEqual({
    data: { productRestocked: { upc: '2', name: 'Couch', inStock: false, units: 0 } },
  });

  subgraphs.restock('COUCH', 4);
  await publish({ upc: '2', sku: 'COUCH', units: 4 });
  await waitFor(() => couch.results.length === 2, { what: 'the restocked couch' });
  expect(couch.results[1]).toEqual({
    data: { productRestocked: { upc: '2', name: 'Couch', inStock: true, units: 4 } },
  });

  // Not an inventory.restocked the catalogue accepts: nobody hears of it.
  subgraphs.restock('TABLE', 9);
  await publish({ upc: '1', sku: 'TABLE' });
  subgraphs.restock('COUCH', 5);
  await publish({ upc: '2', sku: 'COUCH', units: 5 });
  await waitFor(() => couch.results.length === 3, { what: 'the second restock' });
  expect(couch.results[2]!.data).toEqual({
    productRestocked: { upc: '2', name: 'Couch', inStock: true, units: 5 },
  });
  // The table's event was invalid, and the couch's events were not about it.
  expect(table.results).toEqual([{ data: { productRestocked: { name: 'Table', units: 1 } } }]);
  expect([...couch.errors, ...table.errors]).toEqual([]);
});

it('refuses a product that does not exist', async () => {
  const missing = follow('subscription { productRestocked(upc: "404") { name } }');
  await waitFor(() => missing.errors.length > 0, { what: 'the refusal' });
  expect(missing.errors[0]).toEqual([
    expect.objectContaining({
      message: 'Product not found',
      extensions: expect.objectContaining({ code: 'NOT_FOUND' }),
    }),
  ]);
});
