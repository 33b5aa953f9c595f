/**
 * How the gateway calls a subgraph: a data source of @apollo/gateway's contract (`process`),
 * made lean — one JSON body out, one parse of the answer in (./subgraph-fetcher.ts) — with
 * Apollo's RemoteGraphQLDataSource's rules for what an answer means (non-2xx statuses as
 * errors with the response under `extensions.response`, the subgraph's `cache-control`
 * restricting the request's cache policy when asked).
 *
 * Every request carries an identity token the gateway signs (the caller, or nobody; see
 * shared/auth/gateway-token.ts) — once per client request, however many subgraph fetches
 * its plan makes — and the request id, so one id follows a request through every service's
 * logs, and, when tracing is on, the `traceparent` of the gateway's fetch span. No client
 * header is forwarded.
 *
 * Each attempt has `timeoutMs` to answer, body included. A subgraph fetch that is a query is
 * retried once when it failed in a way a second attempt may fix (no connection, reset,
 * timeout, HTTP 502/503/504); a mutation is never retried, since its first attempt may have
 * taken effect. So a query waits at most twice the timeout for one subgraph.
 *
 * Identical queries in flight share one fetch (`deduplicate`): same subgraph, same operation
 * and variables, and the same caller (access-token claims and client address, i.e. the same
 * identity token content). Nothing is kept once the fetch has answered — this is not a cache,
 * so no answer is older than the request it serves — and each request gets its own copy of
 * the answer (the gateway merges into it). Mutations are never shared, and a fetch that
 * started before a write of the same user finished is not shared with one that starts after
 * it (the write epoch, ../coalescing/write-epochs.ts).
 */
