/**
 * `order.cancelled` (from orders) → give a reserved order's items back to stock and publish
 * `stock.released`. A cancellation of an order that was rejected, or already released, is a
 * no-op; one for an order catalog has not seen leaves a tombstone.
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type { orderCancelledV1 } from '../../../schema/events/index.ts';
import type { StockService } from '../domain/stock.service.ts';

export function createOrderCancelledHandler(
  stock: StockService,
): EventHandler<typeof orderCancelledV1> {
  return async ({ em, data, afterCommit }) => {
    await stock.release(em, data, afterCommit);
  };
}
