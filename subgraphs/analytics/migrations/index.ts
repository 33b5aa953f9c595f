/**
 * The analytics schema's migrations, in order. Applied on start by the MikroORM migrator in
 * the `analytics` Postgres schema (search_path is set, so SQL here is unqualified). Never
 * edit a migration that has shipped; add a new one.
 */
import { Migration } from '../../../shared/db/index.ts';
import type { MigrationObject } from '../../../shared/db/index.ts';

class CreateAnalytics extends Migration {
  override up(): void {
    /* Every domain event, once (its id is the key), never changed or removed. */
    this.addSql(`
      create table events (
        id uuid primary key,
        type text not null,
        source text not null,
        subject text not null,
        user_id uuid,
        time timestamptz not null,
        data jsonb not null,
        ingested_at timestamptz not null default clock_timestamp()
      )`);
    this.addSql('create index events_by_time on events (time, type)');
    this.addSql('create index events_by_user on events (user_id, time) where user_id is not null');
    this.addSql(`
      create function events_append_only() returns trigger language plpgsql as $$
      begin
        raise exception 'analytics.events is append-only (% refused)', tg_op;
      end $$`);
    this.addSql(`
      create trigger events_append_only before update or delete or truncate on events
      for each statement execute function events_append_only()`);

    /* Rollups, kept up to date as events arrive; `analytics:rebuild` recomputes them. */
    this.addSql(`
      create table daily_metrics (
        day date primary key,
        signups integer not null default 0,
        logins integer not null default 0,
        orders_placed integer not null default 0,
        orders_confirmed integer not null default 0,
        revenue_cents bigint not null default 0
      )`);
    this.addSql(`
      create table product_sales (
        product_id uuid primary key,
        units_sold bigint not null default 0,
        revenue_cents bigint not null default 0
      )`);
    this.addSql(`
      create table user_activity (
        user_id uuid primary key,
        last_login_at timestamptz,
        login_count integer not null default 0,
        order_count integer not null default 0,
        total_spent_cents bigint not null default 0
      )`);
  }
}

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122400000_create_analytics', class: CreateAnalytics },
];
