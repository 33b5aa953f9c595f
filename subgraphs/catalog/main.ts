/**
 * Catalog subgraph wiring: products and their stock (Postgres schema `catalog`), the
 * `Product` entity with its cache, the stock-reservation half of the order saga (consumer
 * of `orders.events`) and the cache-invalidation consumer of its own events. Started by
 * `platform/platform.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import {
  TOPICS,
  catalogue,
  productDeletedV1,
  productUpdatedV1,
  stockReleasedV1,
  stockReservedV1,
} from '../../schema/events/index.ts';
import { on } from '../../shared/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { ProductEntity } from './domain/product.entity.ts';
import { createProductService } from './domain/product.service.ts';
import { createStockService } from './domain/stock.service.ts';
import { createCacheInvalidationHandler } from './events/cache-invalidation.handler.ts';
import { createOrderStockHandler } from './events/order-stock.handler.ts';
import { migrations } from './migrations/index.ts';
import { createProductResolvers } from './resolvers/product.resolvers.ts';

/** How long the cache-invalidation consumer lets a batch of catalog events fill. */
const CACHE_INVALIDATION_WINDOW_MS = 250;

export const CATALOG_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface CatalogSubgraphOptions {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** Shared transport (embedded mode); otherwise the subgraph opens its own from config. */
  transport?: EventTransport;
}

export async function startCatalogSubgraph(
  options: CatalogSubgraphOptions,
): Promise<SubgraphHandle> {
  return createSubgraph({
    name: 'catalog',
    typeDefs: parse(CATALOG_SDL),
    entities: [ProductEntity],
    migrations,
    catalogue,
    config: options.config,
    logger: options.logger,
    ...(options.transport ? { transport: options.transport } : {}),
    async wire({ cache, events, metrics, logger }) {
      const products = createProductService({ cache, events, metrics, logger });
      const stock = createStockService({
        events,
        logger,
        schema: options.config.dbSchema ?? 'catalog',
        invalidate: (...ids) => products.invalidate(...ids),
      });
      await events.consume({
        group: 'catalog.stock',
        topics: [TOPICS.orders],
        batchHandler: createOrderStockHandler(stock),
      });
      const invalidate = createCacheInvalidationHandler(products);
      await events.consume({
        group: 'catalog.cache',
        topics: [TOPICS.catalog],
        // A second drop of what the change's own commit already dropped: it may wait for a
        // batch to fill, a transaction per window instead of one per event.
        batchWindowMs: CACHE_INVALIDATION_WINDOW_MS,
        handlers: [
          on(productUpdatedV1, invalidate),
          on(productDeletedV1, invalidate),
          on(stockReservedV1, invalidate),
          on(stockReleasedV1, invalidate),
        ],
      });
      return { resolvers: createProductResolvers(products) };
    },
  });
}
