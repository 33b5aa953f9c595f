/**
 * The catalog schema's migrations, in order. Applied on start by the MikroORM migrator in the
 * `catalog` Postgres schema (search_path is set, so SQL here is unqualified). Never edit a
 * migration that has shipped; add a new one.
 */
import { Migration } from '../../../shared/db/index.ts';
import type { MigrationObject } from '../../../shared/db/index.ts';

class CreateProducts extends Migration {
  override up(): void {
    this.addSql(`
      create table products (
        id uuid primary key,
        name text not null,
        description text not null,
        price_cents integer not null check (price_cents >= 0),
        currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
        -- The last line of defence: no interleaving of reservations can oversell.
        stock integer not null check (stock >= 0),
        created_at timestamptz not null,
        updated_at timestamptz not null,
        deleted_at timestamptz
      )`);
    // The public list pages products on sale in (created_at, id) order.
    this.addSql(
      'create index products_on_sale on products (created_at, id) where deleted_at is null',
    );
    /*
     * One row per order catalog has decided on: what it reserved (and still holds, until
     * released), or that it refused. Makes reserve and release idempotent per order whatever
     * the delivery, and lets a release find exactly what was reserved.
     */
    this.addSql(`
      create table reservations (
        order_id uuid primary key,
        status text not null check (status in ('RESERVED', 'RELEASED', 'REJECTED', 'CANCELLED')),
        items jsonb not null,
        reason text,
        created_at timestamptz not null,
        updated_at timestamptz not null
      )`);
  }
}

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122300000_create_products', class: CreateProducts },
];
