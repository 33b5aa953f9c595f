export { apolloHandler } from './apollo-handler.ts';
export type { ApolloHandlerOptions } from './apollo-handler.ts';
export type { InProcessAnswer, InProcessGraphQL, InProcessRequest } from './in-process.ts';
export { openedResources } from './opened-resources.ts';
export type { OpenedResources } from './opened-resources.ts';
export { createSubgraph } from './subgraph.ts';
export type {
  SubgraphContext,
  SubgraphHandle,
  SubgraphInfra,
  SubgraphOptions,
  SubgraphRuntimeConfig,
  SubgraphWiring,
  GraphQLResolverMap,
} from './subgraph.ts';
export {
  RequestRefusedError,
  createHttpApp,
  createServer,
  graphqlErrorHandler,
  listen,
} from './http.ts';
export type { HttpApp, HttpAppOptions, ListeningServer, ReadinessCheck } from './http.ts';
export { observabilityPlugin } from './graphql-plugin.ts';
export type { RequestContext } from './graphql-plugin.ts';
export { BigIntScalar, DateTimeScalar } from './scalars.ts';
export {
  PAGE_SIZE_DEFAULT,
  PAGE_SIZE_MAX,
  afterCursor,
  connectionOf,
  decodeCursor,
  encodeCursor,
  isUuid,
  likePattern,
  pageSize,
} from './pagination.ts';
export type { Connection, KeysetCursor } from './pagination.ts';
export { illFormedArgument, wellFormedTextPlugin } from './well-formed-text.ts';
