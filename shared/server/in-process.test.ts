/**
 * A subgraph's route for a gateway in its own process answers as its HTTP route would: the
 * caller is admitted by the gateway token before GraphQL runs, the answer is Apollo's JSON
 * text with its status and headers under the request's id, a refusal is a GraphQL error
 * with a code, and stopping lets what was handed over answer while refusing what comes next.
 */
import { ApolloServer } from '@apollo/server';
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../auth/index.ts';
import type { Caller } from '../auth/index.ts';
import { createMetrics } from '../observability/index.ts';
import { captureLogs, waitFor } from '../testing/index.ts';
import { inProcessRoute } from './in-process.ts';
import type { InProcessRequest } from './in-process.ts';

interface Context {
  requestId: string;
  clientIp: string | null;
  signal: AbortSignal;
}

const tokens = createGatewayTokens({ secret: 'in-process-test-secret-0123456789-abcdefgh' });
const logs = captureLogs();
let apollo: ApolloServer<Context>;
let route: ReturnType<typeof inProcessRoute>;
let resolved = 0;
/** Resolves the `slow` field when called. */
let release: (() => void) | undefined;
let slowSignal: AbortSignal | undefined;

beforeEach(async () => {
  resolved = 0;
  release = undefined;
  slowSignal = undefined;
  apollo = new ApolloServer<Context>({
    typeDefs: 'type Query { who: String, requestId: String, slow: String }',
    resolvers: {
      Query: {
        who: (_: unknown, __: unknown, context: Context) => {
          resolved++;
          return context.clientIp;
        },
        requestId: (_: unknown, __: unknown, context: Context) => context.requestId,
        slow: (_: unknown, __: unknown, context: Context) => {
          slowSignal = context.signal;
          return new Promise((resolve) => (release = () => resolve('done')));
        },
      },
    },
  });
  await apollo.start();
  route = inProcessRoute<Context, Caller>({
    service: 'library',
    apollo,
    logger: logs.logger,
    metrics: createMetrics('library'),
    admit: (headers) => tokens.verify(headers[GATEWAY_TOKEN_HEADER]),
    context: ({ requestId, caller, signal }) => ({
      requestId,
      clientIp: caller.clientIp,
      signal,
    }),
  });
});

afterEach(async () => {
  await apollo.stop();
});

async function request(
  query: string,
  headers: Record<string, string> = {},
  signal = new AbortController().signal,
): Promise<InProcessRequest> {
  const token = await tokens.sign({ claims: null, clientIp: '203.0.113.7' });
  return {
    headers: { 'content-type': 'application/json', [GATEWAY_TOKEN_HEADER]: token, ...headers },
    body: JSON.stringify({ query }),
    signal,
  };
}

const bodyOf = (answer: { body: string }) => JSON.parse(answer.body) as Record<string, unknown>;

describe('a subgraph called in its own process', () => {
  it('answers with the JSON, status and headers its HTTP route sends, under the request id given', async () => {
    const answer = await route.graphql(
      await request('{ who requestId }', { 'x-request-id': 'fetch-0001' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['x-request-id']).toBe('fetch-0001');
    expect(bodyOf(answer)).toEqual({ data: { who: '203.0.113.7', requestId: 'fetch-0001' } });
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        msg: 'request completed',
        requestId: 'fetch-0001',
        method: 'POST',
        path: '/graphql',
        status: 200,
      }),
    );
  });

  it('refuses a request without a valid gateway token before GraphQL runs', async () => {
    for (const headers of [{ [GATEWAY_TOKEN_HEADER]: '' }, { [GATEWAY_TOKEN_HEADER]: 'forged' }]) {
      const answer = await route.graphql(await request('{ who }', headers));
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
      expect(bodyOf(answer)).toMatchObject({
        errors: [{ extensions: { code: 'UNAUTHENTICATED' } }],
      });
    }
    expect(resolved).toBe(0);
  });

  it('refuses a body that is not JSON with BAD_REQUEST', async () => {
    const answer = await route.graphql({ ...(await request('{ who }')), body: '{"query": ' });
    expect(answer.status).toBe(400);
    expect(bodyOf(answer)).toEqual({
      errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }],
    });
  });

  it("hands the caller's hang-up to the request as its signal", async () => {
    const hangUp = new AbortController();
    const answer = route.graphql(await request('{ slow }', {}, hangUp.signal));
    await waitFor(() => release !== undefined, { what: 'the slow field to be resolving' });
    expect(slowSignal?.aborted).toBe(false);
    hangUp.abort();
    expect(slowSignal?.aborted).toBe(true);
    release!();
    await answer;
  });

  it('when stopping, answers what was handed over and refuses what comes next with 503', async () => {
    const inFlight = route.graphql(await request('{ slow }'));
    await waitFor(() => release !== undefined, { what: 'the slow field to be resolving' });
    let stopped = false;
    const stopping = route.stop().then(() => (stopped = true));
    const refused = await route.graphql(await request('{ who }'));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(bodyOf(refused)).toMatchObject({
      errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
    });
    expect(stopped).toBe(false);
    release!();
    expect(bodyOf(await inFlight)).toEqual({ data: { slow: 'done' } });
    await stopping;
    expect(stopped).toBe(true);
  });
});
