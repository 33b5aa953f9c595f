/**
 * Configuration from the environment: typed defaults when nothing is set, and one
 * ConfigError listing every bad variable — by name, with what was expected — when something
 * is wrong, without ever echoing a password.
 */
import { z } from 'zod';
import { ConfigError, commonEnvSchema, env, loadConfig, redactUrl } from './index.ts';

/** A service schema as entry points build it: the common variables plus a port. */
const serviceSchema = commonEnvSchema.extend({
  PORT: env.port().default(4000),
  USERS_URL: env.httpUrl().optional(),
});

/** Runs `load` and returns the ConfigError it throws (fails the test if it does not). */
function configErrorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('loadConfig', () => {
  it('returns typed defaults when nothing is set', () => {
    const config = loadConfig(serviceSchema, {});

    expect(config).toEqual({
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      DATA_DIR: '.data',
      DATABASE_POOL_MAX: 10,
      KAFKA_TOPIC_PREFIX: '',
      KAFKA_TOPIC_PARTITIONS: 3,
      KAFKA_COMPRESSION: 'none',
      KAFKA_SESSION_TIMEOUT_MS: 30_000,
      REDIS_KEY_PREFIX: 'eventgraph:',
      SHUTDOWN_TIMEOUT_MS: 8000,
      PORT: 4000,
    });
  });

  it('parses and converts every valid variable', () => {
    const config = loadConfig(serviceSchema, {
      NODE_ENV: 'production',
      LOG_LEVEL: 'debug',
      PORT: '8080',
      DATABASE_URL: 'postgresql://app:secret@db:5432/app',
      REDIS_URL: 'rediss://cache:6380',
      KAFKA_BROKERS: 'k1:9092,k2:9093',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      SHUTDOWN_TIMEOUT_MS: '1500',
      USERS_URL: 'http://users:4002/graphql',
    });

    expect(config).toMatchObject({
      NODE_ENV: 'production',
      LOG_LEVEL: 'debug',
      PORT: 8080,
      DATABASE_URL: 'postgresql://app:secret@db:5432/app',
      REDIS_URL: 'rediss://cache:6380',
      KAFKA_BROKERS: ['k1:9092', 'k2:9093'],
      KAFKA_SESSION_TIMEOUT_MS: 6000,
      SHUTDOWN_TIMEOUT_MS: 1500,
      USERS_URL: 'http://users:4002/graphql',
    });
  });

  it('accepts PORT=0 (any free port) and PORT=65535', () => {
    expect(loadConfig(serviceSchema, { PORT: '0' }).PORT).toBe(0);
    expect(loadConfig(serviceSchema, { PORT: '65535' }).PORT).toBe(65535);
  });

  it('trims surrounding whitespace from values', () => {
    const config = loadConfig(serviceSchema, { PORT: ' 5000 ', LOG_LEVEL: ' warn\n' });
    expect(config.PORT).toBe(5000);
    expect(config.LOG_LEVEL).toBe('warn');
  });

  it('treats empty and blank strings as unset (defaults apply, optionals stay absent)', () => {
    const config = loadConfig(serviceSchema, {
      PORT: '',
      LOG_LEVEL: '   ',
      DATABASE_URL: '',
      KAFKA_BROKERS: '',
      REDIS_URL: undefined,
    });

    expect(config.PORT).toBe(4000);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config).not.toHaveProperty('DATABASE_URL');
    expect(config).not.toHaveProperty('KAFKA_BROKERS');
    expect(config).not.toHaveProperty('REDIS_URL');
  });

  it('reports an empty required variable as unset', () => {
    const schema = z.object({ SECRET_KEY: z.string({ message: 'expected a secret key' }) });

    const error = configErrorOf(() => loadConfig(schema, { SECRET_KEY: '' }));

    expect(error.problems).toEqual(['SECRET_KEY: expected a secret key (it is unset)']);
  });

  it('reads process.env when no environment is given', () => {
    const schema = z.object({ EVENTGRAPH_CONFIG_TEST_PORT: env.port() });
    process.env['EVENTGRAPH_CONFIG_TEST_PORT'] = '4321';
    try {
      expect(loadConfig(schema)).toEqual({ EVENTGRAPH_CONFIG_TEST_PORT: 4321 });
    } finally {
      delete process.env['EVENTGRAPH_CONFIG_TEST_PORT'];
    }
  });

  describe('a bad variable throws ConfigError naming the variable and the expectation', () => {
    it.each([
      ['PORT', 'abc', 'expected a TCP port number (0-65535, 0 = any free port)'],
      ['PORT', '65536', 'expected a TCP port number (0-65535, 0 = any free port)'],
      ['PORT', '-1', 'expected a TCP port number (0-65535, 0 = any free port)'],
      ['PORT', '80.5', 'expected a TCP port number (0-65535, 0 = any free port)'],
      ['DATABASE_URL', 'mysql://x', 'expected a URL like postgres://user:password@host:5432/db'],
      ['DATABASE_URL', 'not a url', 'expected a URL like postgres://user:password@host:5432/db'],
      ['REDIS_URL', 'memcached://cache:11211', 'expected a URL like redis://host:6379'],
      ['USERS_URL', 'ftp://users/graphql', 'expected a URL like http://host:4002/graphql'],
      ['KAFKA_BROKERS', 'a b', 'expected a comma-separated list of host:port'],
      ['KAFKA_BROKERS', 'kafka:9092,', 'expected a comma-separated list of host:port'],
      ['KAFKA_BROKERS', 'kafka', 'expected a comma-separated list of host:port'],
      ['NODE_ENV', 'staging', 'expected development, production or test'],
      ['LOG_LEVEL', 'loud', 'expected one of fatal, error, warn, info, debug, trace, silent'],
      ['SHUTDOWN_TIMEOUT_MS', '0', 'expected a positive integer'],
      ['KAFKA_SESSION_TIMEOUT_MS', 'soon', 'expected a positive integer'],
    ])('%s=%j', (variable, value, expectation) => {
      const error = configErrorOf(() => loadConfig(serviceSchema, { [variable]: value }));

      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('ConfigError');
      expect(error.problems).toEqual([
        `${variable}: ${expectation} (got ${JSON.stringify(value)})`,
      ]);
      expect(error.message).toBe(`Invalid configuration: ${error.problems[0]}`);
    });
  });

  it('lists every bad variable, one problem each', () => {
    const error = configErrorOf(() =>
      loadConfig(serviceSchema, {
        PORT: 'abc',
        DATABASE_URL: 'mysql://x',
        KAFKA_BROKERS: 'a b',
        LOG_LEVEL: 'info', // fine: not listed
      }),
    );

    expect(error.problems).toHaveLength(3);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT: expected a TCP port number .*\(got "abc"\)$/),
        expect.stringMatching(
          /^DATABASE_URL: expected a URL like postgres:\/\/.*\(got "mysql:\/\/x"\)$/,
        ),
        expect.stringMatching(
          /^KAFKA_BROKERS: expected a comma-separated list of host:port \(got "a b"\)$/,
        ),
      ]),
    );
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it('does not leak the password of a bad URL in problems or message', () => {
    const error = configErrorOf(() =>
      loadConfig(serviceSchema, {
        DATABASE_URL: 'mysql://root:s3cr3t-pw@db:3306/app',
        REDIS_URL: 'memcached://default:r3dis-pw@cache:11211',
      }),
    );

    expect(error.problems).toHaveLength(2);
    expect(error.message).not.toContain('s3cr3t-pw');
    expect(error.message).not.toContain('r3dis-pw');
    expect(error.problems.join('\n')).not.toMatch(/s3cr3t-pw|r3dis-pw/);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('(got "mysql://root:***@db:3306/app")'),
        expect.stringContaining('(got "memcached://default:***@cache:11211")'),
      ]),
    );
  });
});

