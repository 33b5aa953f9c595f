/**
 * The platform's environment: what each way of running needs, refused at start-up with a
 * message naming the variable (platform/start.ts prints these on one line and exits 1).
 */
import { ConfigError, loadConfig } from '../shared/config/index.ts';
import { platformEnvSchema } from './env.ts';

const SECRET = 'a-secret-that-is-long-enough-0123456789';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(platformEnvSchema, env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

describe('platform environment', () => {
  it('needs nothing to run everything in one process (embedded defaults)', () => {
    expect(problems({})).toEqual([]);
    const env = loadConfig(platformEnvSchema, {});
    expect(env).toMatchObject({
      AUTH_ACCESS_TOKEN_TTL_SECONDS: 900,
      AUTH_REFRESH_TOKEN_TTL_SECONDS: 604800,
      AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: 10,
      AUTH_SIGNING_KEY_ROTATION_DAYS: 30,
    });
  });

  it.each([['gateway'], ['auth'], ['users']])(
    'needs GATEWAY_TOKEN_SECRET when SERVICE=%s',
    (service) => {
      expect(problems({ SERVICE: service, REDIS_URL: 'redis://r:6379' }).join('\n')).toMatch(
        /^GATEWAY_TOKEN_SECRET: expected the secret shared by the gateway and subgraphs/m,
      );
    },
  );

  it('takes ADMIN_EMAIL in development only: production refuses it, naming the command to use', () => {
    expect(problems({ ADMIN_EMAIL: 'root@example.com' })).toEqual([]);
    expect(problems({ NODE_ENV: 'production', ADMIN_EMAIL: 'root@example.com' })).toEqual([
      expect.stringMatching(
        /^ADMIN_EMAIL: is for development only .*npm run users:set-role -- <email> ADMIN/,
      ),
    ]);
    expect(problems({ NODE_ENV: 'production' })).toEqual([]);
  });

  it('refuses a GATEWAY_TOKEN_SECRET shorter than 32 characters', () => {
    expect(problems({ GATEWAY_TOKEN_SECRET: 'short' })).toEqual([
      expect.stringMatching(/^GATEWAY_TOKEN_SECRET: expected a random secret of at least 32/),
    ]);
  });

  it.each([['gateway'], ['auth']])('needs REDIS_URL when SERVICE=%s runs alone', (service) => {
    const found = problems({
      SERVICE: service,
      GATEWAY_TOKEN_SECRET: SECRET,
      AUTH_URL: 'http://auth:4001/graphql',
      USERS_URL: 'http://users:4002/graphql',
      CATALOG_URL: 'http://catalog:4003/graphql',
      ORDERS_URL: 'http://orders:4004/graphql',
      ANALYTICS_URL: 'http://analytics:4005/graphql',
    });
    expect(found).toEqual([expect.stringMatching(/^REDIS_URL: expected the Redis that auth and/)]);
  });

  it("needs every built subgraph's URL for SERVICE=gateway", () => {
    const found = problems({
      SERVICE: 'gateway',
      GATEWAY_TOKEN_SECRET: SECRET,
      REDIS_URL: 'redis://r:6379',
    });
    expect(found).toEqual([
      expect.stringMatching(/^AUTH_URL: expected the auth subgraph's GraphQL URL/),
      expect.stringMatching(/^USERS_URL: expected the users subgraph's GraphQL URL/),
      expect.stringMatching(/^CATALOG_URL: expected the catalog subgraph's GraphQL URL/),
      expect.stringMatching(/^ORDERS_URL: expected the orders subgraph's GraphQL URL/),
      expect.stringMatching(/^ANALYTICS_URL: expected the analytics subgraph's GraphQL URL/),
    ]);
  });

  it('refuses switches that are not true or false, and an unknown supergraph source', () => {
    expect(
      problems({
        GATEWAY_INTROSPECTION: 'yes',
        GATEWAY_SANDBOX: 'on',
        SUPERGRAPH_SOURCE: 'uplink',
      }),
    ).toEqual([
      expect.stringMatching(/^SUPERGRAPH_SOURCE: expected file or compose \(got "uplink"\)/),
      expect.stringMatching(/^GATEWAY_INTROSPECTION: expected true or false \(got "yes"\)/),
      expect.stringMatching(/^GATEWAY_SANDBOX: expected true or false \(got "on"\)/),
    ]);
    expect(
      loadConfig(platformEnvSchema, { GATEWAY_INTROSPECTION: 'true', GATEWAY_SANDBOX: '0' }),
    ).toMatchObject({ GATEWAY_INTROSPECTION: true, GATEWAY_SANDBOX: false });
  });

  it('refuses a negative signing-key rotation period, naming it', () => {
    expect(problems({ AUTH_SIGNING_KEY_ROTATION_DAYS: '-1' })).toEqual([
      expect.stringMatching(/^AUTH_SIGNING_KEY_ROTATION_DAYS: expected a whole number of days/),
    ]);
  });

  it('takes GATEWAY_TRUSTED_PROXIES as addresses, CIDR ranges and range names, and refuses anything else naming it', () => {
    expect(
      loadConfig(platformEnvSchema, {
        GATEWAY_TRUSTED_PROXIES: ' 10.0.0.0/8, fd00::/8,192.168.1.7, loopback ',
      }).GATEWAY_TRUSTED_PROXIES,
    ).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7', 'loopback']);
    for (const bad of ['10.0.0.0/33', 'ingress-nginx', '10.0.0.1/8/2', 'fd00::/129', '10.0.0.0/']) {
      expect(problems({ GATEWAY_TRUSTED_PROXIES: bad })).toEqual([
        expect.stringMatching(/^GATEWAY_TRUSTED_PROXIES: expected comma-separated addresses/),
      ]);
    }
  });

  it('turns tracing on only with an http(s) OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(loadConfig(platformEnvSchema, {}).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(
      loadConfig(platformEnvSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
    ).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' })).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL like http://otel-collector:4318 (got "collector:4317")',
    ]);
  });

  describe('LOG_FORMAT', () => {
    const stdoutIsTTY = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    const setStdoutIsTTY = (isTTY: boolean) =>
      Object.defineProperty(process.stdout, 'isTTY', { value: isTTY, configurable: true });
    afterEach(() => {
      if (stdoutIsTTY) Object.defineProperty(process.stdout, 'isTTY', stdoutIsTTY);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    });

    it('takes json or pretty as given', () => {
      setStdoutIsTTY(true);
      expect(loadConfig(platformEnvSchema, { LOG_FORMAT: 'json' }).LOG_FORMAT).toBe('json');
      setStdoutIsTTY(false);
      expect(loadConfig(platformEnvSchema, { LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
    });

    it('defaults to pretty on a terminal and json otherwise', () => {
      setStdoutIsTTY(true);
      expect(loadConfig(platformEnvSchema, {}).LOG_FORMAT).toBe('pretty');
      setStdoutIsTTY(false);
      expect(loadConfig(platformEnvSchema, {}).LOG_FORMAT).toBe('json');
      expect(loadConfig(platformEnvSchema, { LOG_FORMAT: ' ' }).LOG_FORMAT).toBe('json');
    });

    it('refuses any other value, naming LOG_FORMAT', () => {
      expect(problems({ LOG_FORMAT: 'text' })).toEqual([
        'LOG_FORMAT: expected json or pretty (got "text")',
      ]);
    });
  });
});
