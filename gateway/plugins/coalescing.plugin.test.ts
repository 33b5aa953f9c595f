/**
 * Identical queries in flight from one caller run once; anything else runs on its own.
 */
import { ApolloServer } from '@apollo/server';
import { Registry } from 'prom-client';
import type { GatewayContext } from '../context.ts';
import { coalescingPlugin } from './coalescing.plugin.ts';

async function setUp() {
  let runs = 0;
  const server = new ApolloServer<GatewayContext>({
    typeDefs: 'type Query { slow(n: Int): [Int!]! } type Mutation { bump: Int! }',
    resolvers: {
      Query: {
        slow: async (_: unknown, { n }: { n?: number }) => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 50));
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
    plugins: [coalescingPlugin<GatewayContext>({ registry: new Registry() })],
  });
  await server.start();
  const as = (sub: string | null, ip = '10.0.0.1'): GatewayContext => ({
    requestId: `r-${Math.random()}`,
    logger: undefined as never,
    accessClaims: sub ? ({ sub, jti: `t-${sub}` } as never) : null,
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
  return { server, run, as, runs: () => runs };
}

describe('coalescing identical queries in flight', () => {
  it('runs 10 identical queries from one caller once, each answer its own copy', async () => {
    const { server, run, as, runs } = await setUp();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => run('{ slow(n: 1) }', as('ada'))),
    );
    expect(runs()).toBe(1);
    expect(answers.map((a) => a.data)).toEqual(Array(10).fill({ slow: [1, 1] }));
    (answers[0]!.data!['slow'] as number[])[0] = 99;
    expect(answers[1]!.data).toEqual({ slow: [1, 1] });
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
});
