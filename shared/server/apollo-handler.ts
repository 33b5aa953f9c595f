/**
 * Apollo Server as an Express handler: what `@as-integrations/express5` does, less the work
 * per request that GraphQL does not need. The query string is cut from the URL instead of
 * parsed with `url.parse`, and the answer is written as one Buffer of the string Apollo
 * made, with its length, instead of through Express's `res.send` (content-type and charset
 * negotiation, freshness checks). Apollo sets the content type itself.
 *
 * Runs after `express.json()`: a request without a parsed body is a wiring mistake, and is
 * answered 500 as the integration answers it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HeaderMap } from '@apollo/server';
import type { ApolloServer, BaseContext, HTTPGraphQLRequest } from '@apollo/server';
import type { Request, Response } from 'express';

export interface ApolloHandlerOptions<TContext extends BaseContext> {
  /** The request's context, made once per HTTP request (a batch shares it). */
  context: (http: { req: Request; res: Response }) => Promise<TContext>;
}

export function apolloHandler<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  options: ApolloHandlerOptions<TContext>,
): (req: Request, res: Response) => Promise<void> {
  server.assertStarted('apolloHandler()');
  return async (req, res) => {
    if (!('body' in req)) {
      res.status(500).type('text/plain');
      res.end('`req.body` is not set: the JSON body parser must run before Apollo Server');
      return;
    }
    const httpGraphQLRequest: HTTPGraphQLRequest = {
      method: req.method.toUpperCase(),
      headers: headerMapOf(req.headers),
      search: searchOf(req.url),
      body: req.body,
    };
    const response = await server.executeHTTPGraphQLRequest({
      httpGraphQLRequest,
      context: () => options.context({ req, res }),
    });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      // One Buffer, as res.send makes it: writing the string itself costs the socket more.
      const body = Buffer.from(response.body.string);
      res.setHeader('content-length', body.length);
      res.end(body); // Node sends no body to a HEAD
      return;
    }
    // Incremental delivery (@defer): each part as it comes, through any compression.
    for await (const chunk of response.body.asyncIterator) {
      res.write(chunk);
      (res as Response & { flush?: () => void }).flush?.();
    }
    res.end();
  };
}

/** Apollo's header map of a request's headers (names are lower case already; lists joined). */
export function headerMapOf(
  headers: IncomingHttpHeaders | Readonly<Record<string, string>>,
): HeaderMap {
  const map = new HeaderMap();
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) map.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return map;
}

/**
 * The URL's query string with its `?`, `''` without one (what `url.parse(...).search ?? ''`
 * gives, left unescaped: Apollo reads it with URLSearchParams, which decodes both alike).
 */
export function searchOf(url: string): string {
  const hash = url.indexOf('#');
  const path = hash === -1 ? url : url.slice(0, hash);
  const start = path.indexOf('?');
  return start === -1 ? '' : path.slice(start);
}
