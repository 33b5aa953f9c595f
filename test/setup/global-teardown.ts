/**
 * Jest global teardown: drops every database and deletes every Redis key this run created,
 * found by the run id, and stops the Kafka that global setup started (or, on the brokers of
 * KAFKA_BROKERS, deletes the run's topics), so runs leave nothing behind.
 */
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import pg from 'pg';
import { Redis } from 'ioredis';
import {
  TEST_ENV,
  databasePrefix,
  kafkaPrefix,
  redisPrefix,
} from '../../shared/testing/test-env.ts';

export default async function globalTeardown(): Promise<void> {
  const runId = process.env[TEST_ENV.runId];
  const errors: unknown[] = [];
  if (runId) {
    const client = new pg.Client({ connectionString: process.env[TEST_ENV.postgresUrl] });
    try {
      await client.connect();
      const { rows } = await client.query<{ datname: string }>(
        'select datname from pg_database where datname like $1',
        [`${databasePrefix(runId)}%`],
      );
      for (const { datname } of rows) {
        await client.query(`drop database if exists "${datname}" with (force)`);
      }
    } catch (error) {
      errors.push(error);
    } finally {
      await client.end().catch(() => undefined);
    }

    const redis = new Redis(process.env[TEST_ENV.redisUrl]!, { lazyConnect: true });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${redisPrefix(runId)}*`,
          'COUNT',
          500,
        );
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } catch (error) {
      errors.push(error);
    } finally {
      redis.disconnect();
    }
  }
  if (globalThis.__EVENTGRAPH_TEST_KAFKA__) {
    // Stopping the run's own Kafka deletes its data directory, topics and all.
    await globalThis.__EVENTGRAPH_TEST_KAFKA__.stop();
    globalThis.__EVENTGRAPH_TEST_KAFKA__ = undefined;
  } else if (runId && process.env[TEST_ENV.kafkaBrokers]) {
    // A real broker (KAFKA_BROKERS was set): delete the topics this run created.
    const admin = new kafkajs.Kafka({
      brokers: process.env[TEST_ENV.kafkaBrokers]!.split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();
    try {
      await admin.connect();
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(kafkaPrefix(runId)));
      if (topics.length) await admin.deleteTopics({ topics });
    } catch (error) {
      // Brokers may refuse DeleteTopics (ACLs, delete.topic.enable=false):
      // leftover prefixed topics are harmless, so this warns instead of failing the run.
      console.warn(`test teardown left Kafka topics behind: ${(error as Error).message}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  if (errors.length) throw new AggregateError(errors, 'test teardown could not clean up');
}