describe('a bad URL that does not parse at all', () => {
  // A URL with a typo elsewhere (here the port) must still not echo its password.
  it('does not leak its password either (typo in the port)', () => {
    const error = configErrorOf(() =>
      loadConfig(serviceSchema, { DATABASE_URL: 'postgres://app:s3cr3t-pw@db:54x2/app' }),
    );

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^DATABASE_URL: expected a URL like postgres:/);
    expect(error.message).not.toContain('s3cr3t-pw');
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps everything else', () => {
    expect(redactUrl('postgres://app:s3cr3t@db.internal:5432/app?sslmode=require')).toBe(
      'postgres://app:***@db.internal:5432/app?sslmode=require',
    );
  });

  it('hides a password given without a user name', () => {
    const redacted = redactUrl('redis://:r3dis@cache:6379');
    expect(redacted).not.toContain('r3dis');
    expect(redacted).toBe('redis://:***@cache:6379');
  });

  it('hides a percent-encoded password', () => {
    const redacted = redactUrl('postgres://app:p%40ss%3Aword@db/app');
    expect(redacted).toBe('postgres://app:***@db/app');
  });

  it('leaves a URL without a password unchanged', () => {
    expect(redactUrl('postgres://app@db:5432/app')).toBe('postgres://app@db:5432/app');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('returns a non-URL unchanged', () => {
    expect(redactUrl('k1:9092,k2:9092')).toBe('k1:9092,k2:9092');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});
