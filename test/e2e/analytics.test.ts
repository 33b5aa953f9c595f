/**
 * The analytics subgraph end to end, through the gateway on real PostgreSQL, Redis and the
 * Kafka: a scripted session (a sign-up, three logins, an order confirmed and one
 * rejected) shows in `dailyMetrics`, `eventCounts`, `User.activity`, `Product.sales` and
 * `topProducts` with exactly its numbers within 5 s of its last event; redelivering every
 * event the services ever published changes no number (also once the consumer's inbox has
 * forgotten them); `analytics:rebuild` (the real command) gives identical rollups on a copy
 * of the events, pages through more than 10,000 events each once, and changes nothing on
 * the live database; the figures are for ADMINs (a user reads only their own activity) and their
 * arguments are validated; the event table is append-only; an event of an unknown type is
 * skipped without stopping ingestion.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createEnvelope } from '../../shared/events/index.ts';
import { captureLogs, createTestDatabase, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { claimsOf, codes, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'analytics-admin@example.com';
const PASSWORD = 'correct horse battery staple';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DAY_MS = 86_400_000;
/** Every service's outbox: what was published, exactly as it went to Kafka. */
const OUTBOXES = ['auth', 'users', 'catalog', 'orders'] as const;

let fixture: TestPlatform;
let db: pg.Client;
let admin: string;
const logs = captureLogs();

interface Daily {
  date: string;
  signups: number;
  logins: number;
  ordersPlaced: number;
  ordersConfirmed: number;
  /** BigInt: a string of digits. */
  revenueCents: string;
}
interface Activity {
  lastLoginAt: string | null;
  loginCount: number;
  orderCount: number;
  totalSpentCents: string;
}
interface Sales {
  unitsSold: string;
  revenueCents: string;
}
const DAILY = 'date signups logins ordersPlaced ordersConfirmed revenueCents';
const ACTIVITY = 'lastLoginAt loginCount orderCount totalSpentCents';

/** A GraphQL call that must succeed; returns its data. */
const ok = <TData>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
  fixture.data<TData>(query, variables, token);

async function register(email: string): Promise<{ id: string; token: string }> {
  const data = await ok<{ register: { accessToken: string; user: { id: string } } }>(
    'mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
    { input: { email, password: PASSWORD, name: email.split('@')[0] } },
  );
  return { id: data.register.user.id, token: data.register.accessToken };
}

async function login(email: string): Promise<string> {
  const data = await ok<{ login: { accessToken: string } }>(
    'mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }',
    { email, password: PASSWORD },
  );
  return data.login.accessToken;
}

/** Creates a product as the admin and waits until orders can sell it (it learns by event). */
async function createProduct(input: { name: string; priceCents: number; stock: number }) {
  const { createProduct: product } = await ok<{ createProduct: { id: string; name: string } }>(
    'mutation ($input: CreateProductInput!) { createProduct(input: $input) { id name } }',
    { input: { currency: 'EUR', ...input } },
    admin,
  );
  await fixture.untilSellable(product.id);
  return product;
}

/** Puts `quantity` of a product in the cart, places the order, waits until it settles. */
async function order(token: string, productId: string, quantity: number) {
  await ok(
    'mutation ($productId: ID!, $quantity: Int!) { addToCart(productId: $productId, quantity: $quantity) { totalCents } }',
    { productId, quantity },
    token,
  );
  const { placeOrder } = await ok<{ placeOrder: { id: string; totalCents: number } }>(
    'mutation { placeOrder { id totalCents } }',
    {},
    token,
  );
  return waitFor(
    async () => {
      const { order: found } = await ok<{
        order: { id: string; status: string; totalCents: number };
      }>(
        'query ($id: ID!) { order(id: $id) { id status totalCents } }',
        { id: placeOrder.id },
        token,
      );
      return found.status !== 'PENDING' && found;
    },
    { timeoutMs: 5_000, what: `order ${placeOrder.id} to be settled` },
  );
}

/** Every event the services published (their outboxes), oldest first per service. */
async function published() {
  const { rows } = await db.query<{
    event_id: string;
    topic: string;
    key: string;
    value: string;
    headers: Record<string, string>;
  }>(
    OUTBOXES.map(
      (schema) => `select event_id, topic, key, value, headers, id from ${schema}.outbox`,
    ).join(' union all ') + ' order by topic, id',
  );
  return rows;
}

