export { startDatabase, DatabaseUnavailableError, MikroORM } from './database.ts';
export type { Database, DatabaseOptions, EntityManager } from './database.ts';
export { startEmbeddedPostgres } from './embedded-postgres.ts';
export type { EmbeddedPostgres, EmbeddedPostgresOptions } from './embedded-postgres.ts';
export { hasEmbeddedDatabase, startEmbeddedPostgresProcess } from './embedded-postgres-process.ts';
export type { EmbeddedPostgresProcessOptions } from './embedded-postgres-process.ts';
export { Migration } from '@mikro-orm/migrations';
export { defineEntity, LockMode, p, UniqueConstraintViolationException } from '@mikro-orm/core';
export type { MigrationObject, EntitySchema } from '@mikro-orm/core';
