/**
 * Our gateway (`startGateway`) over a supergraph file of any subgraphs, for `bench:gateway`'s
 * public scenario: requests are anonymous (nothing signs access tokens there, so the JWKS is
 * never fetched), caches are in memory, logging is at `warn`, and the limits a benchmark
 * would trip (rate limit, depth) are lifted. The connection's `X-Forwarded-For` names the
 * client (trusted from 127.0.0.1), so `--callers N` can make N distinct anonymous callers.
 * Runs as a child process; prints `ready <GraphQL URL>` on stdout once it serves.
 *
 * Environment: SUPERGRAPH_PATH, SUBGRAPH_URLS (JSON name → GraphQL URL), PORT.
 */
import { startGateway } from '../../gateway/server.ts';
import { createLogger } from '../../shared/observability/index.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`our gateway: ${name} is required`);
  return value;
};

const urls = JSON.parse(env('SUBGRAPH_URLS')) as Record<string, string>;
const gateway = await startGateway({
  config: {
    host: '127.0.0.1',
    port: Number(env('PORT')),
    operatorPort: 0,
    supergraph: { kind: 'file', path: env('SUPERGRAPH_PATH') },
    subgraphs: Object.entries(urls).map(([name, url]) => ({ name, url })),
    introspection: false,
    sandbox: false,
    gatewayTokenSecret: 'bench-gateway-public-scenario-0123456789-abcdefgh',
    // Every request is anonymous, so the JWKS is never fetched: nothing listens there.
    accessTokens: {
      jwksUrl: new URL('http://127.0.0.1:9/.well-known/jwks.json'),
      issuer: 'bench',
      audience: 'bench',
      maxAgeSeconds: 900,
    },
    trustedProxies: ['127.0.0.1'],
    redisUrl: undefined,
    revocationPrefix: 'bench:auth:',
    cachePrefix: 'bench:gateway:',
    limits: { rateLimitPerMinute: 100_000_000, maxDepth: 64, maxCost: 1_000_000 },
  },
  logger: createLogger({ level: 'warn' }),
});
process.stdout.write(`ready ${gateway.url}/graphql\n`);
const stop = () => void gateway.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
