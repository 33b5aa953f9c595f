/**
 * The gateway's limits and safety guards over HTTP, on a lone gateway process
 * (SERVICE=gateway): every refusal here happens before any subgraph is called, so none runs.
 * Depth, aliases and cost → 400 GRAPHQL_VALIDATION_FAILED naming the limit; batches over
 * GATEWAY_MAX_BATCH and GET without a CSRF header → 400; bodies over GATEWAY_MAX_BODY_BYTES
 * → 413; over GATEWAY_RATE_LIMIT_PER_MINUTE → 429 RATE_LIMITED with Retry-After, per client
 * address (behind GATEWAY_TRUSTED_PROXIES, the address they forward); CORS
 * headers only for GATEWAY_CORS_ORIGINS; security headers on every GraphQL response.
 */
import type { PlatformHandle } from '../../platform/platform.ts';
import { postGraphQL } from '../../shared/testing/index.ts';
import { codes, startLoneGateway } from './fixture.ts';

const ALLOWED_ORIGIN = 'https://app.example.com';

function startGateway(env: Record<string, string> = {}): Promise<PlatformHandle> {
  return startLoneGateway({
    GATEWAY_CORS_ORIGINS: `${ALLOWED_ORIGIN},http://localhost:3000`,
    GATEWAY_MAX_BODY_BYTES: '10000',
    GATEWAY_MAX_TOKENS: '500',
    ...env,
  });
}

/** `{ me { orders(first: 1) { edges { node { user { … id } } } } } }`, `levels` deep. */
function nestedOrders(levels: number): string {
  let selection = 'id';
  for (let i = 0; i < levels; i++) {
    selection = `orders(first: 1) { edges { node { user { ${selection} } } } }`;
  }
  return `{ me { ${selection} } }`;
}

