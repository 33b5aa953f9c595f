/**
 * The baseline of `bench:gateway`: a plain @apollo/gateway with its defaults behind a plain
 * Apollo Server, serving the same supergraph from the same subgraphs. Only what the
 * subgraphs require is added: the identity token they verify (signed for one fixed caller,
 * since this gateway checks no access token; only when GATEWAY_TOKEN_SECRET and CLAIMS are
 * set, as eventgraph's subgraphs need and the public scenario's do not) and the
 * `for: SECURITY` links it would refuse. Runs as a child process; prints `ready <url>` on
 * stdout once it serves.
 *
 * Environment: SUPERGRAPH_PATH, SUBGRAPH_URLS (JSON name → GraphQL URL), PORT; optional
 * GATEWAY_TOKEN_SECRET and CLAIMS (JSON access-token claims of the caller).
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../../shared/auth/index.ts';
import type { AccessTokenClaims } from '../../shared/auth/index.ts';
import { acknowledgeEnforcedFeatures } from '../../gateway/supergraph/supergraph.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`plain gateway: ${name} is required`);
  return value;
};

const urls = JSON.parse(env('SUBGRAPH_URLS')) as Record<string, string>;
const identity = process.env['GATEWAY_TOKEN_SECRET']
  ? {
      claims: JSON.parse(env('CLAIMS')) as AccessTokenClaims,
      tokens: createGatewayTokens({ secret: env('GATEWAY_TOKEN_SECRET') }),
    }
  : null;

const gateway = new ApolloGateway({
  supergraphSdl: acknowledgeEnforcedFeatures(readFileSync(env('SUPERGRAPH_PATH'), 'utf8')),
  buildService: ({ name }) =>
    new RemoteGraphQLDataSource({
      url: urls[name]!,
      async willSendRequest({ request }) {
        if (!identity) return;
        request.http?.headers.set(
          GATEWAY_TOKEN_HEADER,
          await identity.tokens.sign({ claims: identity.claims, clientIp: null }),
        );
      },
    }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(env('PORT')), host: '127.0.0.1' },
});
process.stdout.write(`ready ${url}\n`);
const stop = () => void server.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
