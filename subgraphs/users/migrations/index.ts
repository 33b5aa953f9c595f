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

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000_create_users', class: CreateUsers },
];
