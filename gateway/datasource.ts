/**
 * How the gateway calls a subgraph: every request carries an identity token the gateway
 * signs (the caller, or nobody; see shared/auth/gateway-token.ts) — once per client request,
 * however many subgraph fetches its plan makes — and the request id,
 * so one id follows a request through every service's logs. No client header is forwarded.
 *
 * Each attempt has `timeoutMs` to answer, body included. A subgraph fetch that is a query is
 * retried once when it failed in a way a second attempt may fix (no connection, reset,
 * timeout, HTTP 502/503/504); a mutation is never retried, since its first attempt may have
 * taken effect. So a query waits at most twice the timeout for one subgraph.
 */
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GATEWAY_TOKEN_HEADER } from '../shared/auth/index.ts';
import type { GatewayTokens } from '../shared/auth/index.ts';
import { REQUEST_ID_HEADER } from '../shared/observability/index.ts';
import type { GatewayContext } from './context.ts';

/** Re-sign after this long, well inside the token's 60 s, for requests that run that long. */
const REUSE_TOKEN_MS = 30_000;
const RETRIABLE_STATUSES = new Set([502, 503, 504]);

type Fetcher = NonNullable<ConstructorParameters<typeof RemoteGraphQLDataSource>[0]>['fetcher'];

export interface SubgraphDataSourceOptions {
  /** The subgraph's name, for error messages and logs. */
  name: string;
  url: string;
  gatewayTokens: GatewayTokens;
  /** Tokens signed per request, shared by every subgraph fetch of that request. */
  signed: WeakMap<object, { token: Promise<string>; at: number }>;
  /** Time one attempt may take, response body included (GATEWAY_SUBGRAPH_TIMEOUT_MS). @default 10000 */
  timeoutMs?: number;
}

/** A subgraph that did not answer in time; retriable like a lost connection. */
export class SubgraphTimeoutError extends Error {
  readonly retriable = true;
  constructor(subgraph: string, timeoutMs: number) {
    super(`subgraph ${subgraph} did not answer within ${timeoutMs} ms`);
    this.name = 'SubgraphTimeoutError';
  }
}

export function createSubgraphDataSource(
  options: SubgraphDataSourceOptions,
): RemoteGraphQLDataSource<GatewayContext> {
  const { name, url, gatewayTokens, signed } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
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
  // Node's fetch, bounded: the signal also aborts reading the body, which then rejects with
  // the signal's TimeoutError (turned into a SubgraphTimeoutError below).
  const fetcher = ((input: string, init: RequestInit) =>
    fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) })) as unknown as Fetcher;
  const timedOut = (error: unknown): unknown =>
    (error as Error | null)?.name === 'TimeoutError'
      ? new SubgraphTimeoutError(name, timeoutMs)
      : error;
  const source = new RemoteGraphQLDataSource<GatewayContext>({
    url,
    fetcher,
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
  const once = source.process.bind(source);
  source.process = async (processOptions) => {
    try {
      return await once(processOptions);
    } catch (error) {
      const first = timedOut(error);
      if (!isQuery(processOptions.request.query) || !isRetriable(first)) throw first;
      return once(processOptions).catch((second: unknown) => {
        throw timedOut(second);
      });
    }
  };
  return source;
}

/** True for a failure a second attempt may not repeat: lost connection, timeout, 502-504. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof SubgraphTimeoutError) return true;
  const status = (error as { extensions?: { response?: { status?: unknown } } } | null)?.extensions
    ?.response?.status;
  if (typeof status === 'number') return RETRIABLE_STATUSES.has(status);
  // Node's fetch: TypeError("fetch failed") with the socket error as its cause (compared by
  // name: the error may come from another realm).
  const failed = error as { name?: unknown; message?: unknown } | null;
  return failed?.name === 'TypeError' && failed.message === 'fetch failed';
}

/**
 * Whether an operation string the query planner produced is a query (anonymous `{ … }` or
 * `query …`), read from its first keyword; anything else, a mutation included, is not.
 */
export function isQuery(operation: string | undefined): boolean {
  if (!operation) return false;
  const first = /^(?:[\s,\ufeff]|#[^\n\r]*)*(\{|[_A-Za-z][_0-9A-Za-z]*)/.exec(operation)?.[1];
  return first === '{' || first === 'query';
}
