/**
 * The gateway process: serves the supergraph (the SUPERGRAPH_PATH file, reloaded when it
 * changes, or composed at start; see supergraph/), verifies the caller's access token,
 * enforces `@authenticated`/`@requiresScopes` before anything executes, plans and
 * executes operations across the subgraphs (@apollo/gateway) with the caller in a
 * gateway-signed token, and serves `POST|GET /graphql`, Apollo Sandbox at `/` when enabled,
 * `/health`, `/ready` (every subgraph and the revocation store ready) and `/metrics`.
 * Requests go to each subgraph's configured endpoint, whatever URL the supergraph names.
 * Subscriptions are served on the same `/graphql` over graphql-ws, fed by the domain events
 * (subscriptions/). Persisted queries (APQ) live in the gateway's cache; with a trusted
 * documents manifest only its operations run (documents/); with the response cache on,
 * cacheable query responses are reused until an event changes what they contain
 * (response-cache/). `stop()` closes subscriptions and drains in-flight requests first.
 */
import { ApolloGateway } from '@apollo/gateway';
import type { GraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { specifiedRules } from 'graphql';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { GatewayInterface } from '@apollo/server-gateway-interface';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import { createGatewayTokens, createRevocationReader } from '../shared/auth/index.ts';
import { startCache } from '../shared/cache/index.ts';
import type { Cache } from '../shared/cache/index.ts';
import { formatError, withoutSuggestions } from '../shared/errors/index.ts';
import type { EventCatalogue, EventTransport } from '../shared/events/index.ts';
import { createMetrics, traceHttpRequests } from '../shared/observability/index.ts';
import type { Logger } from '../shared/observability/index.ts';
import type { InProcessGraphQL } from '../shared/server/index.ts';
import {
  apolloHandler,
  createHttpApp,
  createServer,
  graphqlErrorHandler,
  listen,
  observabilityPlugin,
  openedResources,
  wellFormedTextPlugin,
} from '../shared/server/index.ts';
import { authenticate, createAccessTokenVerifier } from './authentication/access-tokens.ts';
import type { AccessTokenVerifier } from './authentication/access-tokens.ts';
import { corsPolicy, securityHeaders } from './security-headers.ts';
import {
  limitBatchSize,
  limitConcurrency,
  limitNesting,
  rateLimitPerClient,
} from './limits/request-limits.ts';
import {
  DEFAULT_OPERATION_LIMITS,
  batchCostPlugin,
  limitsValidationRule,
} from './limits/operation-limits.ts';
import type { OperationLimits } from './limits/operation-limits.ts';
import { operationResolutionPlugin } from './operation-resolution.plugin.ts';
import { clientIpOf } from './context.ts';
import type { GatewayContext } from './context.ts';
import { landingPagePlugin } from './landing-page.ts';
import { createAccessPolicy } from './authorization/access-policy.ts';
import type { AccessPolicy } from './authorization/access-policy.ts';
import { authorizationPlugin } from './authorization/authorization.plugin.ts';
import { metricsPlugin } from './observability/metrics.plugin.ts';
import { coalescingPlugin, stringifySharedOnce } from './coalescing/coalescing.plugin.ts';
import { availabilityPlugin } from './availability.plugin.ts';
import {
  createSubgraphDataSource,
  createSubgraphFetchMetrics,
} from './subgraph-client/datasource.ts';
import { localWriteEpochs, sharedWriteEpochs } from './coalescing/write-epochs.ts';
import type { WriteEpochs } from './coalescing/write-epochs.ts';
import { SupergraphSourceError, createSupergraphSource } from './supergraph/supergraph-source.ts';
import type { SupergraphSourceConfig } from './supergraph/supergraph-source.ts';
import type { SubgraphEndpoint } from '../schema/composition.ts';
import { catalogue as eventCatalogue } from '../schema/events/index.ts';
import { startChangeFeed } from './subscriptions/change-feed.ts';
import { EMPTY_LIVE_SCHEMA, readLiveSchema } from './subscriptions/live-schema.ts';
import type { LiveSchema } from './subscriptions/live-schema.ts';
import { startSubscriptionServer } from './subscriptions/subscription-server.ts';
import { withOwnExecutor } from './execution/own-executor.ts';
import { createPersistedQueryCache } from './documents/persisted-queries.ts';
import { createResponseCache } from './response-cache/response-cache.plugin.ts';
import {
  loadTrustedDocuments,
  trustedDocumentsPlugin,
  trustedDocumentsStore,
} from './documents/trusted-documents.plugin.ts';
import type {
  ExecuteAs,
  SubscriptionLimits,
  SubscriptionServer,
} from './subscriptions/subscription-server.ts';

/** What the gateway accepts from a client (README, "Limits"); each from a GATEWAY_* variable. */
export interface GatewayLimits extends OperationLimits {
  /** Tokens the parser reads before giving up on a document (GATEWAY_MAX_TOKENS). @default 10000 */
  maxTokens: number;
  /** Largest JSON request body; over it, HTTP 413 (GATEWAY_MAX_BODY_BYTES). @default 1048576 */
  maxBodyBytes: number;
  /** Operations in one batched HTTP request; 1 turns batching off (GATEWAY_MAX_BATCH). @default 10 */
  maxBatch: number;
  /**
   * GraphQL requests over HTTP worked on at once; more wait their turn
   * (GATEWAY_MAX_CONCURRENT_REQUESTS). @default 64
   */
  maxConcurrentRequests: number;
  /** Requests waiting for a turn; one more gets 503 (GATEWAY_MAX_QUEUED_REQUESTS). @default 1000 */
  maxQueuedRequests: number;
  /** Time one subgraph attempt may take (GATEWAY_SUBGRAPH_TIMEOUT_MS). @default 10000 */
  subgraphTimeoutMs: number;
  /**
   * Keep-alive connections the gateway opens to each subgraph at most; fetches beyond them
   * queue (GATEWAY_SUBGRAPH_CONNECTIONS). @default 128
   */
  subgraphConnections: number;
  /** GraphQL requests per client per minute (GATEWAY_RATE_LIMIT_PER_MINUTE). @default 600 */
  rateLimitPerMinute: number;
  /** Origins allowed to call from a browser (GATEWAY_CORS_ORIGINS). @default [] (no CORS) */
  corsOrigins: readonly string[];
  /** Send Strict-Transport-Security (on in production). @default false */
  hsts: boolean;
}

/** Brackets a document may nest before it is refused unparsed (the parser recurses). */
const MAX_NESTING = 128;

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  ...DEFAULT_OPERATION_LIMITS,
  maxTokens: 10_000,
  maxBodyBytes: 1024 * 1024,
  maxBatch: 10,
  maxConcurrentRequests: 64,
  maxQueuedRequests: 1000,
  subgraphTimeoutMs: 10_000,
  subgraphConnections: 128,
  rateLimitPerMinute: 600,
  corsOrigins: [],
  hsts: false,
};

