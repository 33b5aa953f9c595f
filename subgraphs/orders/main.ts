/**
 * Orders subgraph wiring: carts and orders (Postgres schema `orders`), the `Order` entity and
 * `User.orders`, the orders half of the order saga (consumer of the catalog's stock answers)
 * and the replica of the catalog's prices (consumer of its product events). Started by
 * `platform/platform.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import {
  TOPICS,
  catalogue,
  productCreatedV1,
  productDeletedV1,
  productUpdatedV1,
} from '../../schema/events/index.ts';
import { on } from '../../shared/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { OrderEntity } from './domain/order.entity.ts';
import { createOrderService } from './domain/order.service.ts';
import {
  createProductCreatedHandler,
  createProductDeletedHandler,
  createProductUpdatedHandler,
} from './events/product.handlers.ts';
import { createStockAnswerHandler } from './events/stock.handler.ts';
import { migrations } from './migrations/index.ts';
import { createOrderResolvers } from './resolvers/order.resolvers.ts';

export const ORDERS_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface OrdersSubgraphOptions {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** Shared transport (embedded mode); otherwise the subgraph opens its own from config. */
  transport?: EventTransport;
}

export async function startOrdersSubgraph(options: OrdersSubgraphOptions): Promise<SubgraphHandle> {
  return createSubgraph({
    name: 'orders',
    typeDefs: parse(ORDERS_SDL),
    entities: [OrderEntity],
    migrations,
    catalogue,
    config: options.config,
    logger: options.logger,
    ...(options.transport ? { transport: options.transport } : {}),
    async wire({ events, metrics, logger }) {
      const orders = createOrderService({
        events,
        metrics,
        logger,
        schema: options.config.dbSchema ?? 'orders',
      });
      // Stock answers and product prices share a topic but not a group: a backlog of one
      // never holds up the other.
      await events.consume({
        group: 'orders.saga',
        topics: [TOPICS.catalog],
        batchHandler: createStockAnswerHandler(orders),
      });
      await events.consume({
        group: 'orders.products',
        topics: [TOPICS.catalog],
        handlers: [
          on(productCreatedV1, createProductCreatedHandler(orders)),
          on(productUpdatedV1, createProductUpdatedHandler(orders)),
          on(productDeletedV1, createProductDeletedHandler(orders)),
        ],
      });
      return { resolvers: createOrderResolvers(orders) };
    },
  });
}
