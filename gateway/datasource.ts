/**
 * How the gateway calls a subgraph: the request id travels along so one id follows a
 * request through every service's logs. (The caller's identity will travel as a
 * gateway-signed token; never as a bare header.)
 */
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { REQUEST_ID_HEADER } from '../shared/observability/index.ts';
import type { GatewayContext } from './context.ts';

export function createSubgraphDataSource(url: string): RemoteGraphQLDataSource<GatewayContext> {
  return new RemoteGraphQLDataSource<GatewayContext>({
    url,
    willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
      const requestId = (options as { context?: Partial<GatewayContext> }).context?.requestId;
      if (options.request.http && typeof requestId === 'string') {
        options.request.http.headers.set(REQUEST_ID_HEADER, requestId);
      }
    },
  });
}
