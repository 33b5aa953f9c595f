/**
 * The users schema's migrations, in order. Applied on start by the MikroORM migrator in the
 * `users` Postgres schema (search_path is set, so SQL here is unqualified). Never edit a
 * migration that has shipped; add a new one.
 */
import { Migration } from '../../../shared/db/index.ts';
import type { MigrationObject } from '../../../shared/db/index.ts';

class CreateUsers extends Migration {
  override up(): void {
    this.addSql(`
      create table users (
        id uuid primary key,
        email text not null,
        name text not null,
        role text not null check (role in ('USER', 'ADMIN')),
        created_at timestamptz not null,
        updated_at timestamptz not null
      )`);
    this.addSql('create unique index users_email_key on users (email)');
  }
}

/** Deleted accounts: only the id and when, so a late `user.registered` cannot revive one. */
class CreateDeletedUsers extends Migration {
  override up(): void {
    this.addSql(`
      create table deleted_users (
        id uuid primary key,
        deleted_at timestamptz not null
      )`);
    // The admin list pages in (created_at, id) order.
    this.addSql('create index users_created_at_id on users (created_at, id)');
  }
}

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000_create_users', class: CreateUsers },
  { name: 'Migration20261122200000_create_deleted_users', class: CreateDeletedUsers },
];
