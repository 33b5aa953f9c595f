/**
 * How the gateway calls a subgraph: every request carries an identity token the gateway
 * signs (the caller, or nobody; see shared/auth/gateway-token.ts) — once per client request,
 * however many subgraph fetches its plan makes — and the request id,
 * so one id follows a request through every service's logs. No client header is forwarded.
 */
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GATEWAY_TOKEN_HEADER } from '../shared/auth/index.ts';
import type { GatewayTokens } from '../shared/auth/index.ts';
import { REQUEST_ID_HEADER } from '../shared/observability/index.ts';
import type { GatewayContext } from './context.ts';

/** Re-sign after this long, well inside the token's 60 s, for requests that run that long. */
const REUSE_TOKEN_MS = 30_000;

export function createSubgraphDataSource(
  url: string,
  gatewayTokens: GatewayTokens,
  /** Tokens signed per request, shared by every subgraph fetch of that request. */
  signed: WeakMap<object, { token: Promise<string>; at: number }>,
  /**
   * Restrict the response's cache policy by the subgraph's `cache-control` header (its
   * `@cacheControl` hints); off, every response is uncacheable. @default false
   */
  honorCacheControl = false,
): RemoteGraphQLDataSource<GatewayContext> {
  const tokenFor = (context: Partial<GatewayContext> | undefined) => {
    const sign = () =>
      gatewayTokens.sign({
        claims: context?.accessClaims ?? null,
        clientIp: context?.clientIp ?? null,
      });
    if (!context) return sign();
    const reusable = signed.get(context);
    if (reusable && Date.now() - reusable.at < REUSE_TOKEN_MS) return reusable.token;
    const fresh = { token: sign(), at: Date.now() };
    signed.set(context, fresh);
    return fresh.token;
  };
  return new RemoteGraphQLDataSource<GatewayContext>({
    url,
    honorSubgraphCacheControlHeader: honorCacheControl,
    async willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
      const http = options.request.http;
      if (!http) return;
      // Health checks and schema loading run without a request context: they go anonymous.
      const context = (options as { context?: Partial<GatewayContext> }).context;
      if (typeof context?.requestId === 'string') {
        http.headers.set(REQUEST_ID_HEADER, context.requestId);
      }
      http.headers.set(GATEWAY_TOKEN_HEADER, await tokenFor(context));
    },
  });
}
