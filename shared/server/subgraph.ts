/**
 * `createSubgraph()`: turns a schema, resolvers, entities and migrations into a running
 * subgraph with the whole kernel around it — database (migrated), cache, event bus, GraphQL
 * over HTTP, `/health`, `/ready`, `/metrics`, request ids, masked errors — and a `stop()`
 * that drains: refuse new connections, finish in-flight requests, then stop consumers and
 * close pools in reverse order of start, closing only what it opened itself.
 */
import type { DocumentNode } from 'graphql';
import { ApolloServer } from '@apollo/server';
import { apolloHandler } from './apollo-handler.ts';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import express from 'express';
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../auth/index.ts';
import type { Caller, Identity } from '../auth/index.ts';
import { startCache } from '../cache/index.ts';
import type { Cache } from '../cache/index.ts';
import { startDatabase } from '../db/index.ts';
import type { Database, EntityManager, EntitySchema, MigrationObject } from '../db/index.ts';
import { formatError } from '../errors/index.ts';
import {
  EVENT_TABLES_MIGRATIONS,
  createEventMetrics,
  createInProcessTransport,
  startKafkaTransport,
  startServiceEvents,
} from '../events/index.ts';
import type { EventCatalogue, EventTransport, ServiceEvents } from '../events/index.ts';
import { createMetrics, traceHttpRequests } from '../observability/index.ts';
import type { Logger, ServiceMetrics } from '../observability/index.ts';
import { observabilityPlugin } from './graphql-plugin.ts';
import { wellFormedTextPlugin } from './well-formed-text.ts';
import type { RequestContext } from './graphql-plugin.ts';
import { openedResources } from './opened-resources.ts';
import { inProcessRoute } from './in-process.ts';
import type { InProcessGraphQL } from './in-process.ts';
import { createHttpApp, createServer, graphqlErrorHandler, listen } from './http.ts';

export type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';

/**
 * What every resolver receives. `em` is a fresh EntityManager fork per request; the caller
 * comes from the gateway's signed token only (see shared/auth/gateway-token.ts).
 */
export interface SubgraphContext extends RequestContext {
  readonly em: EntityManager;
  /** Null for anonymous requests. */
  readonly identity: Identity | null;
  /** The client's address as the gateway saw it; null when unknown. */
  readonly clientIp: string | null;
  /**
   * Aborted when the caller (the gateway) hangs up before the answer is sent, e.g. after its
   * timeout: work not yet committed should then not be, since nobody will learn of it.
   */
  readonly signal: AbortSignal;
}

/** The infrastructure handed to a subgraph's wiring function. */
export interface SubgraphInfra {
  readonly db: Database;
  readonly cache: Cache;
  readonly transport: EventTransport;
  readonly events: ServiceEvents;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

export interface SubgraphWiring {
  resolvers: GraphQLResolverMap<SubgraphContext>;
  /** Adds the service's own HTTP routes (e.g. auth's JWKS) beside `/graphql`. */
  routes?: (app: express.Express) => void;
  /** Stops what the wiring started (consumers, timers); called before the infra closes. */
  stop?: () => Promise<void>;
}

/** The environment slice a subgraph runs with (see `platform/env.ts`). */
export interface SubgraphRuntimeConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  nodeEnv: 'development' | 'production' | 'test';
  /** GATEWAY_TOKEN_SECRET: verifies the identity token the gateway signs per request. */
  gatewayTokenSecret: string;
  dataDir: string;
  databaseUrl?: string | undefined;
  /** `databaseUrl` is the embedded PostgreSQL that the one-process platform shares. */
  databaseIsEmbedded?: boolean;
  /** The pool's connections at most (DATABASE_POOL_MAX). @default 10 */
  databasePoolMax?: number;
  redisUrl?: string | undefined;
  kafkaBrokers?: string[] | undefined;
  kafkaTopicPrefix?: string;
  /** Consumer session timeout. @default 30000 */
  kafkaSessionTimeoutMs?: number;
  /** Partitions of the topics this service creates. @default 3 */
  kafkaPartitions?: number;
  /** Compression of produced batches. @default 'none' */
  kafkaCompression?: 'none' | 'gzip';
  /** Postgres schema; defaults to the service name. */
  dbSchema?: string;
  /** Redis key prefix; defaults to `eventgraph:<name>:`. */
  cachePrefix?: string;
}

