/**
 * The HTTP client of subgraph fetches: a fetch-shaped function (what `RemoteGraphQLDataSource`
 * calls) over undici's `request` on a keep-alive connection pool, instead of the fetch API.
 * The fetch API wraps every body in WHATWG streams and a Response; here the body is read
 * once, as text, inside the time limit, and `json()` parses that text.
 *
 * The signal bounds the whole exchange, body included: past `timeoutMs` the call rejects
 * with the signal's `TimeoutError`. A socket failure rejects with undici's error, whose
 * `code` says what happened (ECONNREFUSED, UND_ERR_SOCKET, …).
 */
import { STATUS_CODES } from 'node:http';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { Dispatcher } from 'undici';

type Fetcher = NonNullable<ConstructorParameters<typeof RemoteGraphQLDataSource>[0]>['fetcher'] &
  object;
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

export function pooledFetcher(dispatcher: Dispatcher, timeoutMs: number): Fetcher {
  // A data source fetches one URL: parsed once, not per fetch.
  let target: { url: string; origin: string; path: string } | null = null;
  return async (url, init) => {
    if (target?.url !== url) {
      const parsed = new URL(url);
      target = { url, origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    }
    const response = await dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: init?.method ?? 'GET',
      headers: init?.headers ?? {},
      body: init?.body ?? null,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    const headers = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      for (const one of Array.isArray(value) ? value : [value ?? '']) headers.append(name, one);
    }
    return bufferedResponse(url, response.statusCode, headers, text);
  };
}

function bufferedResponse(
  url: string,
  status: number,
  headers: Headers,
  text: string,
): FetcherResponse {
  return {
    bodyUsed: false,
    url,
    redirected: false,
    status,
    ok: status >= 200 && status < 300,
    statusText: STATUS_CODES[status] ?? '',
    headers,
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
    arrayBuffer: async () => new TextEncoder().encode(text).buffer,
    clone: () => bufferedResponse(url, status, headers, text),
  };
}
