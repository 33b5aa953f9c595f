/**
 * A lone gateway process (SERVICE=gateway) and its supergraph: introspection and the
 * Sandbox landing page are off in production unless switched on (GATEWAY_INTROSPECTION,
 * GATEWAY_SANDBOX); the supergraph comes from SUPERGRAPH_PATH or is composed at start
 * (SUPERGRAPH_SOURCE=compose); start-up fails with a message naming SUPERGRAPH_PATH when the
 * file cannot be served. No subgraph is needed: the gateway answers introspection from the
 * supergraph itself.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_SUPERGRAPH_PATH } from '../../gateway/supergraph/supergraph.ts';
import type { PlatformHandle } from '../../platform/platform.ts';
import { SUBGRAPHS } from '../../platform/services.ts';
import { postGraphQL } from '../../shared/testing/index.ts';
import { codes, startLoneGateway } from './fixture.ts';

const INTROSPECTION = '{ __schema { queryType { name } } }';

const SUBGRAPH_NAMES = SUBGRAPHS.map((s) => s.name);

const startGateway = (env: Record<string, string>) => startLoneGateway(env);

async function landingPage(gatewayUrl: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gatewayUrl}/`, { headers: { accept: 'text/html' } });
  return { status: response.status, text: await response.text() };
}

describe('a production gateway', () => {
  let platform: PlatformHandle | undefined;
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });

  it('refuses introspection and serves no Sandbox page', async () => {
    platform = await startGateway({ NODE_ENV: 'production' });
    const url = platform.gateway!.url;

    const introspection = await postGraphQL(`${url}/graphql`, INTROSPECTION);
    expect(introspection.status).toBe(400);
    expect(codes(introspection)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(introspection.body.errors?.[0]?.message).toBe(
      'GraphQL introspection is off on this gateway (GATEWAY_INTROSPECTION=true turns it on)',
    );

    const landing = await landingPage(url);
    expect(landing.status).not.toBe(200);
    expect(landing.text).not.toMatch(/sandbox/i);
  });

  it('serves both when GATEWAY_INTROSPECTION and GATEWAY_SANDBOX are switched on', async () => {
    platform = await startGateway({
      NODE_ENV: 'production',
      GATEWAY_INTROSPECTION: 'true',
      GATEWAY_SANDBOX: 'true',
    });
    const url = platform.gateway!.url;

    const introspection = await postGraphQL(`${url}/graphql`, INTROSPECTION);
    expect(introspection.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });

    const landing = await landingPage(url);
    expect(landing.status).toBe(200);
    expect(landing.text).toMatch(/embeddable-sandbox/);
  });

  it('keeps both on in development unless switched off', async () => {
    platform = await startGateway({ NODE_ENV: 'development', GATEWAY_SANDBOX: 'false' });
    const url = platform.gateway!.url;
    expect((await postGraphQL(`${url}/graphql`, INTROSPECTION)).status).toBe(200);
    expect((await landingPage(url)).text).not.toMatch(/sandbox/i);
  });
});

describe('the supergraph a gateway serves', () => {
  let platform: PlatformHandle | undefined;
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });

  it.each([['file'], ['compose']])(
    'is the composition of the subgraph SDL with SUPERGRAPH_SOURCE=%s',
    async (source) => {
      platform = await startGateway({ SUPERGRAPH_SOURCE: source });
      const response = await postGraphQL<{ __type: { fields: { name: string }[] } }>(
        `${platform.gateway!.url}/graphql`,
        '{ __type(name: "Query") { fields { name } } }',
      );
      expect(response.body.data?.__type.fields.map((f) => f.name)).toEqual(
        expect.arrayContaining(['me', 'user', 'users']),
      );
    },
  );
});

describe('a gateway whose supergraph cannot be served', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-gateway-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('fails start-up naming SUPERGRAPH_PATH when the file is missing', async () => {
    const missing = path.join(directory, 'missing.graphql');
    await expect(startGateway({ SUPERGRAPH_PATH: missing })).rejects.toThrow(
      `SUPERGRAPH_PATH: ${missing} cannot be read: ENOENT`,
    );
  });

  it('fails start-up naming SUPERGRAPH_PATH when the file is not a supergraph', async () => {
    const corrupt = path.join(directory, 'corrupt.graphql');
    await writeFile(corrupt, 'type Query {\n  me: User\n');
    await expect(startGateway({ SUPERGRAPH_PATH: corrupt })).rejects.toThrow(
      `SUPERGRAPH_PATH: ${corrupt} is not a usable supergraph: Syntax Error: Expected Name, found <EOF>. (line 3, column 1)`,
    );
  });

  it('fails start-up naming the subgraph the file routes to without an endpoint', async () => {
    const withInventory = path.join(directory, 'with-inventory.graphql');
    const checkedIn = await readFile(DEFAULT_SUPERGRAPH_PATH, 'utf8');
    await writeFile(
      withInventory,
      checkedIn.replace(
        /(enum join__Graph \{\n)/,
        '$1  INVENTORY @join__graph(name: "inventory", url: "http://inventory:4009/graphql")\n',
      ),
    );
    await expect(startGateway({ SUPERGRAPH_PATH: withInventory })).rejects.toThrow(
      `SUPERGRAPH_PATH: ${withInventory} is not a usable supergraph: it routes to inventory, which this gateway has no endpoint for (it has ${SUBGRAPH_NAMES.join(', ')})`,
    );
  });

  it('fails start-up naming a subscription declaration it cannot serve', async () => {
    const unknownEvent = path.join(directory, 'unknown-event.graphql');
    const checkedIn = await readFile(DEFAULT_SUPERGRAPH_PATH, 'utf8');
    await writeFile(
      unknownEvent,
      checkedIn.replace('events: ["order.placed"]', 'events: ["order.teleported"]'),
    );
    await expect(startGateway({ SUPERGRAPH_PATH: unknownEvent })).rejects.toThrow(
      `SUPERGRAPH_PATH: ${unknownEvent} is not a usable supergraph: live schema: @changedBy on Subscription.orderStatusChanged names order.teleported, which the event catalogue does not hold`,
    );
  });
});