export interface GatewayConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * GATEWAY_OPERATOR_PORT: serve `/ready` and `/metrics` on this port of `host` only, not on
   * the public one (they name every subgraph); 0 picks a free port. Unset: on the public
   * port.
   */
  operatorPort?: number | undefined;
  /** Where the supergraph comes from: the SUPERGRAPH_PATH file (watched) or composed at start. */
  supergraph: SupergraphSourceConfig;
  /** The subgraph endpoints, by name: where requests go, whatever the supergraph's URLs say. */
  subgraphs: readonly SubgraphEndpoint[];
  /**
   * Subgraphs of the gateway's own process (the one-process platform), by name: their
   * fetches are handed to them directly, without a socket; the others go over HTTP to
   * `subgraphs`' URLs. @default none
   */
  inProcessSubgraphs?: ReadonlyMap<string, InProcessGraphQL>;
  /** Answer introspection queries (GATEWAY_INTROSPECTION; on unless NODE_ENV=production). */
  introspection: boolean;
  /** Serve Apollo Sandbox at `/` (GATEWAY_SANDBOX; on unless NODE_ENV=production). */
  sandbox: boolean;
  /** The query Sandbox opens with and the landing page shows. @default `{ __typename }` */
  sandboxDocument?: string;
  /** GATEWAY_TOKEN_SECRET: signs the identity token subgraphs accept. */
  gatewayTokenSecret: string;
  /** How access tokens are checked. */
  accessTokens: {
    /** Auth's JWKS document. */
    jwksUrl: URL;
    issuer: string;
    audience: string;
    /** Access-token lifetime: older `iat`s are refused. */
    maxAgeSeconds: number;
  };
  /**
   * Proxies in front of the gateway whose `X-Forwarded-For` names the client
   * (GATEWAY_TRUSTED_PROXIES). @default [] (the connection's peer is the client)
   */
  trustedProxies?: readonly string[];
  /** Where auth keeps revocations: REDIS_URL (unset: the in-process memory cache). */
  redisUrl?: string | undefined;
  /** Auth's cache prefix, `${REDIS_KEY_PREFIX}auth:`. */
  revocationPrefix: string;
  /**
   * The gateway's own cache prefix (rate limits, APQ, responses), `${REDIS_KEY_PREFIX}gateway:`.
   * @default 'eventgraph:gateway:'
   */
  cachePrefix?: string;
  /** Limits of subscriptions over WebSocket. */
  subscriptions?: SubscriptionLimits;
  /**
   * Identical subgraph queries in flight for the same caller share one fetch
   * (GATEWAY_DEDUPLICATE_QUERIES). @default true
   */
  deduplicateQueries?: boolean;
  /** Limits of HTTP requests and operations; each unset one takes its default. */
  limits?: Partial<GatewayLimits>;
  /**
   * GATEWAY_TRUSTED_DOCUMENTS: a persisted query manifest; when set, only its operations
   * run and APQ registration is off. @default unset (any valid operation runs)
   */
  trustedDocumentsPath?: string | undefined;
  /**
   * GATEWAY_RESPONSE_CACHE: cache PUBLIC query responses by their `@cacheControl` max age,
   * invalidated by the change feed (needs the event transport). @default false
   */
  responseCache?: boolean;
}