/** Waits until every published event is stored by analytics (and with it, in the rollups). */
async function caughtUp(timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await db.query<{ missing: string }>(
        `select count(*) as missing from (${OUTBOXES.map((schema) => `select event_id from ${schema}.outbox`).join(' union all ')}) o
         where not exists (select 1 from analytics.events e where e.id = o.event_id)`,
      );
      return rows[0]!.missing === '0';
    },
    { timeoutMs, what: 'analytics to store every published event' },
  );
}

/** The full contents of the three rollup tables of a database, in key order. */
async function rollups(client: pg.Client) {
  const table = async (name: string, key: string) =>
    (
      await client.query<{ rows: unknown[] }>(
        `select coalesce(jsonb_agg(to_jsonb(t) order by ${key}), '[]'::jsonb) as rows
         from analytics.${name} t`,
      )
    ).rows[0]!.rows;
  return {
    daily_metrics: await table('daily_metrics', 'day'),
    product_sales: await table('product_sales', 'product_id'),
    user_activity: await table('user_activity', 'user_id'),
  };
}

/** A value of a metric of the analytics subgraph, summed over the series matching `labels`. */
async function analyticsMetric(name: string, labels: Record<string, string> = {}) {
  const metric = fixture.platform.subgraphs
    .get('analytics')!
    .metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values
    .filter((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v))
    .reduce((sum, value) => sum + value.value, 0);
}

/**
 * Runs `npm run analytics:rebuild` against a database, as an operator would; kills it (its
 * whole process group) if it has not finished after `timeoutMs`.
 */
function rebuild(
  databaseUrl: string,
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'analytics:rebuild'], {
      cwd: REPO,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        DATABASE_URL: databaseUrl,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The JSON log lines of a command's output, parsed (any other line fails the test). */
function logLinesOf(stdout: string): { json: Record<string, unknown>[]; text: string[] } {
  const lines = stdout.split('\n').filter(Boolean);
  return {
    json: lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>),
    text: lines.filter((line) => !line.startsWith('{')),
  };
}

/** The figures an ADMIN can read about the session, in one request. */
const FIGURES = `query ($from: DateTime, $user: ID!, $widget: ID!, $ghost: ID!) {
  dailyMetrics(days: 2) { ${DAILY} }
  eventCounts(from: $from) { type count }
  topProducts { product { id name } unitsSold revenueCents }
  user(id: $user) { activity { ${ACTIVITY} } }
  widget: product(id: $widget) { sales { product { id } unitsSold revenueCents } }
  ghost: product(id: $ghost) { sales { product { id } unitsSold revenueCents } }
}`;
interface Figures {
  dailyMetrics: Daily[];
  eventCounts: { type: string; count: number }[];
  topProducts: { product: { id: string; name: string }; unitsSold: string; revenueCents: string }[];
  user: { activity: Activity };
  widget: { sales: Sales & { product: { id: string } } };
  ghost: { sales: Sales & { product: { id: string } } };
}

/** Sums of the daily rows (all days given), for deltas that survive a midnight. */
function totals(rows: readonly Daily[]): Omit<Daily, 'date'> {
  const sum = { signups: 0, logins: 0, ordersPlaced: 0, ordersConfirmed: 0 };
  let revenue = 0n;
  for (const row of rows) {
    sum.signups += row.signups;
    sum.logins += row.logins;
    sum.ordersPlaced += row.ordersPlaced;
    sum.ordersConfirmed += row.ordersConfirmed;
    revenue += BigInt(row.revenueCents);
  }
  return { ...sum, revenueCents: String(revenue) };
}

/** What the rows say happened since `before`, day by day, summed (days absent before: 0). */
function delta(before: readonly Daily[], after: readonly Daily[]): Omit<Daily, 'date'> {
  const earlier = new Map(before.map((row) => [row.date, row]));
  const base = after.map((row) => earlier.get(row.date)).filter((row) => row !== undefined);
  const now = totals(after);
  const then = totals(base);
  return {
    signups: now.signups - then.signups,
    logins: now.logins - then.logins,
    ordersPlaced: now.ordersPlaced - then.ordersPlaced,
    ordersConfirmed: now.ordersConfirmed - then.ordersConfirmed,
    revenueCents: String(BigInt(now.revenueCents) - BigInt(then.revenueCents)),
  };
}

