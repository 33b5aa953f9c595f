/**
 * The auth schema's migrations, in order. Applied on start by the MikroORM migrator in the
 * `auth` Postgres schema (search_path is set, so SQL here is unqualified). Never edit a
 * migration that has shipped; add a new one.
 */
import { Migration } from '../../../shared/db/index.ts';
import type { MigrationObject } from '../../../shared/db/index.ts';

class CreateCredentials extends Migration {
  override up(): void {
    this.addSql(`
      create table credentials (
        id uuid primary key,
        email text not null,
        password_hash text not null,
        name text not null,
        role text not null check (role in ('USER', 'ADMIN')),
        created_at timestamptz not null,
        updated_at timestamptz not null,
        password_changed_at timestamptz not null
      )`);
    this.addSql('create unique index credentials_email_key on credentials (email)');
  }
}

class CreateSigningKeys extends Migration {
  override up(): void {
    this.addSql(`
      create table signing_keys (
        kid text primary key,
        private_jwk jsonb not null,
        public_jwk jsonb not null,
        created_at timestamptz not null,
        retired_at timestamptz
      )`);
  }
}

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122100000_create_credentials', class: CreateCredentials },
  { name: 'Migration20261122100001_create_signing_keys', class: CreateSigningKeys },
];
