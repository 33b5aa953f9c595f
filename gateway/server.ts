/**
 * The gateway process: composes the supergraph, plans and executes operations across the
 * subgraphs (@apollo/gateway), and serves `POST|GET /graphql`, Apollo Sandbox at `/` in
 * development, `/health`, `/ready` (every subgraph ready) and `/metrics`. `stop()` drains
 * in-flight requests before closing.
 */
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { formatError } from '../shared/errors/index.ts';
import { createMetrics } from '../shared/observability/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import {
  createHttpApp,
  createServer,
  listen,
  observabilityPlugin,
} from '../shared/server/index.ts';
import type { GatewayContext } from './context.ts';
import { createSubgraphDataSource } from './datasource.ts';
import { composeSupergraph } from './supergraph.ts';
import type { SubgraphEndpoint } from './supergraph.ts';

export interface GatewayConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  nodeEnv: 'development' | 'production' | 'test';
  subgraphs: readonly SubgraphEndpoint[];
}

export interface GatewayOptions {
  config: GatewayConfig;
  logger: Logger;
}

export interface GatewayHandle {
  /** Base URL, e.g. `http://127.0.0.1:4000`; GraphQL at `${url}/graphql`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const { config } = options;
  const logger = options.logger.child({ service: 'gateway' });
  const metrics = createMetrics('gateway');
  const supergraphSdl = await composeSupergraph(config.subgraphs);
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => createSubgraphDataSource(url!),
    logger,
  });

  const http = createHttpApp({
    logger,
    metrics,
    checks: Object.fromEntries(
      config.subgraphs.map(({ name, url }) => [
        name,
        async () => {
          const response = await fetch(new URL('/ready', url), {
            signal: AbortSignal.timeout(1500),
          });
          if (!response.ok) throw new Error(`${name} answered ${response.status}`);
        },
      ]),
    ),
  });
  const httpServer = createServer(http.app);
  const development = config.nodeEnv !== 'production';
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    formatError,
    includeStacktraceInErrorResponses: false,
    // The process entry point owns signals and stops services in order.
    stopOnTerminationSignals: false,
    introspection: development,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      development
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
      observabilityPlugin<GatewayContext>(metrics),
    ],
  });
  await apollo.start();

  const graphql = [
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, {
      context: async ({ res }) => ({ requestId: res.locals.requestId, logger: res.locals.logger }),
    }),
  ];
  http.app.use('/graphql', ...graphql);
  // Sandbox on `/` sends its operations to the page's own URL, so `/` serves GraphQL too.
  http.app.all('/', ...graphql);

  let listening;
  try {
    listening = await listen(httpServer, config.host, config.port);
  } catch (error) {
    await apollo.stop();
    throw error;
  }
  logger.info(
    { url: `${listening.url}/graphql`, subgraphs: config.subgraphs.map((s) => s.name) },
    `gateway ready at ${listening.url}/graphql`,
  );
  return {
    url: listening.url,
    port: listening.port,
    async stop() {
      http.markStopping();
      logger.info('gateway: stopping');
      await apollo.stop();
      logger.info('gateway: stopped');
    },
  };
}
