/**
 * Identical queries in flight from one caller run once; anything else runs on its own.
 */
import { ApolloServer } from '@apollo/server';
import { Registry } from 'prom-client';
import { formatError } from '../../shared/errors/index.ts';
import { createMetrics } from '../../shared/observability/index.ts';
import { observabilityPlugin } from '../../shared/server/index.ts';
import { captureLogs } from '../../shared/testing/index.ts';
import type { GatewayContext } from '../context.ts';
import { localWriteEpochs } from './write-epochs.ts';
import { coalescingPlugin, stringifySharedOnce } from './coalescing.plugin.ts';

async function setUp() {
  let runs = 0;
  const server = new ApolloServer<GatewayContext>({
    typeDefs: `
      type Query { slow(n: Int, ms: Int): [Int!]!, partly: Partly! }
      type Partly { fine: Int!, broken: Int }
      type Mutation { bump: Int! }`,
    formatError,
    resolvers: {
      Partly: {
        fine: () => 1,
        broken: () => {
          throw new Error('connection to the ledger lost');
        },
      },
      Query: {
        partly: async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return {};
        },
        slow: async (_: unknown, { n, ms }: { n?: number; ms?: number }) => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, ms ?? 50));
          return [n ?? 0, runs];
        },
      },
      Mutation: {
        bump: async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return runs;
        },
      },
    },
    // In the gateway's order: the observability plugin writes the request id into masked
    // errors before coalescing shares the answer.
    plugins: [
      observabilityPlugin<GatewayContext>(createMetrics('test')),
      coalescingPlugin<GatewayContext>({ registry: new Registry(), epochs: localWriteEpochs() }),
    ],
  });
  await server.start();
  const logs = captureLogs();
  const as = (sub: string | null, ip = '10.0.0.1', jti = `t-${sub}`): GatewayContext => ({
    requestId: `r-${Math.random()}`,
    logger: logs.logger,
    accessClaims: sub ? ({ sub, jti } as never) : null,
    clientIp: ip,
  });
  const run = async (query: string, context: GatewayContext, variables?: object) => {
    const response = await server.executeOperation(
      { query, ...(variables ? { variables: variables as Record<string, unknown> } : {}) },
      { contextValue: context },
    );
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return response.body.singleResult;
  };
  return { server, run, as, runs: () => runs, logs: logs.lines };
}

describe('coalescing identical queries in flight', () => {
  it('runs 10 identical queries from one caller once, sharing one frozen answer', async () => {
    const { server, run, as, runs } = await setUp();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => run('{ slow(n: 1) }', as('ada'))),
    );
    expect(runs()).toBe(1);
    expect(answers.map((a) => a.data)).toEqual(Array(10).fill({ slow: [1, 1] }));
    // Shared, so nothing may change it: a change throws instead of reaching every answer.
    expect(() => {
      (answers[1]!.data!['slow'] as number[])[0] = 99;
    }).toThrow(TypeError);
    expect(answers[0]!.data).toEqual({ slow: [1, 1] });
    await server.stop();
  });

  it('gives each of 8 waiters exactly what a lone caller gets when the answer carries an error, with its own request id', async () => {
    const { server, as, runs, logs } = await setUp();
    const ask = async (context: GatewayContext) => {
      const response = await server.executeOperation(
        { query: '{ partly { fine broken } }' },
        { contextValue: context },
      );
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      return {
        status: response.http.status,
        requestId: context.requestId,
        ...response.body.singleResult,
      };
    };
    const lone = await ask(as('ada'));
    expect(lone.data).toEqual({ partly: { fine: 1, broken: null } });
    expect(lone.errors).toEqual([
      expect.objectContaining({
        message: 'Internal server error',
        path: ['partly', 'broken'],
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: lone.requestId },
      }),
    ]);

    const before = runs();
    const answers = await Promise.all(Array.from({ length: 8 }, () => ask(as('ada'))));
    expect(runs() - before).toBe(1);
    const withoutRequestId = ({ status, data, errors }: typeof lone) => ({
      status,
      data,
      errors: errors?.map(({ extensions, ...rest }) => ({
        ...rest,
        extensions: { ...extensions, requestId: 'omitted' },
      })),
    });
    for (const answer of answers) {
      expect(withoutRequestId(answer)).toEqual(withoutRequestId(lone));
      expect(answer.errors?.[0]?.extensions?.['requestId']).toBe(answer.requestId);
    }
    // The cause is logged once, under the lead's id; each waiter's log names that id.
    const causes = logs.filter((line) => line['msg'] === 'internal error in GraphQL operation');
    expect(causes).toHaveLength(2); // the lone caller's and the lead's
    const pointers = logs.filter((line) => 'sharedWith' in line);
    expect(pointers).toHaveLength(7);
    await server.stop();
  });

  it('runs separately for other callers, addresses, variables, after the first answered, and for mutations', async () => {
    const { server, run, as, runs } = await setUp();
    await Promise.all([
      run('{ slow(n: 1) }', as('ada')),
      run('{ slow(n: 1) }', as('bob')),
      run('{ slow(n: 1) }', as(null)),
      run('{ slow(n: 1) }', as('ada', '10.0.0.2')),
      run('query ($n: Int) { slow(n: $n) }', as('ada'), { n: 2 }),
      run('query ($n: Int) { slow(n: $n) }', as('ada'), { n: 3 }),
    ]);
    expect(runs()).toBe(6);
    await run('{ slow(n: 1) }', as('ada'));
    expect(runs()).toBe(7);
    await Promise.all([run('mutation { bump }', as('ada')), run('mutation { bump }', as('ada'))]);
    expect(runs()).toBe(9);
    await server.stop();
  });

  it("never answers a query with one that started before the same user's mutation answered", async () => {
    const { server, run, as, runs } = await setUp();
    // A long poll from one session is in flight; the user writes from another session (that
    // answers well before the poll would), then asks the same.
    const poll = run('{ slow(n: 1, ms: 400) }', as('ada', '10.0.0.1', 'tab-1'));
    await run('mutation { bump }', as('ada', '10.0.0.1', 'tab-2'));
    const fresh = run('{ slow(n: 1, ms: 400) }', as('ada', '10.0.0.1', 'tab-1'));
    const [, answered] = await Promise.all([poll, fresh]);
    // poll, mutation, then the query after the write on its own: the third run.
    expect(runs()).toBe(3);
    expect(answered.data).toEqual({ slow: [1, 3] });
    await server.stop();
  });
});

describe('writing answers', () => {
  const stringify = stringifySharedOnce();
  const apollos = (result: object) => `${JSON.stringify(result)}\n`;

  it('writes every answer as Apollo Server does', () => {
    for (const result of [
      { data: { a: [1, { b: null }] } },
      { data: null, errors: [{ message: 'no' }] },
      { errors: [{ message: 'no' }] },
      { data: Object.freeze({ a: 1 }), extensions: { cost: 3 } },
      { data: Object.freeze({ a: 1 }) },
    ]) {
      expect(stringify(result)).toBe(apollos(result));
    }
  });

  it('writes the JSON of a shared (frozen) answer once for all who share it', () => {
    let reads = 0;
    const data = Object.freeze(
      Object.defineProperty({}, 'n', {
        enumerable: true,
        get: () => ++reads,
      }),
    );
    expect(stringify({ data })).toBe('{"data":{"n":1}}\n');
    expect(stringify({ data })).toBe('{"data":{"n":1}}\n');
    expect(reads).toBe(1);
    // An answer that is not shared (not frozen) is written each time.
    const own = { data: { n: 1 } };
    expect(stringify(own)).toBe(stringify(own));
  });
});