export interface GatewayOptions {
  config: GatewayConfig;
  logger: Logger;
  /**
   * Where the domain events that feed subscriptions come from (the platform's transport).
   * Without one, subscriptions are refused with an error saying so.
   */
  transport?: EventTransport;
  /** The event types events are checked against. @default the platform's event catalogue */
  catalogue?: EventCatalogue;
}

export interface GatewayHandle {
  /** Base URL, e.g. `http://127.0.0.1:4000`; GraphQL at `${url}/graphql`. */
  readonly url: string;
  readonly port: number;
  /** Base URL of `/ready` and `/metrics` when they have a port of their own. */
  readonly operatorUrl?: string;
  /** Open WebSocket connections and subscriptions. */
  readonly subscriptions: Pick<SubscriptionServer, 'stats'>;
  stop(): Promise<void>;
}

/**
 * The public error funnel while introspection is off: no "Did you mean …" hints, and the
 * refusal of an introspection query names this gateway's setting, not Apollo's option.
 */
function formatWithoutSchemaDetails(
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  const answer = withoutSuggestions(formatError(formatted, error));
  return /^GraphQL introspection is not allowed\b/.test(answer.message)
    ? {
        ...answer,
        message:
          'GraphQL introspection is off on this gateway (GATEWAY_INTROSPECTION=true turns it on)',
      }
    : answer;
}