const today = () => new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL });
  db = new pg.Client({ connectionString: fixture.database.url });
  await db.connect();
  admin = (await register(ADMIN_EMAIL)).token;
});

afterAll(async () => {
  await db?.end();
  await fixture?.stop();
});

/** Set by the session, read by the tests after it. */
const session = {
  email: 'sam@example.com',
  user: { id: '', token: '' },
  widget: { id: '', name: '' },
  ghost: { id: '', name: '' },
  figures: null as Figures | null,
};

describe('a scripted session', () => {
  it('shows exactly its numbers in every figure within 5 s of its last event', async () => {
    // given analytics has seen everything so far (the admin's sign-up)
    await caughtUp();
    const from = new Date();
    const baseline = await ok<{ dailyMetrics: Daily[] }>(
      `{ dailyMetrics(days: 2) { ${DAILY} } }`,
      {},
      admin,
    );
    expect(totals(baseline.dailyMetrics)).toEqual({
      signups: 1,
      logins: 0,
      ordersPlaced: 0,
      ordersConfirmed: 0,
      revenueCents: '0',
    });

    // when: two products, a sign-up, three logins, one order confirmed and one rejected
    session.widget = await createProduct({ name: 'Widget', priceCents: 1250, stock: 10 });
    session.ghost = await createProduct({ name: 'Ghost', priceCents: 700, stock: 0 });
    session.user = await register(session.email);
    await login(session.email);
    await login(session.email);
    const beforeThird = Date.now();
    session.user.token = await login(session.email);
    const afterThird = Date.now();
    const confirmed = await order(session.user.token, session.widget.id, 3);
    const rejected = await order(session.user.token, session.ghost.id, 2);
    const settledAt = Date.now();
    expect(confirmed).toMatchObject({ status: 'CONFIRMED', totalCents: 3750 });
    expect(rejected).toMatchObject({ status: 'REJECTED', totalCents: 1400 });

    // then, within 5 s, exactly these numbers
    const variables = {
      from: from.toISOString(),
      user: session.user.id,
      widget: session.widget.id,
      ghost: session.ghost.id,
    };
    const expectedActivity = (lastLoginAt: string | null): Activity => ({
      lastLoginAt,
      loginCount: 3,
      orderCount: 2,
      totalSpentCents: '3750',
    });
    const { rows: lastLogin } = await db.query<{ time: string }>(
      `select value::jsonb ->> 'time' as time from auth.outbox
       where key = $1 and value::jsonb ->> 'type' = 'user.logged_in' order by id desc limit 1`,
      [session.user.id],
    );
    const thirdLoginAt = lastLogin[0]!.time;
    const figures = await waitFor(
      async () => {
        const data = await ok<Figures>(FIGURES, variables, admin);
        expect(delta(baseline.dailyMetrics, data.dailyMetrics)).toEqual({
          signups: 1,
          logins: 3,
          ordersPlaced: 2,
          ordersConfirmed: 1,
          revenueCents: '3750',
        });
        expect(data.eventCounts).toEqual([
          { type: 'order.confirmed', count: 1 },
          { type: 'order.placed', count: 2 },
          { type: 'order.rejected', count: 1 },
          { type: 'product.created', count: 2 },
          { type: 'stock.rejected', count: 1 },
          { type: 'stock.reserved', count: 1 },
          { type: 'user.logged_in', count: 3 },
          { type: 'user.registered', count: 1 },
        ]);
        expect(data.user.activity).toEqual(expectedActivity(thirdLoginAt));
        expect(data.widget.sales).toEqual({
          product: { id: session.widget.id },
          unitsSold: '3',
          revenueCents: '3750',
        });
        expect(data.ghost.sales).toEqual({
          product: { id: session.ghost.id },
          unitsSold: '0',
          revenueCents: '0',
        });
        expect(data.topProducts).toEqual([
          { product: session.widget, unitsSold: '3', revenueCents: '3750' },
        ]);
        return data;
      },
      { timeoutMs: 5_000, what: "the session's numbers" },
    );
    expect(Date.now() - settledAt).toBeLessThan(5_000 + 1_000);
    session.figures = figures;

    // The latest login is the third one, at the time auth published it.
    const lastLoginAt = new Date(figures.user.activity.lastLoginAt!).getTime();
    expect(lastLoginAt).toBeGreaterThanOrEqual(beforeThird);
    expect(lastLoginAt).toBeLessThanOrEqual(afterThird);

    // Everything happened today (UTC), unless the session crossed a midnight.
    const [todayRow] = figures.dailyMetrics;
    expect(todayRow!.date).toBe(today());
    if (from.toISOString().slice(0, 10) === todayRow!.date) {
      const before = baseline.dailyMetrics.find((row) => row.date === todayRow!.date);
      const { dailyMetrics: oneDay } = await ok<{ dailyMetrics: Daily[] }>(
        `{ dailyMetrics(days: 1) { ${DAILY} } }`,
        {},
        admin,
      );
      expect(oneDay).toEqual([
        {
          date: todayRow!.date,
          signups: (before?.signups ?? 0) + 1,
          logins: 3,
          ordersPlaced: 2,
          ordersConfirmed: 1,
          revenueCents: '3750',
        },
      ]);
    }

    // The user reads their own activity; the admin's own is empty (registering is no login).
    const { me } = await ok<{ me: { id: string; activity: Activity } }>(
      `{ me { id activity { ${ACTIVITY} } } }`,
      {},
      session.user.token,
    );
    expect(me).toEqual({ id: session.user.id, activity: expectedActivity(thirdLoginAt) });
    const { me: adminMe } = await ok<{ me: { activity: Activity } }>(
      `{ me { activity { ${ACTIVITY} } } }`,
      {},
      admin,
    );
    expect(adminMe.activity).toEqual({
      lastLoginAt: null,
      loginCount: 0,
      orderCount: 0,
      totalSpentCents: '0',
    });

    // The type filter keeps one type.
    const { eventCounts } = await ok<{ eventCounts: unknown[] }>(
      'query ($from: DateTime) { eventCounts(from: $from, type: "user.logged_in") { type count } }',
      { from: from.toISOString() },
      admin,
    );
    expect(eventCounts).toEqual([{ type: 'user.logged_in', count: 3 }]);
  });
});

