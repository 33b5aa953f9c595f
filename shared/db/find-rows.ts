/**
 * `findRows`: what `em.find` reads, as plain rows rather than managed entities. The rows
 * have the entity's property names and types (dates as `Date`, JSON parsed), and MikroORM's
 * query builder makes the SQL from the same filter, order and limit. It is for reads that
 * change nothing: it skips what a managed entity costs (creating it, the identity map,
 * change tracking), which on a page of rows is most of the ORM's work. Its statements are
 * prepared (prepared-statements.ts).
 */
import type { EntityData, EntityName, QueryOrderMap } from '@mikro-orm/core';
import type { EntityManager, QBFilterQuery } from '@mikro-orm/postgresql';
import { PREPARED_COMMENT } from './marks.ts';

/** A row `findRows` reads: the entity's data properties, on a plain object. */
export type EntityRow<T> = {
  readonly [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K];
};

export interface FindRowsOptions<T> {
  orderBy?: QueryOrderMap<T>;
  limit?: number;
}

export async function findRows<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  where: QBFilterQuery<T>,
  options: FindRowsOptions<T> = {},
): Promise<EntityRow<T>[]> {
  const query = em.createQueryBuilder(entity).select('*').where(where).comment(PREPARED_COMMENT);
  if (options.orderBy) query.orderBy(options.orderBy);
  if (options.limit !== undefined) query.limit(options.limit);
  // `select *`: every property is there, which EntityData's optional keys do not say.
  const rows: EntityData<T>[] = await query.execute('all');
  return rows as unknown as EntityRow<T>[];
}
