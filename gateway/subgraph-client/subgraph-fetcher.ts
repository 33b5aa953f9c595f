/**
 * One GraphQL POST to a subgraph over undici's `dispatch` on the gateway's keep-alive pool:
 * the body goes out as one JSON string, the answer's bytes are gathered as they come, read
 * once as text inside the time limit and parsed once. No fetch API, no WHATWG Headers, no
 * response stream, no Request object per call: the target URL is parsed when the fetcher is
 * made.
 *
 * The signal bounds the whole exchange, body included: past `timeoutMs` the call rejects
 * with the signal's `TimeoutError`. A socket failure rejects with undici's error, whose
 * `code` says what happened (ECONNREFUSED, UND_ERR_SOCKET, …).
 *
 * A subgraph of the gateway's own process is called without HTTP (`inProcessFetcher`): the
 * same headers and JSON text are handed to its route, under the same time limit.
 */
import { STATUS_CODES } from 'node:http';
import type { Dispatcher } from 'undici';
import type { InProcessGraphQL } from '../../shared/server/index.ts';

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
  return (headers, body) =>
    new Promise<SubgraphAnswer>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | null = null;
      let settled = false;
      let status = 0;
      let responseHeaders: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };
      // One timer, cleared when the answer is in; a fetch still queued for a connection
      // when it fires is aborted as soon as it starts.
      const timer = setTimeout(() => {
        const error = new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError');
        fail(error);
        controller?.abort(error);
      }, timeoutMs);
      // dispatch, not request: the answer's chunks are gathered here, without the Readable
      // stream `request` makes for every response.
      dispatcher.dispatch(
        { origin, path, method: 'POST', headers, body },
        {
          onRequestStart(started) {
            controller = started;
            if (settled) started.abort(new DOMException('abandoned', 'TimeoutError'));
          },
          onResponseStart(_controller, statusCode, headersIn) {
            status = statusCode;
            responseHeaders = headersIn;
          },
          onResponseData(_controller, chunk) {
            chunks.push(chunk);
          },
          onResponseEnd() {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            try {
              const text =
                chunks.length === 1
                  ? chunks[0]!.toString('utf8')
                  : Buffer.concat(chunks).toString('utf8');
              resolve(answerOf(url, status, responseHeaders, text));
            } catch (error) {
              // JSON.parse's SyntaxError: a body that says it is JSON and is not.
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          },
          onResponseError(_controller, error) {
            fail(error);
          },
        },
      );
    });
}

/**
 * A fetcher for a subgraph in this process: its route gets the request as HTTP would carry
 * it, and its answer's text is read as an HTTP answer's. Past `timeoutMs` the call rejects
 * with a `TimeoutError` and the request's signal is aborted, as a hang-up would abort it.
 */
export function inProcessFetcher(
  url: string,
  graphql: InProcessGraphQL,
  timeoutMs: number,
): SubgraphFetcher {
  return (headers, body) => {
    const hangUp = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError');
        hangUp.abort(error);
        reject(error);
      }, timeoutMs);
    });
    const answered = graphql({ headers, body, signal: hangUp.signal }).then((answer) =>
      answerOf(url, answer.status, answer.headers, answer.body),
    );
    return Promise.race([answered, timedOut]).finally(() => clearTimeout(timer));
  };
}

function answerOf(
  url: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): SubgraphAnswer {
  const contentType = headers['content-type'];
  const json =
    typeof contentType === 'string' &&
    (contentType.startsWith('application/json') ||
      contentType.startsWith('application/graphql-response+json'));
  return {
    url,
    status,
    statusText: STATUS_CODES[status] ?? '',
    headers,
    body: json ? (JSON.parse(text) as unknown) : text,
  };
}
