/**
 * Catalog domain service: products (ADMIN create, update, delete), the public list, and
 * reads by id, each change committed with its event (outbox).
 *
 * Reads by id go through a per-request DataLoader over a cache-aside Redis entry per
 * product: N ids (an order page's items) cost one MGET and at most one SQL query for the
 * misses. Entries are removed right after a change commits (stock reservations included),
 * again when the change's own event is consumed (`catalog.cache`), and expire after `ttlMs`
 * as a last resort.
 */
import DataLoader from 'dataloader';
import { Counter } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import type { Identity } from '../../../shared/auth/index.ts';
import { createCacheAside } from '../../../shared/cache/index.ts';
import type { Cache } from '../../../shared/cache/index.ts';
import { LockMode, findRows } from '../../../shared/db/index.ts';
import type { EntityManager, EntityRow } from '../../../shared/db/index.ts';
import { NotFoundError } from '../../../shared/errors/index.ts';
import type { ServiceEvents } from '../../../shared/events/index.ts';
import type { Logger, ServiceMetrics } from '../../../shared/observability/index.ts';
import {
  afterCursor,
  connectionOf,
  decodeCursor,
  isUuid,
  likePattern,
  pageSize,
} from '../../../shared/server/index.ts';
import type { Connection } from '../../../shared/server/index.ts';
import {
  productCreatedV1,
  productDeletedV1,
  productUpdatedV1,
} from '../../../schema/events/index.ts';
import type {
  ProductCreatedV1,
  ProductDeletedV1,
  ProductUpdatedV1,
} from '../../../schema/events/index.ts';
import { ProductEntity } from './product.entity.ts';
import type { Product } from './product.entity.ts';
import { applyChanges, assertAdmin, validProduct } from './product.decisions.ts';
import type { ProductChanges, ProductFields, ProductView } from './product.decisions.ts';

