/**
 * DATABASE_POOL_MAX bounds what a deployment asks of PostgreSQL: each subgraph process keeps
 * at most that many pooled connections (plus the outbox relay's LISTEN and, at start-up, the
 * migration lock's), so replicas × (pool + 2) can be sized below the server's
 * `max_connections`. Under a burst of concurrent reads the platform answers every request
 * and the database never sees more connections than that bound.
 */
import pg from 'pg';
import { SUBGRAPHS } from '../../platform/services.ts';
import { captureLogs } from '../../shared/testing/index.ts';
import { startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const POOL_MAX = 1;
const logs = captureLogs();
let fixture: TestPlatform;
let admin: pg.Client;

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { DATABASE_POOL_MAX: String(POOL_MAX) });
  admin = new pg.Client({ connectionString: fixture.database.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await fixture?.stop();
});

/** Connections the platform holds to its database now (this test's own excluded). */
async function connections(): Promise<number> {
  const { rows } = await admin.query<{ count: string }>(
    'select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
  );
  return Number(rows[0]!.count);
}

describe('DATABASE_POOL_MAX', () => {
  it('keeps every subgraph within its pool under a burst of 60 concurrent reads, all answered', async () => {
    let busiest = await connections();
    let loading = true;
    const sampling = (async () => {
      while (loading) busiest = Math.max(busiest, await connections());
    })();
    // Distinct searches, so that no two share work in the gateway.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fixture.gql(
          'query ($s: String) { products(first: 5, search: $s) { edges { node { id } } } }',
          {
            s: `burst-${i}`,
          },
        ),
      ),
    );
    loading = false;
    await sampling;

    expect(answers.map((answer) => answer.body.errors ?? answer.status)).toEqual(
      Array(60).fill(200),
    );
    expect(busiest).toBeLessThanOrEqual(SUBGRAPHS.length * (POOL_MAX + 2));
  });
});
