/**
 * `stock.reserved` / `stock.rejected` (from catalog) → the order becomes CONFIRMED or
 * REJECTED and `order.confirmed` / `order.rejected` is published in the same transaction.
 * Only a PENDING order moves; an answer for an unknown or no-longer-pending order is logged
 * and changes nothing, so redeliveries and late answers are harmless.
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type { stockRejectedV1, stockReservedV1 } from '../../../schema/events/index.ts';
import type { OrderService } from '../domain/order.service.ts';

export function createStockReservedHandler(
  orders: OrderService,
): EventHandler<typeof stockReservedV1> {
  return async ({ em, data }) => {
    await orders.settle(em, data.orderId, { kind: 'reserved', at: new Date(data.reservedAt) });
  };
}

export function createStockRejectedHandler(
  orders: OrderService,
): EventHandler<typeof stockRejectedV1> {
  return async ({ em, data }) => {
    await orders.settle(em, data.orderId, {
      kind: 'rejected',
      reason: data.reason,
      message: data.message,
      at: new Date(data.rejectedAt),
    });
  };
}