describe('redelivery', () => {
  const variables = () => ({
    user: session.user.id,
    widget: session.widget.id,
    ghost: session.ghost.id,
  });
  /** Everything a redelivery must not change: the stored events, the rollups, the answers. */
  const numbers = async () => ({
    events: (await db.query('select id from analytics.events order by id')).rows,
    rollups: await rollups(db),
    figures: await ok<Figures>(FIGURES, variables(), admin),
  });
  const metrics = async () => ({
    duplicate: await analyticsMetric('events_consumed_total', {
      group: 'analytics.ingest',
      outcome: 'duplicate',
    }),
    applied: await analyticsMetric('events_consumed_total', {
      group: 'analytics.ingest',
      outcome: 'applied',
    }),
    ingested: await analyticsMetric('analytics_events_ingested_total'),
  });

  /** Sends every outbox row to Kafka again, exactly as the relay sent it; returns how many. */
  async function redeliverAll(): Promise<number> {
    const rows = await published();
    const byTopic = new Map<string, typeof rows>();
    for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
    const producer = new kafkajs.Kafka({
      brokers: fixture.kafka.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    }).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.sendBatch({
        topicMessages: [...byTopic].map(([topic, messages]) => ({
          topic: `${fixture.kafka.topicPrefix}${topic}`,
          messages: messages.map(({ key, value, headers }) => ({ key, value, headers })),
        })),
      });
    } finally {
      await producer.disconnect();
    }
    return rows.length;
  }

  it('changes no number when every published event is delivered a second time', async () => {
    await caughtUp();
    const before = await numbers();
    const metricsBefore = await metrics();

    // when every published event arrives again
    const sent = await redeliverAll();
    expect(sent).toBe(before.events.length);

    // then analytics takes each copy for a duplicate…
    await waitFor(async () => (await metrics()).duplicate >= metricsBefore.duplicate + sent, {
      timeoutMs: 15_000,
      what: `${sent} duplicates to reach analytics`,
    });
    expect(await metrics()).toEqual({
      duplicate: metricsBefore.duplicate + sent,
      applied: metricsBefore.applied,
      ingested: metricsBefore.ingested,
    });
    // …and no number moved.
    expect(await numbers()).toEqual(before);
    expect(before.figures).toMatchObject({
      user: { activity: { loginCount: 3, orderCount: 2, totalSpentCents: '3750' } },
      widget: { sales: { unitsSold: '3', revenueCents: '3750' } },
    });
  });

  it('changes no number even past a forgotten inbox: the event table drops the copies', async () => {
    await caughtUp();
    const before = await numbers();
    const metricsBefore = await metrics();
    // given the consumer's inbox lost every id (its first line of defence)
    const forgotten = await db.query(
      `delete from analytics.inbox where consumer_group = 'analytics.ingest'`,
    );
    expect(forgotten.rowCount).toBe(before.events.length);

    // when every published event arrives again
    const sent = await redeliverAll();

    // then the consumer applies them as new, but analytics stores and counts none of them
    await waitFor(async () => (await metrics()).applied >= metricsBefore.applied + sent, {
      timeoutMs: 15_000,
      what: `${sent} redelivered events to be applied`,
    });
    expect(await metrics()).toEqual({
      duplicate: metricsBefore.duplicate,
      applied: metricsBefore.applied + sent,
      ingested: metricsBefore.ingested,
    });
    expect(await numbers()).toEqual(before);
  });
});

