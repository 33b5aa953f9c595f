/**
 * The two gateways the conformance suite compares, on one supergraph composed from the
 * conformance subgraphs: ours (`startGateway`, anonymous requests, in-memory caches) and a
 * plain @apollo/gateway behind a plain Apollo Server with their defaults, both in-process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { parse } from 'graphql';
import { startGateway } from '../../gateway/server.ts';
import type { GatewayOptions } from '../../gateway/server.ts';
import { testLogger } from '../../shared/testing/index.ts';
import { conformanceCatalogue } from './subgraphs.ts';
import type { ConformanceSubgraphs } from './subgraphs.ts';

export interface ConformanceGateways {
  /** GraphQL URL of our gateway. */
  readonly ours: string;
  /** GraphQL URL of the plain @apollo/gateway. */
  readonly plain: string;
  stop(): Promise<void>;
}

/** Composes the supergraph (throws on composition errors) with the subgraphs' real URLs. */
export function composeConformanceSupergraph(subgraphs: ConformanceSubgraphs): string {
  const result = composeServices(
    subgraphs.services.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
  );
  if (result.errors) {
    throw new Error(
      `conformance supergraph does not compose:\n${result.errors.map((e) => e.message).join('\n')}`,
    );
  }
  return result.supergraphSdl;
}

export async function startConformanceGateways(
  subgraphs: ConformanceSubgraphs,
  /** Where the fixture's events come from (none: subscriptions are refused). */
  transport?: GatewayOptions['transport'],
): Promise<ConformanceGateways> {
  const supergraphSdl = composeConformanceSupergraph(subgraphs);
  const directory = await mkdtemp(path.join(os.tmpdir(), 'eventgraph-conformance-'));
  const supergraphPath = path.join(directory, 'supergraph.graphql');
  await writeFile(supergraphPath, supergraphSdl);

  const ours = await startGateway({
    config: {
      host: '127.0.0.1',
      port: 0,
      supergraph: { kind: 'file', path: supergraphPath },
      subgraphs: subgraphs.services.map(({ name, url }) => ({ name, url })),
      introspection: true,
      sandbox: false,
      gatewayTokenSecret: 'conformance-gateway-secret-0123456789-abcdefgh',
      // Every request is anonymous, so the JWKS is never fetched: nothing listens there.
      accessTokens: {
        jwksUrl: new URL('http://127.0.0.1:9/.well-known/jwks.json'),
        issuer: 'conformance',
        audience: 'conformance',
        maxAgeSeconds: 900,
      },
      redisUrl: undefined,
      revocationPrefix: 'conformance:auth:',
      cachePrefix: 'conformance:gateway:',
    },
    logger: testLogger(),
    catalogue: conformanceCatalogue,
    ...(transport ? { transport } : {}),
  });

  let plainServer: ApolloServer | undefined;
  try {
    plainServer = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
    const { url } = await startStandaloneServer(plainServer, {
      listen: { host: '127.0.0.1', port: 0 },
    });
    return {
      ours: `${ours.url}/graphql`,
      plain: url,
      async stop() {
        await plainServer?.stop();
        await ours.stop();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await plainServer?.stop();
    await ours.stop();
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