describe('a gateway with its limits', () => {
  let platform: PlatformHandle;
  let graphqlUrl: string;
  beforeAll(async () => {
    platform = await startGateway();
    graphqlUrl = `${platform.gateway!.url}/graphql`;
  });
  afterAll(async () => {
    await platform.stop();
  });

  it('answers an operation within every limit', async () => {
    const response = await postGraphQL(graphqlUrl, '{ __typename }');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses a query deeper than GATEWAY_MAX_DEPTH', async () => {
    const response = await postGraphQL(graphqlUrl, nestedOrders(3));
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      {
        message: 'Query depth 14 exceeds the limit of 12',
        extensions: {
          code: 'GRAPHQL_VALIDATION_FAILED',
          limit: { name: 'depth', maximum: 12, actual: 14 },
        },
      },
    ]);
  });

  it('refuses more aliases than GATEWAY_MAX_ALIASES', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: __typename`).join(' ');
    const response = await postGraphQL(graphqlUrl, `{ ${aliases} }`);
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.body.errors?.[0]?.message).toBe('Query uses 31 aliases, over the limit of 30');
  });

  it('refuses a query costing more than GATEWAY_MAX_COST', async () => {
    // 1 + 100 × (edges 1 + node (1 + orders (1 + 100 × (edges 1 + node (1 + id 1))))) = 30,301
    const response = await postGraphQL(
      graphqlUrl,
      '{ users(first: 100) { edges { node { orders(first: 100) { edges { node { id } } } } } } }',
    );
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]).toMatchObject({
      message: 'Query cost 30301 exceeds the limit of 20000',
      extensions: {
        code: 'GRAPHQL_VALIDATION_FAILED',
        limit: { name: 'cost', maximum: 20000, actual: 30301 },
      },
    });
  });

  it('refuses a document of more tokens than GATEWAY_MAX_TOKENS before parsing it all', async () => {
    const response = await postGraphQL(graphqlUrl, `{ ${'__typename '.repeat(499)} }`);
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(response.body.errors?.[0]?.message).toMatch(/contains more th.. 500 tokens/); // graphql-js says "more that";
    // 497 fields and two braces: 499 tokens.
    const parsed = await postGraphQL(graphqlUrl, `{ ${'__typename '.repeat(497)} }`);
    expect(parsed.status).toBe(200);
  });

  it('refuses a document nested too deep to parse safely, before parsing it', async () => {
    // Within GATEWAY_MAX_BODY_BYTES here; a few thousand levels overflow graphql-js's parser.
    const levels = 3000;
    const response = await postGraphQL(graphqlUrl, `${'{a'.repeat(levels)}${'}'.repeat(levels)}`);
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]).toEqual({
      message: 'Query nesting exceeds the limit of 128 levels',
      extensions: { code: 'GRAPHQL_PARSE_FAILED', limit: { name: 'nesting', maximum: 128 } },
    });
  });

  it('refuses an operationName that names no operation with 400', async () => {
    const response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', operationName: 'Nope' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      errors: [
        {
          message: 'Unknown operation named "Nope"',
          extensions: { code: 'OPERATION_RESOLUTION_FAILURE' },
        },
      ],
    });
  });

  it('answers a batch within GATEWAY_MAX_BATCH and refuses a larger one', async () => {
    const batch = (size: number) =>
      fetch(graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: size }, () => ({ query: '{ __typename }' }))),
      });
    const allowed = await batch(10);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toHaveLength(10);

    const refused = await batch(11);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      errors: [
        {
          message: 'A batch of 11 operations exceeds the limit of 10',
          extensions: { code: 'BAD_REQUEST', limit: { name: 'batch', maximum: 10, actual: 11 } },
        },
      ],
    });
  });

  it('answers a body over GATEWAY_MAX_BODY_BYTES with 413 and a GraphQL error', async () => {
    const response = await postGraphQL(graphqlUrl, '{ __typename }', {
      padding: 'x'.repeat(10_000),
    });
    expect(response.status).toBe(413);
    expect(response.body).toEqual({
      errors: [
        {
          message: 'Request body is larger than the limit of 10000 bytes',
          extensions: { code: 'BAD_REQUEST' },
        },
      ],
    });
  });

  it('refuses a GET query without a CSRF-safe header, and answers one with it', async () => {
    const url = `${graphqlUrl}?query=${encodeURIComponent('{ __typename }')}`;
    const simple = await fetch(url);
    expect(simple.status).toBe(400);
    expect(await simple.text()).toMatch(/CSRF/);

    for (const headers of [
      { 'apollo-require-preflight': 'true' },
      { 'content-type': 'application/json' },
    ]) {
      const safe = await fetch(url, { headers });
      expect(safe.status).toBe(200);
      expect(await safe.json()).toEqual({ data: { __typename: 'Query' } });
    }
  });

  it('sends CORS headers to an allowed origin only', async () => {
    const preflight = (origin: string) =>
      fetch(graphqlUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/authorization/);

    const other = await preflight('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const post = await postGraphQL(graphqlUrl, '{ __typename }', undefined, {
      origin: ALLOWED_ORIGIN,
    });
    expect(post.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(post.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await postGraphQL(graphqlUrl, '{ __typename }', undefined, {
      origin: 'https://evil.example.com',
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends the security headers with every GraphQL response, errors included', async () => {
    for (const response of [
      await postGraphQL(graphqlUrl, '{ __typename }'),
      await postGraphQL(graphqlUrl, '{ nope }'),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      // Not production: no HSTS.
      expect(response.headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('still serves the Sandbox page, which may not be framed', async () => {
    const page = await fetch(`${platform.gateway!.url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/embeddable-sandbox/);
    expect(page.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('a production gateway', () => {
  it('sends Strict-Transport-Security', async () => {
    const platform = await startGateway({ NODE_ENV: 'production' });
    try {
      const response = await postGraphQL(`${platform.gateway!.url}/graphql`, '{ __typename }');
      expect(response.headers.get('strict-transport-security')).toBe(
        'max-age=31536000; includeSubDomains',
      );
    } finally {
      await platform.stop();
    }
  });
});

describe('the rate limit per client', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a client exceeds GATEWAY_RATE_LIMIT_PER_MINUTE', async () => {
    const platform = await startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const url = `${platform.gateway!.url}/graphql`;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await postGraphQL(url, '{ __typename }')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);

      const refused = await postGraphQL(url, '{ __typename }');
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.body).toEqual({
        errors: [
          {
            message: `Too many attempts; retry in ${retryAfter}s`,
            extensions: { code: 'RATE_LIMITED', retryAfter },
          },
        ],
      });
      // Health is not rate limited.
      expect((await fetch(`${platform.gateway!.url}/health`)).status).toBe(200);
      // A forwarding header from a peer the gateway does not trust changes nothing.
      const forged = await postGraphQL(url, '{ __typename }', undefined, {
        'x-forwarded-for': '203.0.113.9',
      });
      expect(forged.status).toBe(429);
    } finally {
      await platform.stop();
    }
  });

  it('counts each client behind a trusted proxy (GATEWAY_TRUSTED_PROXIES) by its forwarded address', async () => {
    // The test is the proxy: it connects from loopback and says whom it forwards.
    const platform = await startGateway({
      GATEWAY_RATE_LIMIT_PER_MINUTE: '2',
      GATEWAY_TRUSTED_PROXIES: 'loopback',
    });
    try {
      const url = `${platform.gateway!.url}/graphql`;
      const as = async (forwardedFor: string) =>
        (
          await postGraphQL(url, '{ __typename }', undefined, {
            'x-forwarded-for': forwardedFor,
          })
        ).status;
      expect([await as('203.0.113.1'), await as('203.0.113.1')]).toEqual([200, 200]);
      expect(await as('203.0.113.1')).toBe(429);
      // Another client behind the same proxy has its own budget.
      expect(await as('203.0.113.2')).toBe(200);
      // A client cannot pose as another by prepending to the header: the proxy appends the
      // address it saw, and that is the one counted.
      expect(await as('203.0.113.2, 203.0.113.1')).toBe(429);
      expect(await as('203.0.113.1, 203.0.113.3')).toBe(200);
    } finally {
      await platform.stop();
    }
  });
});