/**
 * The gateway's composition root: each step opens one thing and pushes how to close it, so
 * `stop()` closes everything in reverse order of opening, and a step that fails closes
 * what the steps before it opened.
 */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const { config, transport } = options;
  const catalogue = options.catalogue ?? eventCatalogue;
  const logger = options.logger.child({ service: 'gateway' });
  const limits: GatewayLimits = { ...DEFAULT_GATEWAY_LIMITS, ...config.limits };
  if (config.responseCache && !transport) {
    throw new Error('GATEWAY_RESPONSE_CACHE needs the event transport: events invalidate it');
  }
  const metrics = createMetrics('gateway');
  const opened = openedResources(logger);

  try {
    const trustedDocuments = config.trustedDocumentsPath
      ? await loadTrustedDocuments(config.trustedDocumentsPath)
      : null;

    // Both are read on every request, by many requests at once: one write per turn.
    const revocationCache = await startCache({
      url: config.redisUrl,
      prefix: config.revocationPrefix,
      logger,
      autoPipelining: true,
    });
    opened.push('revocation cache', () => revocationCache.stop());
    const gatewayCache = await startCache({
      url: config.redisUrl,
      prefix: config.cachePrefix ?? 'eventgraph:gateway:',
      logger,
      autoPipelining: true,
    });
    opened.push('gateway cache', () => gatewayCache.stop());

    // One keep-alive pool per subgraph origin.
    const subgraphClient = new Agent({ connections: limits.subgraphConnections });
    opened.push('subgraph connections', () => subgraphClient.close());

    const supergraph = createSupergraphSource({
      source: config.supergraph,
      subgraphs: config.subgraphs,
      logger,
      registry: metrics.registry,
    });
    const epochs = writeEpochsOf(config, gatewayCache, logger);
    const gateway = federatedGateway({
      config,
      limits,
      supergraph,
      subgraphClient,
      epochs,
      metrics: createSubgraphFetchMetrics(metrics.registry),
      registry: metrics.registry,
      logger,
    });
    const served = followServedSupergraph(gateway, catalogue, logger);

    // Requests the gateway makes itself (subscriptions' selections): not clients' documents,
    // and never served from the response cache (they run right after a change).
    const internalRequests = new WeakSet<GatewayContext>();
    const isInternal = (context: GatewayContext) => internalRequests.has(context);
    const responseCache = config.responseCache
      ? createResponseCache<GatewayContext>({
          cache: gatewayCache,
          schema: served.apiSchema,
          entities: () => served.live().entities,
          scopeOf: ({ accessClaims }) =>
            accessClaims ? `scopes:${accessClaims.scope.split(' ').sort().join(' ')}` : 'anonymous',
          isInternal,
          registry: metrics.registry,
          logger,
        })
      : null;
    const verifier = createAccessTokenVerifier({
      ...config.accessTokens,
      revocations: createRevocationReader(revocationCache),
      logger,
    });

    const http = createHttpApp({
      logger,
      metrics,
      checks: readinessChecks(config.subgraphs, revocationCache),
      operatorApart: config.operatorPort !== undefined,
      trustedProxies: config.trustedProxies ?? [],
    });
    const operatorServer = config.operatorPort === undefined ? null : createServer(http.operator);
    const httpServer = createServer(http.app);
    // The landing page names the endpoint; known once the server listens.
    let landingEndpoint = '/graphql';
    // The one error funnel: HTTP responses, plugins' refusals and subscriptions' errors.
    const funnel = config.introspection ? formatError : formatWithoutSchemaDetails;
    const apollo = new ApolloServer<GatewayContext>({
      gateway,
      formatError: funnel,
      stringifyResult: stringifySharedOnce(),
      includeStacktraceInErrorResponses: false,
      // The process entry point owns signals and stops services in order.
      stopOnTerminationSignals: false,
      introspection: config.introspection,
      // With introspection off, no "Did you mean …" either: suggestions rebuild the schema.
      hideSchemaDetailsFromClientErrors: !config.introspection,
      // Apollo's default, stated: a GET or a "simple" POST must carry a header a browser will
      // not send cross-site without a preflight (e.g. apollo-require-preflight).
      csrfPrevention: true,
      allowBatchedHttpRequests: limits.maxBatch > 1,
      parseOptions: { maxTokens: limits.maxTokens },
      validationRules: [limitsValidationRule(limits)],
      persistedQueries: {
        cache: trustedDocuments
          ? trustedDocumentsStore(trustedDocuments)
          : createPersistedQueryCache({ cache: gatewayCache }),
      },
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer }),
        config.sandbox
          ? landingPagePlugin<GatewayContext>({
              endpoint: () => landingEndpoint,
              ...(config.sandboxDocument ? { document: config.sandboxDocument } : {}),
            })
          : ApolloServerPluginLandingPageDisabled(),
        observabilityPlugin<GatewayContext>(metrics),
        metricsPlugin<GatewayContext>({ registry: metrics.registry }),
        operationResolutionPlugin<GatewayContext>(),
        batchCostPlugin<GatewayContext>(limits),
        availabilityPlugin<GatewayContext>(),
        wellFormedTextPlugin<GatewayContext>(),
        ...(epochs
          ? [coalescingPlugin<GatewayContext>({ registry: metrics.registry, epochs })]
          : []),
        authorizationPlugin<GatewayContext>({
          formatError: funnel,
          policy: served.policy,
          scopesOf: (context) =>
            context.accessClaims ? context.accessClaims.scope.split(' ') : null,
        }),
        ...(trustedDocuments
          ? [trustedDocumentsPlugin<GatewayContext>({ documents: trustedDocuments, isInternal })]
          : []),
        ...(responseCache ? [responseCache.plugin] : []),
      ],
    });
    await startServing(apollo, supergraph.label, served);
    // Its drain plugin also closes the public HTTP server.
    opened.push('graphql', () => apollo.stop());
    if (responseCache) opened.push('response cache', () => responseCache.stop());

    const graphql = graphqlRoute({
      apollo,
      verifier,
      gatewayCache,
      limits,
      registry: metrics.registry,
      logger,
    });
    http.app.use('/graphql', ...graphql);
    // Sandbox on `/` sends its operations to the page's own URL, so `/` serves GraphQL too.
    http.app.all('/', ...graphql);

    const feed = transport
      ? await startChangeFeed({ transport, catalogue, live: served.live, logger })
      : null;
    if (feed) {
      opened.push('change feed', () => feed.stop());
      served.onReload(() => {
        feed.refresh().catch((error: unknown) => {
          logger.error({ err: error }, 'change feed: could not consume the reloaded topics');
        });
      });
      responseCache?.follow(feed);
    } else {
      logger.warn('gateway: no event transport; subscriptions will be refused');
    }

    const listening = await listen(httpServer, config.host, config.port);
    landingEndpoint = `${listening.url}/graphql`;
    const operatorListening = operatorServer
      ? await listen(operatorServer, config.host, config.operatorPort!)
      : undefined;
    if (operatorServer) {
      // Closed last: `/ready` answers "stopping" until everything else is down.
      opened.pushLast(
        'operator endpoints',
        () => new Promise((resolve) => operatorServer.close(() => resolve())),
      );
    }

    const subscriptions = startSubscriptionServer({
      httpServer,
      path: '/graphql',
      verifier,
      revocations: createRevocationReader(revocationCache),
      feed,
      apiSchema: served.apiSchema,
      live: served.live,
      policy: served.policy,
      validationRules: [...specifiedRules, limitsValidationRule(limits)],
      maxTokens: limits.maxTokens,
      formatError: funnel,
      execute: executeAsInternal(apollo, internalRequests, logger),
      logger,
      registry: metrics.registry,
      ...config.subscriptions,
    });
    opened.push('subscriptions', () => subscriptions.stop());

    logger.info(
      { url: `${listening.url}/graphql`, subgraphs: config.subgraphs.map((s) => s.name) },
      `gateway ready at ${listening.url}/graphql`,
    );
    if (operatorListening) {
      logger.info(
        { url: operatorListening.url },
        `gateway operator endpoints at ${operatorListening.url}`,
      );
    }
    return {
      url: listening.url,
      port: listening.port,
      ...(operatorListening ? { operatorUrl: operatorListening.url } : {}),
      subscriptions: { stats: () => subscriptions.stats() },
      async stop() {
        http.markStopping();
        logger.info('gateway: stopping');
        await opened.closeAll();
        logger.info('gateway: stopped');
      },
    };
  } catch (error) {
    await opened.closeAll();
    throw error;
  }
}

