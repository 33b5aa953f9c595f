/**
 * The development landing page works offline: before (and without) Apollo Sandbox it names
 * the endpoint and shows a first query and its curl command; Sandbox loads from Apollo's CDN
 * under the page's own nonce-based Content-Security-Policy.
 */
import { curlCommand, landingPageHtml, landingPagePlugin } from './landing-page.ts';

const endpoint = 'http://127.0.0.1:4000/graphql';
const FIRST_QUERY = '{ books(first: 3) { title author } }';

describe('landingPageHtml', () => {
  const html = landingPageHtml(FIRST_QUERY, endpoint);

  it('names the endpoint and shows the first query and its curl command without any script', () => {
    const visible = html.replace(/<script[\s\S]*?<\/script>/g, '');
    expect(visible).toContain(`<code id="endpoint">${endpoint}</code>`);
    expect(visible).toContain(FIRST_QUERY);
    expect(visible).toContain(
      `curl -s ${endpoint} -H &#39;content-type: application/json&#39; -d &#39;{&#34;query&#34;:`,
    );
  });

  it('loads Sandbox from its CDN and says so when it cannot', () => {
    expect(html).toContain(
      'https://embeddable-sandbox.cdn.apollographql.com/v2/embeddable-sandbox.umd.production.min.js',
    );
    expect(html).toContain('script.onerror');
    expect(html).toContain("Apollo Sandbox could not be loaded from Apollo's CDN (offline?)");
  });

  it('allows its own inline script and style by a fresh nonce, Sandbox by its hosts, nothing else', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toBe(
      `script-src 'nonce-${nonce}' https://embeddable-sandbox.cdn.apollographql.com; ` +
        `style-src 'nonce-${nonce}' https://embeddable-sandbox.cdn.apollographql.com; ` +
        "frame-src https://sandbox.embed.apollographql.com; img-src 'none'",
    );
    expect(html.match(/<script nonce="([^"]+)">/)![1]).toBe(nonce);
    expect(html.match(/<style nonce="([^"]+)">/)![1]).toBe(nonce);
    expect(landingPageHtml(FIRST_QUERY, endpoint)).not.toContain(nonce);
  });

  it('escapes what it shows and what its script reads', () => {
    const tricky = '{ a(b: "</script><b>") }';
    const page = landingPageHtml(tricky, endpoint);
    expect(page).not.toContain('</script><b>');
    expect(page).toContain('{ a(b: &#34;&#60;/script&#62;&#60;b&#62;&#34;) }');
  });
});

describe('curlCommand', () => {
  it('posts the query as JSON', () => {
    expect(curlCommand(endpoint, '{ me { id } }')).toBe(
      `curl -s ${endpoint} -H 'content-type: application/json' -d '{"query":"{ me { id } }"}'`,
    );
  });
});

describe('landingPagePlugin', () => {
  it("renders the page with the endpoint as the server knows it at the request's time", async () => {
    let current = '/graphql';
    const plugin = landingPagePlugin({ endpoint: () => current });
    const listener = await plugin.serverWillStart!({} as never);
    const page = await listener!.renderLandingPage!();
    current = endpoint;
    const html = typeof page.html === 'string' ? page.html : await page.html();
    expect(html).toContain(`<code id="endpoint">${endpoint}</code>`);
  });
});
