/**
 * The orders schema's migrations, in order. Applied on start by the MikroORM migrator in the
 * `orders` Postgres schema (search_path is set, so SQL here is unqualified). Never edit a
 * migration that has shipped; add a new one.
 */
import { Migration } from '../../../shared/db/index.ts';
import type { MigrationObject } from '../../../shared/db/index.ts';

class CreateOrders extends Migration {
  override up(): void {
    /*
     * What orders knows of the catalog, from `catalog.events`: which products are on sale and
     * at what price (captured into an order when it is placed). `version` is the time of the
     * event that wrote the row, so an older event never overwrites a newer one.
     */
    this.addSql(`
      create table products (
        id uuid primary key,
        price_cents integer not null check (price_cents >= 0),
        currency char(3) not null,
        on_sale boolean not null,
        version timestamptz not null
      )`);
    this.addSql(`
      create table cart_items (
        user_id uuid not null,
        product_id uuid not null,
        quantity integer not null check (quantity between 1 and 1000),
        added_at timestamptz not null,
        primary key (user_id, product_id)
      )`);
    /* An order's items never change after it is placed, so they live in the order's row. */
    this.addSql(`
      create table orders (
        id uuid primary key,
        user_id uuid not null,
        status text not null check (status in ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED')),
        items jsonb not null,
        total_cents integer not null check (total_cents >= 0),
        currency char(3) not null,
        rejection_reason text,
        created_at timestamptz not null,
        updated_at timestamptz not null
      )`);
    // User.orders pages a user's orders newest first.
    this.addSql('create index orders_by_user on orders (user_id, created_at desc, id desc)');
  }
}

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122300000_create_orders', class: CreateOrders },
];