describe('analytics:rebuild', () => {
  it('gives the live rollups exactly from a copy of the events', async () => {
    await caughtUp();
    const original = await rollups(db);
    const copy = await createTestDatabase();
    const copyDb = new pg.Client({ connectionString: copy.url });
    try {
      // An empty copy: the command migrates it and rebuilds nothing.
      const empty = await rebuild(copy.url);
      expect(empty.stderr).not.toMatch(/analytics:rebuild:/);
      expect(empty.code).toBe(0);
      expect(logLinesOf(empty.stdout).text).toEqual([
        expect.stringMatching(/^rebuilt the analytics rollups from 0 events in \d+ ms$/),
      ]);

      // Every stored event, copied as it is.
      await copyDb.connect();
      const { rows } = await db.query<{ events: unknown[] }>(
        `select coalesce(jsonb_agg(to_jsonb(e) order by time, id), '[]'::jsonb) as events
         from analytics.events e`,
      );
      const events = rows[0]!.events;
      expect(events.length).toBeGreaterThan(10);
      await copyDb.query(
        `insert into analytics.events
         select * from jsonb_populate_recordset(null::analytics.events, $1::jsonb)`,
        [JSON.stringify(events)],
      );

      const result = await rebuild(copy.url);

      expect(result.stderr).not.toMatch(/analytics:rebuild:/);
      expect(result.code).toBe(0);
      const { json, text } = logLinesOf(result.stdout);
      expect(text).toEqual([
        expect.stringMatching(
          new RegExp(`^rebuilt the analytics rollups from ${events.length} events in \\d+ ms$`),
        ),
      ]);
      for (const line of json) {
        expect(line).toMatchObject({ level: 'info', command: 'analytics:rebuild' });
      }
      const progress = json.filter((line) => 'done' in line);
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress.at(-1)).toMatchObject({
        done: events.length,
        total: events.length,
        msg: `rebuilt rollups from ${events.length} of ${events.length} events`,
      });
      expect(json).toContainEqual(
        expect.objectContaining({ events: events.length, msg: 'analytics: rollups rebuilt' }),
      );

      expect(await rollups(copyDb)).toEqual(original);
      expect(original.daily_metrics.length).toBeGreaterThan(0);
      expect(original.product_sales.length).toBeGreaterThan(0);
      expect(original.user_activity.length).toBeGreaterThan(0);
    } finally {
      await copyDb.end();
      await copy.drop();
    }
  });

  it('reads more than a page of events, each once, whatever the precision of their times', async () => {
    // given 10,001 sign-ups (more than one page of the rebuild) stored with microseconds,
    // as a producer other than a JavaScript service may write them
    const copy = await createTestDatabase();
    const copyDb = new pg.Client({ connectionString: copy.url });
    try {
      expect((await rebuild(copy.url)).code).toBe(0);
      await copyDb.connect();
      await copyDb.query(
        `insert into analytics.events (id, type, source, subject, user_id, time, data)
         select gen_random_uuid(), 'user.registered', 'auth', 's', null,
                '2026-11-20T10:00:00.123Z'::timestamptz + (n % 500) * interval '1 microsecond',
                '{}'::jsonb
         from generate_series(1, 10001) as n`,
      );

      const result = await rebuild(copy.url, 20_000);

      expect(result.timedOut).toBe(false);
      expect(result.code).toBe(0);
      const progress = logLinesOf(result.stdout).json.filter((line) => 'done' in line);
      expect(progress.map(({ done, total }) => ({ done, total }))).toEqual([
        { done: 10_000, total: 10_001 },
        { done: 10_001, total: 10_001 },
      ]);
      const { rows } = await copyDb.query(
        `select to_char(day, 'YYYY-MM-DD') as day, signups from analytics.daily_metrics`,
      );
      expect(rows).toEqual([{ day: '2026-11-20', signups: 10_001 }]);
    } finally {
      await copyDb.end();
      await copy.drop();
    }
  });

  it('changes nothing when run on the live database while the platform runs', async () => {
    await caughtUp();
    const before = await rollups(db);
    const { rows: count } = await db.query<{ count: string }>(
      'select count(*) from analytics.events',
    );

    const result = await rebuild(fixture.database.url);

    expect(result.stderr).not.toMatch(/analytics:rebuild:/);
    expect(result.code).toBe(0);
    expect(logLinesOf(result.stdout).text).toEqual([
      expect.stringMatching(
        new RegExp(`^rebuilt the analytics rollups from ${count[0]!.count} events in \\d+ ms$`),
      ),
    ]);
    expect(await rollups(db)).toEqual(before);

    // And the platform goes on ingesting: a login after the rebuild counts once.
    await login(session.email);
    await waitFor(
      async () => {
        const { me } = await ok<{ me: { activity: Activity } }>(
          `{ me { activity { ${ACTIVITY} } } }`,
          {},
          session.user.token,
        );
        return me.activity.loginCount === 4;
      },
      { timeoutMs: 5_000, what: 'the fourth login' },
    );
  });
});

