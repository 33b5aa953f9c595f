/**
 * `order.placed` and `order.cancelled` (from orders) → the order's stock: a placed order is
 * reserved whole or not at all (`stock.reserved` / `stock.rejected`), a cancelled one gets
 * its reserved items back (`stock.released`), each published in the transaction that moved
 * the stock. Takes the consumer's whole batch at once, so the saga's cost per order falls as
 * orders queue up (see the stock service). Applied once per event (the consumer's inbox) and
 * once per order (the `reservations` row).
 */
import type { BatchHandler } from '../../../shared/events/index.ts';
import { orderCancelledV1, orderPlacedV1 } from '../../../schema/events/index.ts';
import type { OrderEvent, StockService } from '../domain/stock.service.ts';

export function createOrderStockHandler(
  stock: StockService,
): BatchHandler<typeof orderPlacedV1 | typeof orderCancelledV1> {
  return {
    types: [orderPlacedV1, orderCancelledV1],
    async handle({ em, events, afterCommit }) {
      const orders = events.map(({ type, data, traceparent }): OrderEvent =>
        type === orderPlacedV1.type
          ? { kind: 'placed', order: data, traceparent }
          : { kind: 'cancelled', order: data, traceparent },
      );
      await stock.apply(em, orders, afterCommit);
    },
  };
}
