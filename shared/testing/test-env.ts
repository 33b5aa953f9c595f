/**
 * Names of the environment variables through which jest's global setup hands each test
 * worker its isolated resources, and the servers tests use. Shared by setup and helpers.
 */
export const TEST_ENV = {
  runId: 'EVENTGRAPH_TEST_RUN_ID',
  postgresUrl: 'EVENTGRAPH_TEST_POSTGRES_URL',
  redisUrl: 'EVENTGRAPH_TEST_REDIS_URL',
  kafkaBrokers: 'EVENTGRAPH_TEST_KAFKA_BROKERS',
} as const;

/** Servers used when the developer sets nothing (this machine's PostgreSQL and Redis). */
export const DEFAULT_TEST_SERVERS = {
  postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: 'redis://127.0.0.1:6379',
  /** Where jest's global setup starts Kafka (test/kafka) unless KAFKA_BROKERS is set. */
  kafkaHost: '127.0.0.1',
  kafkaPort: 19092,
} as const;

/** Every database a run creates starts with this, so teardown can find them all. */
export function databasePrefix(runId: string): string {
  return `egt_${runId}_`;
}

/** Every Redis key a run writes starts with this. */
export function redisPrefix(runId: string): string {
  return `egt:${runId}:`;
}

/** Every Kafka topic and consumer group a run creates starts with this. */
export function kafkaPrefix(runId: string): string {
  return `t${runId}`;
}
