/**
 * Analytics domain service: stores every domain event once in the append-only
 * `analytics.events` table and keeps the rollups up to date from the events that were new,
 * in the same transaction; recomputes the rollups from the table (`rebuild`); answers the
 * graph's questions.
 *
 * Guarantees:
 * - Exactly once in effect: an event's row is inserted with `on conflict do nothing`, and only
 *   rows actually inserted feed the rollups, so redelivered events change no number (the
 *   consumer's inbox is a first line; this is the second).
 * - Ingest is set-based: one statement stores a whole batch, one per rollup table applies
 *   its deltas (rows in key order, so concurrent batches never deadlock).
 * - `rebuild` takes an exclusive lock that every ingest batch takes shared: while it runs,
 *   ingest waits, so the rebuilt rollups are exactly those of the stored events.
 */
import DataLoader from 'dataloader';
import { Counter } from 'prom-client';
import type { Identity } from '../../../shared/auth/index.ts';
import type { EntityManager } from '../../../shared/db/index.ts';
import type { EventEnvelope } from '../../../shared/events/index.ts';
import type { Logger, ServiceMetrics } from '../../../shared/observability/index.ts';
import { isUuid } from '../../../shared/server/index.ts';
import {
  assertAdmin,
  dayCount,
  eventRange,
  lastDays,
  productLimit,
  rollupDeltas,
  userOf,
} from './analytics.decisions.ts';
import type { RollupDeltas, RollupEvent } from './analytics.decisions.ts';

/** Taken shared by each ingest transaction, exclusively by `rebuild`. */
const ROLLUP_LOCK = `hashtextextended('analytics.rollups', 0)`;

export interface DailyMetricsView {
  date: string;
  signups: number;
  logins: number;
  ordersPlaced: number;
  ordersConfirmed: number;
  /** PostgreSQL `bigint` sums stay exact as BigInt (the schema's BigInt scalar). */
  revenueCents: bigint;
}

export interface ProductSalesView {
  productId: string;
  unitsSold: bigint;
  revenueCents: bigint;
}

export interface UserActivityView {
  lastLoginAt: Date | null;
  loginCount: number;
  orderCount: number;
  totalSpentCents: bigint;
}

