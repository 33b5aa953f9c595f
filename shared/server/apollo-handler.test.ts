import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import express from 'express';
import { apolloHandler, searchOf } from './apollo-handler.ts';

describe('searchOf', () => {
  it.each([
    ['/graphql', ''],
    ['/graphql?', '?'],
    ['/graphql?query=%7B%20a%20%7D', '?query=%7B%20a%20%7D'],
    ['/graphql?a=1#part', '?a=1'],
    ['/g?a=b?c', '?a=b?c'],
    ['/graphql#x?y', ''],
  ])('%s has the query string %j', (url, search) => {
    expect(searchOf(url)).toBe(search);
  });
});

describe('apolloHandler', () => {
  let server: http.Server;
  let apollo: ApolloServer<{ who: string }>;
  let base: string;

  beforeAll(async () => {
    apollo = new ApolloServer<{ who: string }>({
      typeDefs: 'type Query { hello(name: String): String, who: String }',
      resolvers: {
        Query: {
          hello: (_: unknown, { name }: { name?: string }) => `héllo ${name ?? 'you'}`,
          who: (_: unknown, __: unknown, context: { who: string }) => context.who,
        },
      },
    });
    await apollo.start();
    const app = express();
    app.use(
      '/graphql',
      express.json(),
      apolloHandler(apollo, {
        context: async ({ req }) => ({ who: req.get('x-who') ?? 'nobody' }),
      }),
    );
    app.use('/unparsed', apolloHandler(apollo, { context: async () => ({ who: '' }) }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await apollo.stop();
  });

  it('answers a POST with Apollo’s body, its content type and its length in bytes', async () => {
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-who': 'ada' },
      body: JSON.stringify({ query: '{ hello(name: "Zoë") who }' }),
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(text).toBe('{"data":{"hello":"héllo Zoë","who":"ada"}}\n');
  });

  it('reads a GET’s operation and variables from the query string', async () => {
    const params = new URLSearchParams({
      query: 'query ($n: String) { hello(name: $n) }',
      variables: JSON.stringify({ n: 'a b' }),
    });
    const response = await fetch(`${base}/graphql?${params.toString()}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { hello: 'héllo a b' } });
  });

  it('refuses with 500 when no body parser ran before it', async () => {
    const response = await fetch(`${base}/unparsed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ who }"}',
    });
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/body parser must run before Apollo Server/);
  });
});
