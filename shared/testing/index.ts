/**
 * Test fixtures, one helper per kind. Each test file gets its own database, Redis key
 * prefix and Kafka topic prefix inside the run that jest's global setup prepared, so files
 * run in parallel without seeing each other, and global teardown removes all of it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import type { Identity } from '../auth/index.ts';
import { createLogger } from '../observability/index.ts';
import type { Logger } from '../observability/index.ts';
import { TEST_ENV, databasePrefix, kafkaPrefix, redisPrefix } from './test-env.ts';

export { TEST_ENV, DEFAULT_TEST_SERVERS } from './test-env.ts';

function required(variable: string): string {
  const value = process.env[variable];
  if (!value)
    throw new Error(
      `${variable} is unset: a test that needs PostgreSQL, Redis or Kafka is an integration ` +
        'test (name it *.integration.test.ts) or an e2e test (under test/e2e/), whose jest ' +
        'global setup sets it',
    );
  return value;
}

function suffix(): string {
  return randomBytes(4).toString('hex');
}

/** A logger for code under test: silent unless TEST_LOG_LEVEL is set. */
export function testLogger(): Logger {
  return createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
}

export interface TestDatabase {
  /** `postgres://` URL of a database that exists only for this test file. */
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the test PostgreSQL server (milliseconds, not seconds). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = required(TEST_ENV.postgresUrl);
  const name = `${databasePrefix(required(TEST_ENV.runId))}${suffix()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface TestRedis {
  readonly url: string;
  /** Key prefix unique to this call; ends with ':'. */
  readonly prefix: string;
}

export function testRedis(): TestRedis {
  return {
    url: required(TEST_ENV.redisUrl),
    prefix: `${redisPrefix(required(TEST_ENV.runId))}${suffix()}:`,
  };
}

export interface TestKafka {
  readonly brokers: string[];
  /** Topic and group prefix unique to this call; ends with '.'. */
  readonly topicPrefix: string;
}

export function testKafka(): TestKafka {
  return {
    brokers: required(TEST_ENV.kafkaBrokers).split(','),
    topicPrefix: `${kafkaPrefix(required(TEST_ENV.runId))}${suffix()}.`,
  };
}

/** What `decide` throws, or undefined when it returns normally (for given/when/then tests). */
export function thrownBy(decide: () => unknown): unknown {
  try {
    decide();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what ?? 'condition'}` +
          (lastError ? `: ${(lastError as Error).message}` : ''),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

export interface GraphQLResponse<TData = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: {
    data?: TData | null;
    errors?: {
      message: string;
      path?: (string | number)[];
      extensions?: Record<string, unknown>;
    }[];
  };
}

/** POSTs a GraphQL operation, as a client would. */
export async function postGraphQL<TData = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as GraphQLResponse<TData>['body'],
  };
}

export interface CapturedLogs {
  readonly logger: Logger;
  /** Every line logged so far, parsed. */
  readonly lines: Record<string, unknown>[];
}

/** A logger whose JSON lines are kept in memory, for tests that assert on logs. */
export function captureLogs(level = 'info'): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level, base: {} },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

/** A caller as subgraphs see it, for decision tests: a fixed session, token and profile. */
export function testIdentity(
  userId: string,
  role: Identity['role'],
  scopes: string[] = [],
): Identity {
  return {
    userId,
    role,
    scopes,
    sessionId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a00',
    tokenId: 'token-1',
    tokenExpiresAt: new Date('2026-11-22T12:15:00Z'),
    profile: { email: 'someone@example.com', name: 'Someone', createdAt: new Date(0) },
  };
}