/**
 * Write epochs of callers, shared by coalescing and fetch dedup (read-your-writes); kept in
 * Redis when there is one, so that every replica of the gateway sees a write. Null with
 * deduplication off.
 */
function writeEpochsOf(config: GatewayConfig, cache: Cache, logger: Logger): WriteEpochs | null {
  if (config.deduplicateQueries === false) return null;
  return config.redisUrl ? sharedWriteEpochs({ cache, logger }) : localWriteEpochs();
}

/**
 * @apollo/gateway over the configured subgraph endpoints, whatever URLs the supergraph names,
 * executing with the gateway's own executor (execution/own-executor.ts).
 */
function federatedGateway(options: {
  config: GatewayConfig;
  limits: GatewayLimits;
  supergraph: ReturnType<typeof createSupergraphSource>;
  subgraphClient: Agent;
  epochs: WriteEpochs | null;
  metrics: ReturnType<typeof createSubgraphFetchMetrics>;
  registry: Registry;
  logger: Logger;
}): GatewayInterface {
  const { config, limits, epochs } = options;
  const gatewayTokens = createGatewayTokens({ secret: config.gatewayTokenSecret });
  const endpoints = new Map(config.subgraphs.map(({ name, url }) => [name, url]));
  const services = new Map<string, GraphQLDataSource>();
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraph,
    // The supergraph names each subgraph; the URL written in it (compose's) is not used.
    buildService: ({ name }) => {
      const url = endpoints.get(name);
      if (!url) throw new Error(`the supergraph routes to ${name}, which has no endpoint`);
      const service = createSubgraphDataSource({
        name,
        url,
        gatewayTokens,
        dispatcher: options.subgraphClient,
        inProcess: config.inProcessSubgraphs?.get(name),
        timeoutMs: limits.subgraphTimeoutMs,
        deduplicate: epochs ? { epochs } : false,
        metrics: options.metrics,
        honorCacheControl: config.responseCache ?? false,
      });
      services.set(name, service);
      return service;
    },
    // Also in production (where @apollo/gateway would skip it): a reloaded file must be
    // proven valid before it replaces the supergraph that serves.
    validateSupergraph: true,
    logger: options.logger,
  });
  return withOwnExecutor({ gateway, services, registry: options.registry, logger: options.logger });
}

