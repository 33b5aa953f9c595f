/**
 * A subgraph's GraphQL route for a caller in its own process. When the gateway and the
 * subgraphs share one process, the gateway hands each fetch over here instead of sending it
 * through a loopback socket. The request meets what `POST /graphql` does to it, in the same
 * order and with the same answers:
 * - the request id and the access log line;
 * - the SERVER span, child of the fetch's `traceparent`;
 * - the gateway token (no valid token, no GraphQL);
 * - Apollo Server, with the context the HTTP route makes.
 *
 * Only the transport is left out: no HTTP parsing, routing or body stream on the subgraph's
 * side, no connection pool or socket writes on the gateway's. The body is still the JSON
 * text the gateway would send, and the answer the JSON text the subgraph would write, so
 * neither side shares an object with the other.
 *
 * Once `stop()` is called, new requests are answered 503 SERVICE_UNAVAILABLE (a query is
 * retried by the gateway, as after a refused connection), and `stop()` resolves when the
 * requests already handed over have answered.
 */
import type { ApolloServer, BaseContext } from '@apollo/server';
import { ServiceUnavailableError } from '../errors/index.ts';
import type { Logger, ServiceMetrics } from '../observability/index.ts';
import { REQUEST_ID_HEADER, requestIdFrom, traceInProcessRequest } from '../observability/index.ts';
import { headerMapOf } from './apollo-handler.ts';
import { RequestRefusedError, refusalOf, requestObserver } from './http.ts';

export interface InProcessRequest {
  /** The headers the HTTP request would carry (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body. */
  readonly body: string;
  /** Aborted when the caller stops waiting (its time limit): the request's hang-up. */
  readonly signal: AbortSignal;
}

export interface InProcessAnswer {
  readonly status: number;
  /** The answer's headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON text the HTTP route would have sent. */
  readonly body: string;
}

/** `POST /graphql` of a subgraph in this process. */
export type InProcessGraphQL = (request: InProcessRequest) => Promise<InProcessAnswer>;

export interface InProcessRouteOptions<TContext extends BaseContext, TCaller> {
  service: string;
  apollo: ApolloServer<TContext>;
  /** The service's logger; each request logs under a child naming its request id. */
  logger: Logger;
  metrics: ServiceMetrics;
  /** Who calls, from the request's headers (the gateway token); throws to refuse the request. */
  admit(headers: Readonly<Record<string, string>>): Promise<TCaller>;
  /** The request's context, as the HTTP route makes it. */
  context(request: {
    requestId: string;
    logger: Logger;
    caller: TCaller;
    signal: AbortSignal;
  }): TContext;
}

export interface InProcessRoute {
  readonly graphql: InProcessGraphQL;
  /** Refuses new requests, and resolves once those in flight have answered. */
  stop(): Promise<void>;
}

export function inProcessRoute<TContext extends BaseContext, TCaller>(
  options: InProcessRouteOptions<TContext, TCaller>,
): InProcessRoute {
  const { service, apollo } = options;
  const observe = requestObserver(options.metrics);
  let inFlight = 0;
  let stopping = false;
  let drained: (() => void) | undefined;

  const answer = async (
    request: InProcessRequest,
    requestId: string,
    logger: Logger,
  ): Promise<InProcessAnswer> => {
    try {
      if (stopping) throw new ServiceUnavailableError(`${service} is stopping`, 1);
      const caller = await options.admit(request.headers);
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: {
          method: 'POST',
          headers: headerMapOf(request.headers),
          search: '',
          body: jsonOf(request.body),
        },
        context: async () => options.context({ requestId, logger, caller, signal: request.signal }),
      });
      const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
      for (const [name, value] of response.headers) headers[name] = value;
      let body: string;
      if (response.body.kind === 'complete') body = response.body.string;
      else {
        // Incremental delivery (@defer), which the gateway does not ask a subgraph for: the
        // parts as one text, as a socket would have delivered them.
        body = '';
        for await (const chunk of response.body.asyncIterator) body += chunk;
      }
      return { status: response.status ?? 200, headers, body };
    } catch (error) {
      const refusal = refusalOf(error, logger, requestId);
      return {
        status: refusal.status,
        headers: {
          ...refusal.headers,
          [REQUEST_ID_HEADER]: requestId,
          'content-type': 'application/json; charset=utf-8',
        },
        body: JSON.stringify(refusal.body),
      };
    }
  };

  const graphql: InProcessGraphQL = async (request) => {
    const requestId = requestIdFrom(request.headers[REQUEST_ID_HEADER]);
    const logger = options.logger.child({ requestId });
    const started = process.hrtime.bigint();
    inFlight++;
    try {
      const answered = await traceInProcessRequest(service, request.headers, () =>
        answer(request, requestId, logger),
      );
      observe(logger, 'POST', '/graphql', answered.status, started);
      return answered;
    } finally {
      inFlight--;
      if (inFlight === 0) drained?.();
    }
  };

  return {
    graphql,
    async stop() {
      stopping = true;
      if (inFlight === 0) return;
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    },
  };
}

/** The parsed body; text that is not JSON is refused as the HTTP route's parser refuses it. */
function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new RequestRefusedError(400, 'BAD_REQUEST', 'Request body is not valid JSON');
  }
}