describe('who may read what', () => {
  const ADMIN_ONLY: [string, string][] = [
    ['eventCounts', '{ eventCounts { type count } }'],
    ['dailyMetrics', '{ dailyMetrics { date } }'],
    ['topProducts', '{ topProducts { unitsSold } }'],
  ];

  it.each(ADMIN_ONLY)(
    'refuses %s to a USER (FORBIDDEN) and to anonymous callers',
    async (field, query) => {
      const asUser = await fixture.gql(query, {}, session.user.token);
      expect(codes(asUser)).toEqual(['FORBIDDEN']);
      expect(asUser.body.errors![0]).toMatchObject({
        path: [field],
        message: `You need scope admin to read Query.${field}`,
      });
      expect(asUser.body.data ?? null).toBeNull();

      const anonymous = await fixture.gql(query);
      expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
      expect(anonymous.body.errors![0]).toMatchObject({ path: [field] });
    },
  );

  it('refuses Product.sales to a USER and to anonymous callers, but not the product', async () => {
    const query = 'query ($id: ID!) { product(id: $id) { name sales { unitsSold } } }';
    const variables = { id: session.widget.id };

    const asUser = await fixture.gql(query, variables, session.user.token);
    expect(codes(asUser)).toEqual(['FORBIDDEN']);
    expect(asUser.body.errors![0]).toMatchObject({ path: ['product', 'sales'] });
    expect(codes(await fixture.gql(query, variables))).toEqual(['UNAUTHENTICATED']);
    expect(
      await ok('query ($id: ID!) { product(id: $id) { name } }', variables, session.user.token),
    ).toEqual({ product: { name: 'Widget' } });
  });

  it('refuses User.activity to anonymous callers', async () => {
    const response = await fixture.gql(`{ me { id activity { ${ACTIVITY} } } }`);
    expect(codes(response)).toEqual(['UNAUTHENTICATED']);
    expect(response.body.errors![0]).toMatchObject({ path: ['me', 'activity'] });
  });

  it("lets an ADMIN read anyone's activity and a USER only their own, also at the subgraph", async () => {
    const ENTITIES = `query ($reps: [_Any!]!) {
      _entities(representations: $reps) { ... on User { activity { loginCount } } }
    }`;
    const reps = (id: string) => ({ reps: [{ __typename: 'User', id }] });
    const userClaims = claimsOf(session.user.token);
    const adminClaims = claimsOf(admin);

    const own = await fixture.subgraphGql('analytics', ENTITIES, reps(session.user.id), userClaims);
    expect(own.body).toEqual({ data: { _entities: [{ activity: { loginCount: 4 } }] } });
    const anyone = await fixture.subgraphGql(
      'analytics',
      ENTITIES,
      reps(session.user.id),
      adminClaims,
    );
    expect(anyone.body).toEqual(own.body);

    // The gateway never lets a USER reach another user; the subgraph refuses it anyway.
    const other = await fixture.subgraphGql(
      'analytics',
      ENTITIES,
      reps(adminClaims.sub),
      userClaims,
    );
    expect(codes(other)).toEqual(['FORBIDDEN']);
    const anonymous = await fixture.subgraphGql('analytics', ENTITIES, reps(session.user.id));
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);

    // Through the gateway, as an ADMIN, anyone's.
    const { user } = await ok<{ user: { activity: Activity } }>(
      `query ($id: ID!) { user(id: $id) { activity { ${ACTIVITY} } } }`,
      { id: session.user.id },
      admin,
    );
    expect(user.activity).toMatchObject({ loginCount: 4, orderCount: 2, totalSpentCents: '3750' });
  });

  it('refuses the admin figures to a USER at the subgraph too (not only at the gateway)', async () => {
    const userClaims = claimsOf(session.user.token);
    for (const [, query] of ADMIN_ONLY) {
      expect(codes(await fixture.subgraphGql('analytics', query, {}, userClaims))).toEqual([
        'FORBIDDEN',
      ]);
    }
    const sales = await fixture.subgraphGql(
      'analytics',
      `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { sales { unitsSold } } } }`,
      { reps: [{ __typename: 'Product', id: session.widget.id }] },
      userClaims,
    );
    expect(codes(sales)).toEqual(['FORBIDDEN']);
  });
});