import { GraphQLError } from 'graphql';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { parseCacheControlHeader } from '@apollo/gateway/dist/datasources/parseCacheControlHeader.js';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { getGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';
import { GATEWAY_TOKEN_HEADER } from '../../shared/auth/index.ts';
import { clientError } from '../../shared/errors/index.ts';
import type { GatewayTokens } from '../../shared/auth/index.ts';
import type { InProcessGraphQL } from '../../shared/server/index.ts';
import { REQUEST_ID_HEADER, injectTraceparent } from '../../shared/observability/index.ts';
import type { GatewayContext } from '../context.ts';
import { inProcessFetcher, subgraphFetcher } from './subgraph-fetcher.ts';
import type { SubgraphAnswer } from './subgraph-fetcher.ts';
import { callerKeyOf, joinOrLead, writerOf } from '../coalescing/write-epochs.ts';
import type { WriteEpochs } from '../coalescing/write-epochs.ts';

const RETRIABLE_STATUSES = new Set([502, 503, 504]);

export interface SubgraphDataSourceOptions {
  /** The subgraph's name, for error messages and logs. */
  name: string;
  url: string;
  /** Signs the caller into each fetch (a caller's token is reused while it has time left). */
  gatewayTokens: GatewayTokens;
  /**
   * The HTTP client: an undici Agent keeping a keep-alive pool per subgraph (the gateway's
   * own, sized by GATEWAY_SUBGRAPH_CONNECTIONS). @default undici's global dispatcher
   */
  dispatcher?: Dispatcher;
  /**
   * The subgraph's route when it runs in the gateway's process: fetches are handed to it
   * instead of going over HTTP to `url` (which then only names it in errors).
   */
  inProcess?: InProcessGraphQL | undefined;
  /** Time one attempt may take, response body included (GATEWAY_SUBGRAPH_TIMEOUT_MS). @default 10000 */
  timeoutMs?: number;
  /**
   * Share one fetch among identical queries in flight (GATEWAY_DEDUPLICATE_QUERIES), keyed
   * by the caller's write epoch in `epochs` too; off when unset.
   */
  deduplicate?: { epochs: WriteEpochs } | false;
  /** Fetch counts and latency, shared by every subgraph's data source. */
  metrics?: SubgraphFetchMetrics;
  /**
   * Restrict the response's cache policy by the subgraph's `cache-control` header (its
   * `@cacheControl` hints); off, every response is uncacheable. @default false
   */
  honorCacheControl?: boolean;
}

export interface SubgraphFetchMetrics {
  readonly fetches: Counter<'subgraph' | 'outcome'>;
  readonly duration: Histogram<'subgraph'>;
}

/** The metrics of subgraph fetches, registered once per gateway. */
export function createSubgraphFetchMetrics(registry: Registry): SubgraphFetchMetrics {
  return {
    fetches: new Counter({
      name: 'gateway_subgraph_fetches_total',
      help: 'Subgraph fetches the query plans asked for: sent, or shared with an identical one in flight',
      labelNames: ['subgraph', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'gateway_subgraph_fetch_duration_seconds',
      help: 'Time a subgraph took to answer a fetch the gateway sent (retries included)',
      labelNames: ['subgraph'] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
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
): GraphQLDataSource<GatewayContext> {
  const { name, url, gatewayTokens } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const tokenFor = (context: Partial<GatewayContext> | undefined) =>
    gatewayTokens.sign({
      claims: context?.accessClaims ?? null,
      clientIp: context?.clientIp ?? null,
    });
  const dispatcher = options.dispatcher ?? getGlobalDispatcher();
  const timedOut = (error: unknown): unknown =>
    (error as Error | null)?.name === 'TimeoutError'
      ? new SubgraphTimeoutError(name, timeoutMs)
      : error;
  const fetchOnce = options.inProcess
    ? inProcessFetcher(url, options.inProcess, timeoutMs)
    : subgraphFetcher(url, dispatcher, timeoutMs);
  // This subgraph's series, looked up once rather than by labels on every fetch.
  const sent = options.metrics?.fetches.labels({ subgraph: name, outcome: 'sent' });
  const sharedFetches = options.metrics?.fetches.labels({ subgraph: name, outcome: 'shared' });
  const duration = options.metrics?.duration.labels({ subgraph: name });
  const honorCacheControl = options.honorCacheControl ?? false;
  /** The request's headers for one attempt: its own, the request id, and the caller's token. */
  const headersFor = (
    processOptions: GraphQLDataSourceProcessOptions<GatewayContext>,
    token: string,
  ): Record<string, string> => {
    const headers: Record<string, string> = {};
    // Headers the executor itself asks for (Apollo's usage traces); a client's never get here.
    const { http } = processOptions.request;
    if (http) for (const [header, value] of http.headers) headers[header] = value;
    headers['content-type'] = 'application/json';
    const requestId = contextOf(processOptions)?.requestId;
    if (typeof requestId === 'string') headers[REQUEST_ID_HEADER] = requestId;
    headers[GATEWAY_TOKEN_HEADER] = token;
    // The gateway's own trace context (its fetch span), never the client's header.
    injectTraceparent({ set: (header, value) => void (headers[header] = value) });
    return headers;
  };
  /** What a subgraph's answer means: its JSON body, or the error a plain gateway reports. */
  const responseOf = (
    processOptions: GraphQLDataSourceProcessOptions<GatewayContext>,
    answer: SubgraphAnswer,
  ): GatewayGraphQLResponse => {
    if (answer.status < 200 || answer.status > 299) throw errorFromAnswer(answer);
    if (typeof answer.body !== 'object' || answer.body === null || Array.isArray(answer.body)) {
      throw new Error(`Expected JSON response body, but received: ${String(answer.body)}`);
    }
    if (
      honorCacheControl &&
      processOptions.kind === GraphQLDataSourceRequestKind.INCOMING_OPERATION
    ) {
      restrictCachePolicy(processOptions.incomingRequestContext.overallCachePolicy, answer);
    }
    return answer.body;
  };
  // One async frame for the attempts (a second one only for a query whose first failed in a
  // way it may not fail again): each await is a promise and a turn of the microtask queue,
  // and a plan makes many fetches per request.
  const attempt = async (
    processOptions: GraphQLDataSourceProcessOptions<GatewayContext>,
    body = requestBody(processOptions.request),
  ): Promise<GatewayGraphQLResponse> => {
    const started = process.hrtime.bigint();
    try {
      // Health checks and schema loading run without a request context: they go anonymous.
      const headers = headersFor(processOptions, await tokenFor(contextOf(processOptions)));
      try {
        return responseOf(processOptions, await fetchOnce(headers, body));
      } catch (error) {
        const first = timedOut(error);
        if (!isQuery(processOptions.request.query) || !isRetriable(first)) throw first;
      }
      try {
        return responseOf(processOptions, await fetchOnce(headers, body));
      } catch (second) {
        throw timedOut(second);
      }
    } finally {
      sent?.inc();
      duration?.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
  if (!options.deduplicate) return { process: (processOptions) => attempt(processOptions) };
  const { epochs } = options.deduplicate;
  type Fetch = { answer: ReturnType<typeof attempt>; sharers: number; startedAt: number };
  /** Fetches in flight by caller, then by request body (query, variables, operation name). */
  const inFlight = new Map<string, Map<string, Fetch>>();
  /** Each request merges into what it gets: a shared answer is copied for each. */
  const ownAnswer = (fetch: Fetch) =>
    fetch.answer.then((response) => (fetch.sharers === 1 ? response : copyOf(response)));
  const deduplicated = (
    processOptions: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> => {
    const context = contextOf(processOptions);
    if (!context?.requestId || !isQuery(processOptions.request.query)) {
      return attempt(processOptions);
    }
    // The body, made once, is both what is sent and (with the caller) the key. A request
    // that has none is refused as a rejection, as from the async attempt, not a throw.
    let body: string;
    try {
      body = requestBody(processOptions.request);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const caller = callerKeyOf(context);
    let ofCaller = inFlight.get(caller);
    if (!ofCaller) {
      ofCaller = new Map();
      inFlight.set(caller, ofCaller);
    }
    const fetches = ofCaller;
    const lead = (): Fetch => {
      const entry: Fetch = {
        answer: attempt(processOptions, body),
        sharers: 1,
        startedAt: performance.now(),
      };
      const settled = () => {
        if (fetches.get(body) !== entry) return;
        fetches.delete(body);
        if (fetches.size === 0 && inFlight.get(caller) === fetches) inFlight.delete(caller);
      };
      entry.answer.then(settled, settled);
      return entry;
    };
    // With nothing in flight, it leads at once. Otherwise it joins, or leads the identical
    // ones after it (an older one still in flight answers its own sharers).
    if (!fetches.has(body)) {
      const fetch = lead();
      fetches.set(body, fetch);
      return ownAnswer(fetch);
    }
    return joinOrLead(epochs, writerOf(context), fetches, body, lead).then(({ work, joined }) => {
      if (joined) {
        work.sharers++;
        sharedFetches?.inc();
      }
      return ownAnswer(work);
    });
  };
  return { process: deduplicated };
}

/** The request context a fetch runs in; none for health checks and schema loading. */
function contextOf(
  processOptions: GraphQLDataSourceProcessOptions<GatewayContext>,
): Partial<GatewayContext> | undefined {
  return (processOptions as { context?: Partial<GatewayContext> }).context;
}

/** A shared answer's own copy: the parsed JSON is copied, the HTTP part only read. */
function copyOf(response: GatewayGraphQLResponse): GatewayGraphQLResponse {
  return {
    ...response,
    ...(response.data !== undefined ? { data: structuredClone(response.data) } : {}),
    ...(response.errors ? { errors: structuredClone(response.errors) } : {}),
    ...(response.extensions ? { extensions: structuredClone(response.extensions) } : {}),
  };
}

/** The JSON body of a subgraph request (fields left out when undefined). */
function requestBody(request: GraphQLDataSourceProcessOptions['request']): string {
  if (!request.query) throw new Error('Missing query');
  return JSON.stringify({
    query: request.query,
    variables: request.variables,
    operationName: request.operationName,
    extensions: request.extensions,
  });
}

/**
 * A subgraph's answer other than 2xx, as @apollo/gateway's data source reports it (its
 * status, and URL and body under `response`; 401 UNAUTHENTICATED, 403 FORBIDDEN), except a
 * 400 about the client's values, which is the client's BAD_USER_INPUT.
 */
function errorFromAnswer(answer: SubgraphAnswer): GraphQLError {
  const { url, status, statusText, body } = answer;
  const error = new GraphQLError(`${status}: ${statusText}`, {
    extensions: {
      response: { url, status, statusText, body },
      ...(status === 401
        ? { code: 'UNAUTHENTICATED' }
        : status === 403
          ? { code: 'FORBIDDEN' }
          : {}),
    },
  });
  return status === 400 ? (valueErrorOf(error) ?? error) : error;
}

/** Restricts the request's cache policy by the subgraph's `cache-control` (its hints). */
function restrictCachePolicy(policy: unknown, answer: SubgraphAnswer): void {
  if (!policy || typeof policy !== 'object' || !('restrict' in policy)) return;
  const header = answer.headers['cache-control'];
  const parsed = parseCacheControlHeader(Array.isArray(header) ? header.join(', ') : header);
  const maxAge = parsed['max-age'];
  const hint: { maxAge: number; scope?: 'PRIVATE' | 'PUBLIC' } = {
    maxAge: typeof maxAge === 'string' && /^[0-9]+$/.test(maxAge) ? Number(maxAge) : 0,
  };
  if (parsed['private'] === true) hint.scope = 'PRIVATE';
  if (parsed['public'] === true) hint.scope = 'PUBLIC';
  (policy as { restrict(hint: object): void }).restrict(hint);
}

/** How graphql-js words a value that does not fit its type (literal, variable). */
const VALUE_ERROR =
  /^(Expected value of type |Variable "\$[_A-Za-z][_0-9A-Za-z]*" got invalid value )/;

/**
 * BAD_USER_INPUT with the subgraph's words when every error of its 400 answer is about a
 * value the client sent; undefined otherwise (any other refusal stays ours, masked and
 * logged: the gateway sent what the subgraph did not expect).
 */
export function valueErrorOf(error: GraphQLError): GraphQLError | undefined {
  const body = (error.extensions['response'] as { body?: unknown } | undefined)?.body;
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const messages: string[] = [];
  for (const entry of errors as { message?: unknown; extensions?: { code?: unknown } }[]) {
    const { message } = entry;
    if (typeof message !== 'string') return undefined;
    if (entry.extensions?.code !== 'BAD_USER_INPUT' && !VALUE_ERROR.test(message)) {
      return undefined;
    }
    messages.push(message);
  }
  return clientError(messages.join('\n'), 'BAD_USER_INPUT');
}

/** Socket failures of undici's client that a second attempt may not meet again. */
const RETRIABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** True for a failure a second attempt may not repeat: lost connection, timeout, 502-504. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof SubgraphTimeoutError) return true;
  const status = (error as { extensions?: { response?: { status?: unknown } } } | null)?.extensions
    ?.response?.status;
  if (typeof status === 'number') return RETRIABLE_STATUSES.has(status);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRIABLE_CODES.has(code);
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