export interface SubgraphOptions {
  /** Service name: `users`, `catalog`, … */
  name: string;
  typeDefs: DocumentNode;
  entities: EntitySchema[];
  /** The service's own migrations; the event tables' migration runs before them. */
  migrations: MigrationObject[];
  /** Event types this service publishes and consumes (schema/events). */
  catalogue: EventCatalogue;
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** A transport owned by the caller (embedded mode shares one); otherwise built from config. */
  transport?: EventTransport;
  /** Builds services and resolvers once the infrastructure is up; may subscribe consumers. */
  wire(infra: SubgraphInfra): Promise<SubgraphWiring>;
}

export interface SubgraphHandle extends SubgraphInfra {
  readonly name: string;
  /** Base URL, e.g. `http://127.0.0.1:4002`; GraphQL is at `${url}/graphql`. */
  readonly url: string;
  readonly port: number;
  /**
   * `POST /graphql` for a gateway in this process, without the socket (./in-process.ts):
   * what the one-process platform's gateway calls.
   */
  readonly graphql: InProcessGraphQL;
  stop(): Promise<void>;
}

export async function createSubgraph(options: SubgraphOptions): Promise<SubgraphHandle> {
  const { name, config } = options;
  const logger = options.logger.child({ service: name });
  const metrics = createMetrics(name);
  // Everything opened so far, closed in reverse on stop or if a later step fails.
  const opened = openedResources(logger);

  try {
    const gatewayTokens = createGatewayTokens({ secret: config.gatewayTokenSecret });
    const db = await startDatabase({
      schema: config.dbSchema ?? name,
      url: config.databaseUrl,
      urlIsEmbedded: config.databaseIsEmbedded ?? false,
      ...(config.databasePoolMax ? { poolMax: config.databasePoolMax } : {}),
      dataDir: `${config.dataDir}/${name}`,
      entities: options.entities,
      migrations: [...EVENT_TABLES_MIGRATIONS, ...options.migrations],
      logger,
    });
    opened.push('database', () => db.stop());

    const cache = await startCache({
      url: config.redisUrl,
      prefix: config.cachePrefix ?? `eventgraph:${name}:`,
      logger,
    });
    opened.push('cache', () => cache.stop());

    let transport = options.transport;
    if (!transport) {
      transport = config.kafkaBrokers
        ? await startKafkaTransport({
            brokers: config.kafkaBrokers,
            clientId: `eventgraph-${name}`,
            topicPrefix: config.kafkaTopicPrefix ?? '',
            logger,
            ...(config.kafkaSessionTimeoutMs
              ? { sessionTimeoutMs: config.kafkaSessionTimeoutMs }
              : {}),
            ...(config.kafkaPartitions ? { defaultPartitions: config.kafkaPartitions } : {}),
            ...(config.kafkaCompression ? { compression: config.kafkaCompression } : {}),
          })
        : createInProcessTransport({
            logger,
            ...(config.kafkaPartitions ? { defaultPartitions: config.kafkaPartitions } : {}),
          });
      const ownTransport = transport;
      opened.push('event transport', () => ownTransport.stop());
    }

    logger.info(
      {
        database:
          db.mode === 'embedded'
            ? `embedded (PGlite in ${config.databaseIsEmbedded ? config.dataDir : `${config.dataDir}/${name}`})`
            : 'postgres',
        cache: cache.mode,
        events: transport.kind,
      },
      `${name}: database ${db.mode}, cache ${cache.mode}, events ${transport.kind}`,
    );

    const events = await startServiceEvents({
      orm: db.orm,
      schema: config.dbSchema ?? name,
      source: name,
      catalogue: options.catalogue,
      transport,
      logger,
      metrics: createEventMetrics(metrics.registry),
      url: db.url,
    });
    opened.push('events (consumers, relay)', () => events.stop());
    const eventTransport = transport;

    const infra: SubgraphInfra = { db, cache, transport, events, logger, metrics };
    const wiring = await options.wire(infra);
    if (wiring.stop) opened.push('wiring', wiring.stop);

    const http = createHttpApp({
      logger,
      metrics,
      checks: {
        database: () => db.ping(),
        cache: () => cache.ping(),
        events: () => eventTransport.ping(),
      },
    });
    wiring.routes?.(http.app);
    const httpServer = createServer(http.app);
    const apollo = new ApolloServer<SubgraphContext>({
      schema: buildSubgraphSchema({
        typeDefs: options.typeDefs,
        resolvers: wiring.resolvers as GraphQLResolverMap<unknown>,
      }),
      formatError,
      includeStacktraceInErrorResponses: false,
      // The process entry point owns signals and stops services in order.
      stopOnTerminationSignals: false,
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer }),
        ApolloServerPluginLandingPageDisabled(),
        // Inline traces only feed Apollo Studio, which this platform does not use.
        ApolloServerPluginInlineTraceDisabled(),
        observabilityPlugin<SubgraphContext>(metrics),
        wellFormedTextPlugin<SubgraphContext>(),
      ],
    });
    await apollo.start();
    opened.push('graphql', () => apollo.stop());
    /** The request's context, whichever way it came (HTTP, or from the gateway in-process). */
    const contextOf = (request: {
      requestId: string;
      logger: Logger;
      caller: Caller;
      signal: AbortSignal;
    }): SubgraphContext => ({
      requestId: request.requestId,
      logger: request.logger,
      em: db.orm.em.fork(),
      identity: request.caller.identity,
      clientIp: request.caller.clientIp,
      signal: request.signal,
    });
    http.app.use(
      '/graphql',
      // Continues the gateway's trace (its `traceparent`); off unless tracing is on.
      traceHttpRequests(name),
      // Only the gateway may call: no valid gateway token, no GraphQL (not even anonymous).
      async (req: express.Request, res: express.Response, next: express.NextFunction) => {
        try {
          res.locals.caller = await gatewayTokens.verify(req.get(GATEWAY_TOKEN_HEADER));
          next();
        } catch (error) {
          next(error);
        }
      },
      express.json({ limit: '1mb' }),
      apolloHandler(apollo, {
        context: async ({ res }) => {
          const hungUp = new AbortController();
          const hangUp = () => {
            if (!res.writableFinished) hungUp.abort(new Error('the caller hung up'));
          };
          // Closed already (the caller gave up while the request queued): no event will come.
          if (res.closed || res.socket?.destroyed !== false) hangUp();
          else res.once('close', hangUp);
          return contextOf({
            requestId: res.locals.requestId,
            logger: res.locals.logger,
            caller: res.locals.caller,
            signal: hungUp.signal,
          });
        },
      }),
      graphqlErrorHandler,
    );
    const inProcess = inProcessRoute({
      service: name,
      apollo,
      logger,
      metrics,
      admit: (headers) => gatewayTokens.verify(headers[GATEWAY_TOKEN_HEADER]),
      context: contextOf,
    });
    // Before Apollo stops (closers run in reverse): what was handed over answers first.
    opened.push('in-process GraphQL', () => inProcess.stop());
    const listening = await listen(httpServer, config.host, config.port);
    logger.info({ url: `${listening.url}/graphql` }, `${name} subgraph ready`);

    return {
      ...infra,
      name,
      url: listening.url,
      port: listening.port,
      graphql: inProcess.graphql,
      async stop() {
        http.markStopping();
        logger.info(`${name}: stopping`);
        await opened.closeAll();
        logger.info(`${name}: stopped`);
      },
    };
  } catch (error) {
    await opened.closeAll();
    throw error;
  }
}
