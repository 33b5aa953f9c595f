/**
 * The page at `/` in development: Apollo Sandbox, which comes from Apollo's CDN, over a page
 * of this server's own that works offline. The page names the endpoint and shows a first
 * query and its curl command at once; when Sandbox's script loads, Sandbox takes the whole
 * window (with that query in its editor); when it cannot load, the page says so and stays.
 *
 * Apollo's own landing page plugin has no such fallback (offline it shows "you might be
 * offline"), so this is a landing page plugin of the same shape: the same Sandbox embed, the
 * same nonce-based Content-Security-Policy.
 */
import { randomBytes } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';

/** The query the page shows when the installation names none: any GraphQL server answers it. */
export const DEFAULT_DOCUMENT = '{ __typename }';

/** The curl command that runs `query` against `endpoint`. */
export function curlCommand(endpoint: string, query: string): string {
  const body = JSON.stringify({ query });
  return `curl -s ${endpoint} -H 'content-type: application/json' -d '${body}'`;
}

const SANDBOX_CDN = 'https://embeddable-sandbox.cdn.apollographql.com';
const SANDBOX_SCRIPT = `${SANDBOX_CDN}/v2/embeddable-sandbox.umd.production.min.js`;
const SANDBOX_FRAME = 'https://sandbox.embed.apollographql.com';

export interface LandingPageOptions {
  /** The query Sandbox opens with and the page shows. @default DEFAULT_DOCUMENT */
  document?: string;
  /**
   * The endpoint as the server knows it (its listening URL), for the page's text; in a
   * browser the page uses its own origin instead.
   */
  endpoint: () => string;
}

export function landingPagePlugin<TContext extends object>(
  options: LandingPageOptions,
): ApolloServerPlugin<TContext> {
  const document = options.document ?? DEFAULT_DOCUMENT;
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html: async () => landingPageHtml(document, options.endpoint()) };
        },
      };
    },
  };
}

/** Escapes text for HTML element content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON for an inline script: nothing in it can close the script element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export function landingPageHtml(document: string, endpoint: string): string {
  const nonce = randomBytes(16).toString('base64');
  const csp = [
    `script-src 'nonce-${nonce}' ${SANDBOX_CDN}`,
    `style-src 'nonce-${nonce}' ${SANDBOX_CDN}`,
    `frame-src ${SANDBOX_FRAME}`,
    "img-src 'none'",
  ].join('; ');
  // Shown until Sandbox loads. The script puts the page's own origin in the endpoint (the
  // server's listening address may not be what the browser reaches).
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta http-equiv="Content-Security-Policy" content="${csp}" />
    <meta name="viewport" content="width=device-width,initial-scale=1" />
    <title>eventgraph</title>
    <style nonce="${nonce}">
      body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1b1b1f; }
      main { max-width: 52rem; margin: 3rem auto; padding: 0 1.5rem; }
      pre { background: #f3f3f6; padding: 0.75rem 1rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
      code { font: 14px/1.5 ui-monospace, monospace; }
      #sandbox { position: absolute; inset: 0; }
      #sandbox[hidden] { display: none; }
      iframe { width: 100%; height: 100%; border: none; }
    </style>
  </head>
  <body>
    <main id="guide">
      <h1>eventgraph</h1>
      <p id="status">Loading Apollo Sandbox from Apollo's CDN…</p>
      <p>GraphQL endpoint: <code id="endpoint">${escapeHtml(endpoint)}</code> (POST JSON).</p>
      <p>A first query:</p>
      <pre><code>${escapeHtml(document)}</code></pre>
      <p>From a terminal:</p>
      <pre><code id="curl">${escapeHtml(curlCommand(endpoint, document))}</code></pre>
    </main>
    <div id="sandbox" hidden></div>
    <script nonce="${nonce}">
      (function () {
        var documentText = ${scriptJson(document)};
        var endpoint = window.location.origin + '/graphql';
        var body = JSON.stringify({ query: documentText });
        window.document.getElementById('endpoint').textContent = endpoint;
        window.document.getElementById('curl').textContent =
          'curl -s ' + endpoint + " -H 'content-type: application/json' -d '" + body + "'";
        var status = window.document.getElementById('status');
        var script = window.document.createElement('script');
        script.src = ${scriptJson(SANDBOX_SCRIPT)};
        script.nonce = ${scriptJson(nonce)};
        script.onerror = function () {
          status.textContent =
            "Apollo Sandbox could not be loaded from Apollo's CDN (offline?). The endpoint answers all the same:";
        };
        script.onload = function () {
          window.document.getElementById('guide').hidden = true;
          window.document.getElementById('sandbox').hidden = false;
          new window.EmbeddedSandbox({
            target: '#sandbox',
            initialEndpoint: endpoint,
            initialState: { document: documentText, includeCookies: false },
            hideCookieToggle: false,
            endpointIsEditable: false,
            allowDynamicStyles: false,
          });
        };
        window.document.head.appendChild(script);
      })();
    </script>
  </body>
</html>
`;
}