export interface AnalyticsServiceOptions {
  /** Postgres schema of the analytics tables. */
  schema: string;
  logger: Logger;
  /** Absent outside a running service (the rebuild command). */
  metrics?: ServiceMetrics;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface AnalyticsService {
  /** Stores new events and applies what they add to the rollups (in `em`'s transaction). */
  ingest(em: EntityManager, events: readonly EventEnvelope[]): Promise<number>;
  /** Recomputes every rollup from the stored events; returns how many events it read. */
  rebuild(em: EntityManager, onProgress?: (done: number, total: number) => void): Promise<number>;
  eventCounts(
    em: EntityManager,
    identity: Identity | null,
    args: { from?: Date | null; to?: Date | null; type?: string | null },
  ): Promise<{ type: string; count: number }[]>;
  dailyMetrics(
    em: EntityManager,
    identity: Identity | null,
    days?: number | null,
  ): Promise<DailyMetricsView[]>;
  topProducts(
    em: EntityManager,
    identity: Identity | null,
    limit?: number | null,
  ): Promise<ProductSalesView[]>;
  /** Per-request loaders: one query for all the products or users of a response. */
  productSalesLoader(em: EntityManager): DataLoader<string, ProductSalesView>;
  userActivityLoader(em: EntityManager): DataLoader<string, UserActivityView>;
}

export function createAnalyticsService(options: AnalyticsServiceOptions): AnalyticsService {
  const { logger } = options;
  const now = options.now ?? (() => new Date());
  const table = (name: string) => `"${options.schema}".${name}`;
  const ingested = options.metrics
    ? new Counter({
        name: 'analytics_events_ingested_total',
        help: 'Domain events stored by analytics, by type (redeliveries not counted)',
        labelNames: ['type'] as const,
        registers: [options.metrics.registry],
      })
    : null;

  /** Adds deltas to the rollup tables: one statement per table, rows in key order. */
  const apply = async (em: EntityManager, deltas: RollupDeltas) => {
    const sorted = <T>(map: Map<string, T>) =>
      [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (deltas.products.size > 0) {
      await em.execute(
        `insert into ${table('product_sales')} as r (product_id, units_sold, revenue_cents)
         select "productId", "unitsSold", "revenueCents"
         from jsonb_to_recordset(?::jsonb) as x("productId" uuid, "unitsSold" bigint,
           "revenueCents" bigint)
         on conflict (product_id) do update set
           units_sold = r.units_sold + excluded.units_sold,
           revenue_cents = r.revenue_cents + excluded.revenue_cents`,
        [
          JSON.stringify(
            sorted(deltas.products).map(([productId, delta]) => ({ productId, ...delta })),
          ),
        ],
      );
    }
    if (deltas.users.size > 0) {
      await em.execute(
        `insert into ${table('user_activity')} as r
           (user_id, last_login_at, login_count, order_count, total_spent_cents)
         select "userId", "lastLoginAt", "loginCount", "orderCount", "totalSpentCents"
         from jsonb_to_recordset(?::jsonb) as x("userId" uuid, "lastLoginAt" timestamptz,
           "loginCount" int, "orderCount" int, "totalSpentCents" bigint)
         on conflict (user_id) do update set
           last_login_at = greatest(r.last_login_at, excluded.last_login_at),
           login_count = r.login_count + excluded.login_count,
           order_count = r.order_count + excluded.order_count,
           total_spent_cents = r.total_spent_cents + excluded.total_spent_cents`,
        [JSON.stringify(sorted(deltas.users).map(([userId, delta]) => ({ userId, ...delta })))],
      );
    }
    // Last: every batch updates today's row, so it is held (until commit) for the shortest time.
    if (deltas.daily.size > 0) {
      await em.execute(
        `insert into ${table('daily_metrics')} as r
           (day, signups, logins, orders_placed, orders_confirmed, revenue_cents)
         select day, "signups", "logins", "ordersPlaced", "ordersConfirmed", "revenueCents"
         from jsonb_to_recordset(?::jsonb) as x(day date, "signups" int, "logins" int,
           "ordersPlaced" int, "ordersConfirmed" int, "revenueCents" bigint)
         on conflict (day) do update set
           signups = r.signups + excluded.signups,
           logins = r.logins + excluded.logins,
           orders_placed = r.orders_placed + excluded.orders_placed,
           orders_confirmed = r.orders_confirmed + excluded.orders_confirmed,
           revenue_cents = r.revenue_cents + excluded.revenue_cents`,
        [JSON.stringify(sorted(deltas.daily).map(([day, delta]) => ({ day, ...delta })))],
      );
    }
  };

  return {
    async ingest(em, events) {
      if (events.length === 0) return 0;
      await em.execute(`select pg_advisory_xact_lock_shared(${ROLLUP_LOCK})`);
      const rows = events.map((event) => ({
        id: event.id,
        type: event.type,
        source: event.source,
        subject: event.subject,
        userId: userOf(event.type, event.data),
        time: event.time,
        data: event.data,
      }));
      const inserted = await em.execute<{ id: string }[]>(
        `insert into ${table('events')} (id, type, source, subject, user_id, time, data)
         select id, type, source, subject, "userId", time, data
         from jsonb_to_recordset(?::jsonb) as x(id uuid, type text, source text, subject text,
           "userId" uuid, time timestamptz, data jsonb)
         on conflict (id) do nothing
         returning id`,
        [JSON.stringify(rows)],
      );
      const fresh = new Set(inserted.map((row) => row.id));
      const stored = events.filter((event) => fresh.has(event.id));
      await apply(
        em,
        rollupDeltas(
          stored.map((event) => ({
            type: event.type,
            time: new Date(event.time),
            data: event.data,
          })),
        ),
      );
      for (const event of stored) ingested?.inc({ type: event.type });
      return stored.length;
    },

    async rebuild(em, onProgress) {
      const PAGE = 10_000;
      return em.transactional(async (tx) => {
        await tx.execute(`select pg_advisory_xact_lock(${ROLLUP_LOCK})`);
        await tx.execute(
          `truncate ${table('daily_metrics')}, ${table('product_sales')}, ${table('user_activity')}`,
        );
        const [{ total }] = (await tx.execute<{ total: string }[]>(
          `select count(*) as total from ${table('events')}`,
        )) as [{ total: string }];
        let done = 0;
        let after: { time: string; id: string } | null = null;
        for (;;) {
          // `cursor` is the stored time exactly (microseconds): a JS Date keeps milliseconds
          // only, and a truncated cursor would read rows again (or forever).
          const page: { id: string; type: string; time: string; cursor: string; data: unknown }[] =
            await tx.execute(
              `select id, type, time, time::text as cursor, data from ${table('events')}
               ${after ? 'where (time, id) > (?::timestamptz, ?::uuid)' : ''}
               order by time, id limit ?`,
              after ? [after.time, after.id, PAGE] : [PAGE],
            );
          if (page.length === 0) break;
          const events: RollupEvent[] = page.map((row) => ({
            type: row.type,
            time: new Date(row.time),
            data: row.data,
          }));
          await apply(tx, rollupDeltas(events));
          done += page.length;
          const last = page.at(-1)!;
          after = { time: last.cursor, id: last.id };
          onProgress?.(done, Number(total));
        }
        logger.info({ events: done }, 'analytics: rollups rebuilt');
        return done;
      });
    },

    async eventCounts(em, identity, args) {
      assertAdmin(identity);
      const { from, to } = eventRange(args.from, args.to, now());
      const rows = await em.execute<{ type: string; count: string }[]>(
        `select type, count(*) as count from ${table('events')}
         where time >= ? and time < ? ${args.type != null ? 'and type = ?' : ''}
         group by type order by type`,
        args.type != null ? [from, to, args.type] : [from, to],
      );
      return rows.map((row) => ({ type: row.type, count: Number(row.count) }));
    },

    async dailyMetrics(em, identity, days) {
      assertAdmin(identity);
      const wanted = lastDays(dayCount(days), now());
      const rows = await em.execute<
        {
          day: string;
          signups: number;
          logins: number;
          orders_placed: number;
          orders_confirmed: number;
          revenue_cents: string;
        }[]
      >(
        `select to_char(day, 'YYYY-MM-DD') as day, signups, logins, orders_placed,
                orders_confirmed, revenue_cents
         from ${table('daily_metrics')} where day >= ?::date and day <= ?::date`,
        [wanted.at(-1), wanted[0]],
      );
      const byDay = new Map(rows.map((row) => [row.day, row]));
      return wanted.map((date) => {
        const row = byDay.get(date);
        return {
          date,
          signups: row?.signups ?? 0,
          logins: row?.logins ?? 0,
          ordersPlaced: row?.orders_placed ?? 0,
          ordersConfirmed: row?.orders_confirmed ?? 0,
          revenueCents: BigInt(row?.revenue_cents ?? 0),
        };
      });
    },

    async topProducts(em, identity, limit) {
      assertAdmin(identity);
      const rows = await em.execute<ProductSalesRow[]>(
        `select product_id, units_sold, revenue_cents from ${table('product_sales')}
         where units_sold > 0
         order by revenue_cents desc, units_sold desc, product_id limit ?`,
        [productLimit(limit)],
      );
      return rows.map(salesOf);
    },

    productSalesLoader(em) {
      return new DataLoader<string, ProductSalesView>(async (ids) => {
        const valid = ids.filter(isUuid);
        const rows = valid.length
          ? await em.execute<ProductSalesRow[]>(
              `select product_id, units_sold, revenue_cents from ${table('product_sales')}
               where product_id in (select jsonb_array_elements_text(?::jsonb)::uuid)`,
              [JSON.stringify(valid)],
            )
          : [];
        const found = new Map(rows.map((row) => [row.product_id, salesOf(row)]));
        return ids.map((id) => found.get(id) ?? { productId: id, unitsSold: 0n, revenueCents: 0n });
      });
    },

    userActivityLoader(em) {
      return new DataLoader<string, UserActivityView>(async (ids) => {
        const valid = ids.filter(isUuid);
        const rows = valid.length
          ? await em.execute<
              {
                user_id: string;
                last_login_at: string | null;
                login_count: number;
                order_count: number;
                total_spent_cents: string;
              }[]
            >(
              `select user_id, last_login_at, login_count, order_count, total_spent_cents
               from ${table('user_activity')}
               where user_id in (select jsonb_array_elements_text(?::jsonb)::uuid)`,
              [JSON.stringify(valid)],
            )
          : [];
        const found = new Map(
          rows.map((row) => [
            row.user_id,
            {
              lastLoginAt: row.last_login_at ? new Date(row.last_login_at) : null,
              loginCount: row.login_count,
              orderCount: row.order_count,
              totalSpentCents: BigInt(row.total_spent_cents),
            },
          ]),
        );
        return ids.map(
          (id) =>
            found.get(id) ?? {
              lastLoginAt: null,
              loginCount: 0,
              orderCount: 0,
              totalSpentCents: 0n,
            },
        );
      });
    },
  };
}

interface ProductSalesRow {
  product_id: string;
  units_sold: string;
  revenue_cents: string;
}

function salesOf(row: ProductSalesRow): ProductSalesView {
  return {
    productId: row.product_id,
    unitsSold: BigInt(row.units_sold),
    revenueCents: BigInt(row.revenue_cents),
  };
}
