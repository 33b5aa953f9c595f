/**
 * `order.placed` (from orders) → reserve every item of the order or none, publishing
 * `stock.reserved` or `stock.rejected` in the same transaction. Applied once per event (the
 * consumer's inbox) and once per order (the `reservations` row).
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type { orderPlacedV1 } from '../../../schema/events/index.ts';
import type { StockService } from '../domain/stock.service.ts';

export function createOrderPlacedHandler(stock: StockService): EventHandler<typeof orderPlacedV1> {
  return async ({ em, data, afterCommit }) => {
    await stock.reserve(em, data, afterCommit);
  };
}
