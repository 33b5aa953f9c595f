/**
 * `product.created` / `product.updated` / `product.deleted` (from catalog) → the replica of
 * prices orders sells at. Writes are versioned by the event's time, so a redelivered or
 * older event never overwrites a newer state, and a deleted product stays off sale.
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type {
  productCreatedV1,
  productDeletedV1,
  productUpdatedV1,
} from '../../../schema/events/index.ts';
import type { OrderService } from '../domain/order.service.ts';

export function createProductCreatedHandler(
  orders: OrderService,
): EventHandler<typeof productCreatedV1> {
  return async ({ em, data }) => {
    await orders.rememberProduct(em, { ...data, version: new Date(data.createdAt) });
  };
}

export function createProductUpdatedHandler(
  orders: OrderService,
): EventHandler<typeof productUpdatedV1> {
  return async ({ em, data }) => {
    await orders.rememberProduct(em, { ...data, version: new Date(data.updatedAt) });
  };
}

export function createProductDeletedHandler(
  orders: OrderService,
): EventHandler<typeof productDeletedV1> {
  return async ({ em, data }) => {
    await orders.forgetProduct(em, data.productId, new Date(data.deletedAt));
  };
}
