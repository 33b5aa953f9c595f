/** A product on sale, owned by the catalog subgraph (Postgres schema `catalog`). */
import { defineEntity, p } from '../../../shared/db/index.ts';

export const ProductEntity = defineEntity({
  name: 'Product',
  tableName: 'products',
  properties: {
    id: p.uuid().primary(),
    name: p.string(),
    description: p.text(),
    priceCents: p.integer(),
    currency: p.string().length(3),
    /** Units available now; a CHECK keeps it at 0 or more whatever the concurrency. */
    stock: p.integer(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    /** Set when an ADMIN deletes it: off sale, but still resolvable for past orders. */
    deletedAt: p.datetime().nullable(),
  },
});

export type Product = InstanceType<typeof ProductEntity.class>;
