/**
 * Jest global setup: checks that PostgreSQL and Redis answer (with the command that starts
 * each when they do not), starts Apache Kafka (test/kafka) unless KAFKA_BROKERS names one,
 * and gives the run an id that isolates its databases, Redis keys and topics.
 * Workers inherit the resulting environment; global-teardown removes what the run made.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startKafka } from '../kafka/index.ts';
import type { KafkaCluster } from '../kafka/index.ts';
import { DEFAULT_TEST_SERVERS, TEST_ENV } from '../../shared/testing/test-env.ts';

declare global {
  var __EVENTGRAPH_TEST_KAFKA__: KafkaCluster | undefined;
}

export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const postgresUrl = process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_SERVERS.postgresUrl;
  const redisUrl = process.env['TEST_REDIS_URL'] ?? DEFAULT_TEST_SERVERS.redisUrl;

  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new Error(
      `Tests need PostgreSQL at ${postgresUrl} (TEST_DATABASE_URL): ${(error as Error).message}. ` +
        'Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }

  const redis = new Redis(redisUrl, { lazyConnect: true, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Tests need Redis at ${redisUrl} (TEST_REDIS_URL): ${(error as Error).message}. ` +
        'Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""',
      { cause: error },
    );
  } finally {
    redis.disconnect();
  }

  let kafkaBrokers = process.env['KAFKA_BROKERS'];
  if (!kafkaBrokers) {
    const started = Date.now();
    process.stderr.write(
      `\nstarting Kafka on ${DEFAULT_TEST_SERVERS.kafkaHost}:${DEFAULT_TEST_SERVERS.kafkaPort}… `,
    );
    const kafka = await startKafka({
      host: DEFAULT_TEST_SERVERS.kafkaHost,
      basePort: DEFAULT_TEST_SERVERS.kafkaPort,
    });
    process.stderr.write(`serving after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    globalThis.__EVENTGRAPH_TEST_KAFKA__ = kafka;
    kafkaBrokers = kafka.bootstrap;
  }

  process.env[TEST_ENV.runId] = runId;
  process.env[TEST_ENV.postgresUrl] = postgresUrl;
  process.env[TEST_ENV.redisUrl] = redisUrl;
  process.env[TEST_ENV.kafkaBrokers] = kafkaBrokers;
  // Services under test read these; never let a developer's own settings leak in.
  for (const variable of ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'SERVICE', 'PORT']) {
    delete process.env[variable];
  }
}