/** What the supergraph now serving implies, rebuilt on every load (the first included). */
interface ServedSupergraph {
  /** Who may read what; throws before the first supergraph is loaded. */
  readonly policy: () => AccessPolicy;
  /** The client-facing schema; undefined before the first load. */
  readonly apiSchema: () => GraphQLSchema | undefined;
  /** What the subgraphs declare about their events (empty before the first load). */
  readonly live: () => LiveSchema;
  /** Why the first supergraph cannot serve, though @apollo/gateway loaded it. */
  readonly unusable: () => Error | undefined;
  /** Calls `listener` after each load that replaces the supergraph serving. */
  readonly onReload: (listener: () => void) => void;
  /** True once a supergraph has loaded. */
  readonly loaded: () => boolean;
}

function followServedSupergraph(
  gateway: GatewayInterface,
  catalogue: EventCatalogue,
  logger: Logger,
): ServedSupergraph {
  let policy: AccessPolicy | undefined;
  let apiSchema: GraphQLSchema | undefined;
  let live = EMPTY_LIVE_SCHEMA;
  let unusable: Error | undefined;
  const reloaded = new Set<() => void>();
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl, apiSchema: schema }) => {
    const first = policy === undefined;
    policy = createAccessPolicy(coreSupergraphSdl);
    apiSchema = schema;
    try {
      live = readLiveSchema(coreSupergraphSdl, schema, catalogue);
    } catch (error) {
      // The first supergraph fails the start (startServing), naming the declaration; a
      // reloaded one keeps the previous declarations.
      if (first) unusable = error as Error;
      else {
        logger.error(
          { err: error },
          'gateway: the reloaded supergraph declares events the gateway cannot serve; subscriptions keep the previous declarations',
        );
      }
    }
    if (!first) for (const listener of reloaded) listener();
  });
  return {
    policy: () => {
      if (!policy) throw new Error('no supergraph loaded yet');
      return policy;
    },
    apiSchema: () => apiSchema,
    live: () => live,
    unusable: () => unusable,
    onReload: (listener) => void reloaded.add(listener),
    loaded: () => policy !== undefined,
  };
}

