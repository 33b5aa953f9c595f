/**
 * The gateway's operation metrics: latency by operation name and type, errors by code, with
 * label values bounded whatever names and codes clients cause.
 */
import { ApolloServer } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { Registry } from 'prom-client';
import { metricsPlugin } from './metrics.plugin.ts';

async function serverWith(maxOperationNames: number) {
  const registry = new Registry();
  const server = new ApolloServer({
    typeDefs: 'type Query { ok: Int, broken: Int, weird: Int }',
    resolvers: {
      Query: {
        ok: () => 1,
        broken: () => {
          throw new GraphQLError('no', { extensions: { code: 'FORBIDDEN' } });
        },
        weird: () => {
          throw new GraphQLError('odd', { extensions: { code: 'SOMETHING_MADE_UP' } });
        },
      },
    },
    plugins: [metricsPlugin({ registry, maxOperationNames })],
  });
  await server.start();
  return { server, registry };
}

/** A counter's values, or a histogram's `_count` values, with their labels. */
const counts = async (registry: Registry, name: string) => {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values
    .filter((v) => {
      const metricName = (v as { metricName?: string }).metricName;
      return metricName === undefined || metricName.endsWith('_count');
    })
    .map((v) => ({ labels: v.labels, value: v.value }));
};

describe('the metrics plugin', () => {
  it('times operations by name and type, keeping only the first N names as labels', async () => {
    const { server, registry } = await serverWith(2);
    for (const name of ['First', 'Second', 'Third', 'Fourth', 'First']) {
      await server.executeOperation({ query: `query ${name} { ok }` });
    }
    await server.executeOperation({ query: '{ ok }' });

    const observed = (await counts(registry, 'gateway_operation_duration_seconds')).filter(
      (v) => v.labels['type'] === 'query',
    );
    const byName = Object.fromEntries(observed.map((v) => [v.labels['operation'], v.value]));
    expect(byName).toEqual({ First: 2, Second: 1, other: 2, anonymous: 1 });
    await server.stop();
  });

  it('counts errors by code, with codes outside the public set as OTHER', async () => {
    const { server, registry } = await serverWith(10);
    await server.executeOperation({ query: '{ broken }' });
    await server.executeOperation({ query: '{ broken weird }' });
    await server.executeOperation({ query: '{ nope }' });

    const byCode = Object.fromEntries(
      (await counts(registry, 'gateway_errors_total')).map((v) => [v.labels['code'], v.value]),
    );
    expect(byCode).toEqual({ FORBIDDEN: 2, OTHER: 1, GRAPHQL_VALIDATION_FAILED: 1 });
    await server.stop();
  });
});