describe('arguments', () => {
  async function refused(query: string, variables: Record<string, unknown> = {}) {
    const response: GraphQLResponse = await fixture.gql(query, variables, admin);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    return response.body.errors![0]!.extensions;
  }
  const COUNTS =
    'query ($from: DateTime, $to: DateTime) { eventCounts(from: $from, to: $to) { type count } }';

  it('refuses eventCounts with `from` after `to`, naming `from`', async () => {
    const to = new Date();
    const from = new Date(to.getTime() + 1);
    expect(await refused(COUNTS, { from: from.toISOString(), to: to.toISOString() })).toMatchObject(
      { field: 'from' },
    );
  });

  it('refuses a range of more than 366 days, naming `to`, and accepts exactly 366', async () => {
    const to = new Date();
    expect(
      await refused(COUNTS, {
        from: new Date(to.getTime() - 400 * DAY_MS).toISOString(),
        to: to.toISOString(),
      }),
    ).toMatchObject({ field: 'to' });
    const { eventCounts } = await ok<{ eventCounts: { type: string; count: number }[] }>(
      COUNTS,
      { from: new Date(to.getTime() - 366 * DAY_MS).toISOString(), to: to.toISOString() },
      admin,
    );
    expect(eventCounts).toContainEqual({ type: 'user.logged_in', count: 4 });
  });

  it('counts an event at `from` and not one at `to`: the range is [from, to)', async () => {
    const at = Date.parse(session.figures!.user.activity.lastLoginAt!);
    const count = async (from: number, to: number) =>
      (
        await ok<{ eventCounts: { count: number }[] }>(
          'query ($from: DateTime, $to: DateTime) { eventCounts(from: $from, to: $to, type: "user.logged_in") { count } }',
          { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
          admin,
        )
      ).eventCounts.reduce((sum, row) => sum + row.count, 0);

    expect(await count(at, at + 1)).toBe(1);
    expect(await count(at - 1, at)).toBe(0);
  });

  it('counts nothing in an empty or past range', async () => {
    const at = new Date('2020-01-01T00:00:00.000Z').toISOString();
    expect(await ok(COUNTS, { from: at, to: at }, admin)).toEqual({ eventCounts: [] });
  });

  it.each([[0], [367], [-1]])('refuses dailyMetrics(days: %p), naming `days`', async (days) => {
    expect(
      await refused('query ($days: Int) { dailyMetrics(days: $days) { date } }', { days }),
    ).toMatchObject({ field: 'days' });
  });

  it('gives 7 days by default and 366 at most, newest first, one row per day', async () => {
    const { dailyMetrics: week } = await ok<{ dailyMetrics: Daily[] }>(
      `{ dailyMetrics { ${DAILY} } }`,
      {},
      admin,
    );
    expect(week).toHaveLength(7);
    expect(week[0]!.date).toBe(today());
    const { dailyMetrics: year } = await ok<{ dailyMetrics: { date: string }[] }>(
      '{ dailyMetrics(days: 366) { date } }',
      {},
      admin,
    );
    expect(year).toHaveLength(366);
    const times = year.map((row) => Date.parse(`${row.date}T00:00:00Z`));
    for (let i = 1; i < times.length; i++) expect(times[i - 1]! - times[i]!).toBe(DAY_MS);
    expect(year.slice(0, 7).map((row) => row.date)).toEqual(week.map((row) => row.date));
  });

  it.each([[0], [101], [-3]])('refuses topProducts(limit: %p), naming `limit`', async (limit) => {
    expect(
      await refused('query ($limit: Int) { topProducts(limit: $limit) { unitsSold } }', {
        limit,
      }),
    ).toMatchObject({ field: 'limit' });
  });

  it('accepts topProducts limits of 1 and 100', async () => {
    for (const limit of [1, 100]) {
      const { topProducts } = await ok<{ topProducts: { product: { id: string } }[] }>(
        'query ($limit: Int) { topProducts(limit: $limit) { product { id } } }',
        { limit },
        admin,
      );
      expect(topProducts).toEqual([{ product: { id: session.widget.id } }]);
    }
  });
});

describe('the event table', () => {
  it('is append-only: updates, deletes and truncation are refused', async () => {
    const before = (await db.query('select count(*) from analytics.events')).rows;

    await expect(db.query(`update analytics.events set type = 'x'`)).rejects.toThrow(/append-only/);
    await expect(db.query('delete from analytics.events')).rejects.toThrow(/append-only/);
    await expect(db.query('truncate analytics.events')).rejects.toThrow(/append-only/);

    expect((await db.query('select count(*) from analytics.events')).rows).toEqual(before);
    expect(
      (await db.query(`select count(*)::int as n from analytics.events where type = 'x'`)).rows,
    ).toEqual([{ n: 0 }]);
  });
});

describe('events analytics does not know', () => {
  it('skips an event of an unknown type without storing it, and goes on ingesting', async () => {
    const ignoredBefore = await analyticsMetric('events_consumed_total', {
      group: 'analytics.ingest',
      outcome: 'ignored',
      type: 'user.teleported',
    });
    const deadBefore = await analyticsMetric('events_dead_lettered_total');
    const unknown = createEnvelope(
      'users',
      {
        type: 'user.teleported',
        subject: session.user.id,
        data: { userId: session.user.id, to: 'Mars' },
      },
      undefined,
    );

    // given an unknown event on users.events, then a real one with the same key (so after it)
    await fixture.produce('users.events', [unknown]);
    await ok(
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { id name } }',
      { input: { id: session.user.id, name: 'Samantha' } },
      admin,
    );
    const { rows } = await db.query<{ event_id: string }>(
      `select event_id from users.outbox
       where key = $1 and value::jsonb ->> 'type' = 'user.updated' order by id desc limit 1`,
      [session.user.id],
    );
    const updated = rows[0]!.event_id;

    // then the real one is stored, the unknown one skipped (seen, not stored, not dead-lettered)
    await waitFor(
      async () =>
        (await db.query('select 1 from analytics.events where id = $1', [updated])).rowCount === 1,
      { timeoutMs: 10_000, what: 'the user.updated event to be stored' },
    );
    expect(
      (
        await db.query(
          `select id from analytics.events where id = $1 or type = 'user.teleported'`,
          [unknown.id],
        )
      ).rows,
    ).toEqual([]);
    expect(
      await analyticsMetric('events_consumed_total', {
        group: 'analytics.ingest',
        outcome: 'ignored',
        type: 'user.teleported',
      }),
    ).toBe(ignoredBefore + 1);
    expect(await analyticsMetric('events_dead_lettered_total')).toBe(deadBefore);
    const { eventCounts } = await ok<{ eventCounts: { type: string; count: number }[] }>(
      '{ eventCounts { type count } }',
      {},
      admin,
    );
    expect(eventCounts.map((row) => row.type)).not.toContain('user.teleported');
    expect(eventCounts).toContainEqual({ type: 'user.updated', count: 1 });
  });
});