/**
 * Starts Apollo Server, which loads the first supergraph. When no supergraph loaded and the
 * source reported nothing itself, the gateway refused the supergraph (not a valid one): the
 * error says which.
 */
async function startServing(
  apollo: ApolloServer<GatewayContext>,
  supergraphLabel: string,
  served: ServedSupergraph,
): Promise<void> {
  try {
    await apollo.start();
  } catch (error) {
    if (!served.loaded() && !(error instanceof SupergraphSourceError)) {
      throw new SupergraphSourceError(
        `${supergraphLabel} is not a usable supergraph: ${(error as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  }
  const unusable = served.unusable();
  if (unusable) {
    await apollo.stop();
    throw new SupergraphSourceError(
      `${supergraphLabel} is not a usable supergraph: ${unusable.message}`,
      { cause: unusable },
    );
  }
}

/** `/ready`: every subgraph answers its own `/ready`, and the revocation store answers. */
function readinessChecks(
  subgraphs: readonly SubgraphEndpoint[],
  revocationCache: Cache,
): Record<string, () => Promise<void>> {
  return {
    ...Object.fromEntries(
      subgraphs.map(({ name, url }) => [
        name,
        async () => {
          const response = await fetch(new URL('/ready', url), {
            signal: AbortSignal.timeout(1500),
          });
          if (!response.ok) throw new Error(`${name} answered ${response.status}`);
        },
      ]),
    ),
    revocations: () => revocationCache.ping(),
  };
}

/** The middleware of a GraphQL route, in the order a request meets it. */
function graphqlRoute(options: {
  apollo: ApolloServer<GatewayContext>;
  verifier: AccessTokenVerifier;
  gatewayCache: Cache;
  limits: GatewayLimits;
  registry: Registry;
  logger: Logger;
}) {
  const { limits } = options;
  const cors = corsPolicy(limits.corsOrigins);
  return [
    traceHttpRequests('gateway'),
    securityHeaders({ hsts: limits.hsts }),
    ...(cors ? [cors] : []),
    limitConcurrency({
      maxConcurrent: limits.maxConcurrentRequests,
      maxQueued: limits.maxQueuedRequests,
      registry: options.registry,
    }),
    authenticate(options.verifier),
    express.json({ limit: limits.maxBodyBytes }),
    limitBatchSize(limits.maxBatch),
    // After parsing: a batch counts as many requests as it has operations.
    rateLimitPerClient({
      cache: options.gatewayCache,
      perMinute: limits.rateLimitPerMinute,
      logger: options.logger,
    }),
    limitNesting(MAX_NESTING),
    apolloHandler(options.apollo, {
      context: async ({ req, res }) => ({
        requestId: res.locals.requestId,
        logger: res.locals.logger,
        accessClaims: res.locals.accessClaims,
        clientIp: clientIpOf(req),
        spent: { cost: 0 },
      }),
    }),
    graphqlErrorHandler,
  ];
}

/** Runs a subscription's selection through the pipeline as the subscriber, marked internal. */
function executeAsInternal(
  apollo: ApolloServer<GatewayContext>,
  internalRequests: WeakSet<GatewayContext>,
  logger: Logger,
): ExecuteAs {
  return async (request, claims) => {
    const contextValue: GatewayContext = {
      requestId: `ws-${randomUUID()}`,
      logger,
      accessClaims: claims,
      clientIp: null,
    };
    internalRequests.add(contextValue);
    const response = await apollo.executeOperation(request, { contextValue });
    if (response.body.kind !== 'single') throw new Error('incremental delivery is not used');
    return response.body.singleResult;
  };
}
