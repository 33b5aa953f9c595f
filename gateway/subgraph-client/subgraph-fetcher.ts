/**
 * One GraphQL POST to a subgraph over undici's `request` on the gateway's keep-alive pool:
 * the body goes out as one JSON string, the answer is read once as text inside the time
 * limit and parsed once. No fetch API, no WHATWG Headers or streams, no Request object per
 * call: the target URL is parsed when the fetcher is made.
 *
 * The signal bounds the whole exchange, body included: past `timeoutMs` the call rejects
 * with the signal's `TimeoutError`. A socket failure rejects with undici's error, whose
 * `code` says what happened (ECONNREFUSED, UND_ERR_SOCKET, …).
 */
import { STATUS_CODES } from 'node:http';
import type { Dispatcher } from 'undici';

/** What a subgraph answered, its body parsed when it says it is JSON. */
export interface SubgraphAnswer {
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  /** The response's headers, lower-case names (undici's). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or the text when the content type is not JSON. */
  readonly body: unknown;
}

export type SubgraphFetcher = (
  headers: Record<string, string>,
  body: string,
) => Promise<SubgraphAnswer>;

export function subgraphFetcher(
  url: string,
  dispatcher: Dispatcher,
  timeoutMs: number,
): SubgraphFetcher {
  const target = new URL(url);
  const origin = target.origin;
  const path = `${target.pathname}${target.search}`;
  return async (headers, body) => {
    // A timer cleared when the answer is in (AbortSignal.timeout's would fire later for
    // every fetch, long after it answered).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
    let text: string;
    let response: Dispatcher.ResponseData;
    try {
      response = await dispatcher.request({
        origin,
        path,
        method: 'POST',
        headers,
        body,
        signal: deadline.signal,
      });
      text = await response.body.text();
    } finally {
      clearTimeout(timer);
    }
    const contentType = response.headers['content-type'];
    const json =
      typeof contentType === 'string' &&
      (contentType.startsWith('application/json') ||
        contentType.startsWith('application/graphql-response+json'));
    return {
      url,
      status: response.statusCode,
      statusText: STATUS_CODES[response.statusCode] ?? '',
      headers: response.headers,
      body: json ? (JSON.parse(text) as unknown) : text,
    };
  };
}