export interface ProductServiceOptions {
  /** The catalog subgraph's cache (its own prefix). */
  cache: Cache;
  events: ServiceEvents;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Safety-net expiry of a cached product. @default 300000 (5 min) */
  ttlMs?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface ProductListArgs {
  first?: number | null;
  after?: string | null;
  search?: string | null;
  inStock?: boolean | null;
}

export interface ProductService {
  /** A per-request loader: batched, cache-aside reads by id, deleted products included. */
  createLoader(em: EntityManager): DataLoader<string, ProductView | null>;
  list(em: EntityManager, args: ProductListArgs): Promise<Connection<ProductView>>;
  create(
    em: EntityManager,
    identity: Identity | null,
    input: Omit<ProductFields, 'description' | 'stock'> &
      Partial<Pick<ProductFields, 'description' | 'stock'>>,
  ): Promise<ProductView>;
  update(
    em: EntityManager,
    identity: Identity | null,
    id: string,
    changes: ProductChanges,
  ): Promise<ProductView>;
  delete(em: EntityManager, identity: Identity | null, id: string): Promise<boolean>;
  /** Drops cached products. Never throws: the events and the TTL still remove them. */
  invalidate(...ids: string[]): Promise<void>;
}

export function createProductService(options: ProductServiceOptions): ProductService {
  const { cache, events, logger } = options;
  const ttlMs = options.ttlMs ?? 300_000;
  const now = options.now ?? (() => new Date());
  const lookups = new Counter({
    name: 'catalog_product_lookups_total',
    help: 'Product lookups by id, by where they were answered from',
    labelNames: ['result'] as const,
    registers: [options.metrics.registry],
  });
  const batches = new Counter({
    name: 'catalog_product_batches_total',
    help: 'Batches of product lookups by id (one per entity fetch or query, however many ids)',
    registers: [options.metrics.registry],
  });
  const queries = new Counter({
    name: 'catalog_product_queries_total',
    help: 'SQL queries issued to load products by id (one per batch with cache misses)',
    registers: [options.metrics.registry],
  });

  const cached = createCacheAside<ProductView>({
    cache,
    key: (id) => `product:${id}`,
    ttlMs,
    logger,
    name: 'catalog',
    revive: reviveView,
  });
  const invalidate = (...ids: string[]) => cached.invalidate(...ids);

  /** A product on sale, locked for the change; NOT_FOUND otherwise. */
  const forChange = async (em: EntityManager, id: string): Promise<Product> => {
    const product = isUuid(id)
      ? await em.findOne(
          ProductEntity,
          { id, deletedAt: null },
          { lockMode: LockMode.PESSIMISTIC_WRITE },
        )
      : null;
    if (!product) throw new NotFoundError('Product');
    return product;
  };

  return {
    createLoader(em) {
      return new DataLoader<string, ProductView | null>(async (ids) => {
        batches.inc();
        const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
        const { found, hits, misses } = await cached.read(valid, async (missing) => {
          queries.inc();
          const rows = await findRows(em, ProductEntity, { id: { $in: missing } });
          return new Map(rows.map((row) => [row.id, viewOf(row)]));
        });
        lookups.inc({ result: 'hit' }, hits);
        lookups.inc({ result: 'miss' }, misses);
        // Ids are matched as Postgres matches uuids: whatever the case they were given in.
        return ids.map((id) => found.get(id.toLowerCase()) ?? null);
      });
    },

    async list(em, args) {
      const limit = pageSize(args.first);
      const after = args.after ? decodeCursor(args.after) : null;
      const pattern = likePattern(args.search);
      const conditions: object[] = [{ deletedAt: null }];
      if (after) conditions.push(afterCursor(after));
      if (pattern) {
        conditions.push({
          $or: [{ name: { $ilike: pattern } }, { description: { $ilike: pattern } }],
        });
      }
      if (args.inStock === true) conditions.push({ stock: { $gt: 0 } });
      if (args.inStock === false) conditions.push({ stock: 0 });
      const rows = await findRows(
        em,
        ProductEntity,
        { $and: conditions },
        { orderBy: { createdAt: 'asc', id: 'asc' }, limit: limit + 1 },
      );
      return connectionOf(rows.map(viewOf), limit);
    },

    async create(em, identity, input) {
      assertAdmin(identity);
      const fields = validProduct({ description: '', stock: 0, ...input });
      const at = now();
      const product = await em.transactional(async (tx) => {
        const created = tx.create(ProductEntity, {
          id: uuidv7(),
          ...fields,
          createdAt: at,
          updatedAt: at,
          deletedAt: null,
        });
        await tx.flush();
        const data: ProductCreatedV1 = {
          productId: created.id,
          ...fields,
          createdAt: at.toISOString(),
        };
        await events.publish(tx, productCreatedV1, [{ subject: created.id, data }]);
        return created;
      });
      return viewOf(product);
    },

    async update(em, identity, rawId, changes) {
      assertAdmin(identity);
      const id = rawId.toLowerCase(); // one spelling for events and cache keys
      const updated = await em.transactional(async (tx) => {
        const product = await forChange(tx, id);
        const { next, changed } = applyChanges(fieldsOf(product), changes);
        if (changed.length === 0) return product;
        Object.assign(product, next, { updatedAt: now() });
        await tx.flush();
        const data: ProductUpdatedV1 = {
          productId: id,
          ...next,
          changed,
          updatedAt: product.updatedAt.toISOString(),
        };
        await events.publish(tx, productUpdatedV1, [{ subject: id, data }]);
        return product;
      });
      await invalidate(id);
      return viewOf(updated);
    },

    async delete(em, identity, rawId) {
      assertAdmin(identity);
      const id = rawId.toLowerCase(); // one spelling for events and cache keys
      await em.transactional(async (tx) => {
        const product = await forChange(tx, id);
        product.deletedAt = now();
        await tx.flush();
        const data: ProductDeletedV1 = {
          productId: id,
          deletedAt: product.deletedAt.toISOString(),
        };
        await events.publish(tx, productDeletedV1, [{ subject: id, data }]);
      });
      await invalidate(id);
      return true;
    },

    invalidate,
  };
}

function fieldsOf(product: EntityRow<Product>): ProductFields {
  return {
    name: product.name,
    description: product.description,
    priceCents: product.priceCents,
    currency: product.currency,
    stock: product.stock,
  };
}

function viewOf(product: EntityRow<Product>): ProductView {
  return {
    id: product.id,
    ...fieldsOf(product),
    createdAt: new Date(product.createdAt),
    updatedAt: new Date(product.updatedAt),
    deletedAt: product.deletedAt ? new Date(product.deletedAt) : null,
  };
}

/** A view from its cached JSON (dates come back as strings). */
function reviveView(json: unknown): ProductView | null {
  const parsed = json as ProductView & {
    createdAt: string;
    updatedAt: string;
    deletedAt: string | null;
  };
  if (typeof parsed?.id !== 'string') return null;
  return {
    ...parsed,
    createdAt: new Date(parsed.createdAt),
    updatedAt: new Date(parsed.updatedAt),
    deletedAt: parsed.deletedAt ? new Date(parsed.deletedAt) : null,
  };
}
