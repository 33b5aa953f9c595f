/**
 * Hive Gateway's configuration file for `bench:gateway` (its CLI loads it with
 * `--config-path`). Empty — Hive's defaults — but for two things the bench turns on by
 * environment:
 *
 * - HIVE_UPSTREAM_CONFIG=true: what graphql-gateways-benchmark runs Hive Gateway with
 *   (`inboundInflightRequestDeduplication: true`; its `--jit` is a CLI flag the bench adds).
 *   That deduplication shares one execution among identical requests in flight whose
 *   headers are identical too.
 * - GATEWAY_TOKEN_SECRET and CLAIMS (JSON access-token claims): the identity token eventgraph's
 *   subgraphs verify, signed for the caller the request's `Authorization` names (its claims
 *   read, not verified: Hive checks no access token here, like the plain @apollo/gateway),
 *   or for CLAIMS' caller without one. It goes out as a propagated header, so Hive's
 *   deduplication of identical subgraph requests in flight (on by default, keyed by URL,
 *   body and propagated headers) shares a fetch only within one caller, as ours does. Unset
 *   for the public scenario, whose subgraphs need no identity.
 */
import { GATEWAY_TOKEN_HEADER, createGatewayTokens } from '../../shared/auth/index.ts';
import type { AccessTokenClaims } from '../../shared/auth/index.ts';

const secret = process.env['GATEWAY_TOKEN_SECRET'];
const claimsJson = process.env['CLAIMS'];

/** The claims of a `Bearer` JWT, unverified; null without one. */
function claimsOf(authorization: string | null): AccessTokenClaims | null {
  const payload = /^Bearer [^.]+\.([^.]+)\./i.exec(authorization ?? '')?.[1];
  if (!payload) return null;
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as AccessTokenClaims;
}

function identityHeaders() {
  if (!secret || !claimsJson) return {};
  const fixed = JSON.parse(claimsJson) as AccessTokenClaims;
  // Signed tokens are cached per claims: one caller's fetches carry identical headers.
  const tokens = createGatewayTokens({ secret });
  return {
    propagateHeaders: {
      fromClientToSubgraphs: async ({ request }: { request: Request }) => ({
        [GATEWAY_TOKEN_HEADER]: await tokens.sign({
          claims: claimsOf(request.headers.get('authorization')) ?? fixed,
          clientIp: null,
        }),
      }),
    },
  };
}

// A plain object, not `defineConfig` (which only returns it): importing the package's types
// would bring its own copy of @types/node into this project's type check.
export const gatewayConfig = {
  ...(process.env['HIVE_UPSTREAM_CONFIG'] === 'true'
    ? { inboundInflightRequestDeduplication: true }
    : {}),
  ...identityHeaders(),
};
