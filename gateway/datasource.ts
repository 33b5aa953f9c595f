/**
 * How the gateway calls a subgraph: every request carries an identity token the gateway
 * signs for it (the caller, or nobody; see shared/auth/gateway-token.ts) and the request id,
 * so one id follows a request through every service's logs. No client header is forwarded.
 */
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GATEWAY_TOKEN_HEADER } from '../shared/auth/index.ts';
import type { GatewayTokens } from '../shared/auth/index.ts';
import { REQUEST_ID_HEADER } from '../shared/observability/index.ts';
import type { GatewayContext } from './context.ts';

export function createSubgraphDataSource(
  url: string,
  gatewayTokens: GatewayTokens,
): RemoteGraphQLDataSource<GatewayContext> {
  return new RemoteGraphQLDataSource<GatewayContext>({
    url,
    async willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
      const http = options.request.http;
      if (!http) return;
      // Health checks and schema loading run without a request context: they go anonymous.
      const context = (options as { context?: Partial<GatewayContext> }).context;
      if (typeof context?.requestId === 'string') {
        http.headers.set(REQUEST_ID_HEADER, context.requestId);
      }
      http.headers.set(
        GATEWAY_TOKEN_HEADER,
        await gatewayTokens.sign({
          claims: context?.accessClaims ?? null,
          clientIp: context?.clientIp ?? null,
        }),
      );
    },
  });
}
