/**
 * Serves the public scenario's four subgraphs (./subgraphs.ts), each with Apollo Server on a
 * free port of 127.0.0.1, in this one process. Runs as a child of `bench:gateway`; prints
 * `ready <JSON name → GraphQL URL>` on stdout once all four listen, and stops on SIGTERM.
 */
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { PUBLIC_SUBGRAPHS } from './subgraphs.ts';

const servers: ApolloServer[] = [];
const urls: Record<string, string> = {};
for (const subgraph of PUBLIC_SUBGRAPHS) {
  const server = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(subgraph.typeDefs),
      resolvers: subgraph.resolvers,
    }),
    // The upstream subgraphs send no traces; the gateways ask for none either.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
  });
  servers.push(server);
  urls[subgraph.name] = url;
}
process.stdout.write(`ready ${JSON.stringify(urls)}\n`);
const stop = () =>
  void Promise.all(servers.map((server) => server.stop())).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
