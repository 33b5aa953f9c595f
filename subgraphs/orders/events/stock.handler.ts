/**
 * `stock.reserved` / `stock.rejected` (from catalog) → the order becomes CONFIRMED or
 * REJECTED and `order.confirmed` / `order.rejected` is published in the same transaction.
 * Only a PENDING order moves; an answer for an unknown or no-longer-pending order is logged
 * and changes nothing, so redeliveries and late answers are harmless. Takes the consumer's
 * whole batch at once: its orders are read and written in one statement each.
 */
import type { BatchHandler } from '../../../shared/events/index.ts';
import { stockRejectedV1, stockReservedV1 } from '../../../schema/events/index.ts';
import type { OrderService, StockAnswer } from '../domain/order.service.ts';

export function createStockAnswerHandler(
  orders: OrderService,
): BatchHandler<typeof stockReservedV1 | typeof stockRejectedV1> {
  return {
    types: [stockReservedV1, stockRejectedV1],
    async handle({ em, events }) {
      const answers = events.map(({ type, data, traceparent }): StockAnswer =>
        type === stockReservedV1.type
          ? {
              orderId: data.orderId,
              outcome: { kind: 'reserved', at: new Date(data.reservedAt) },
              traceparent,
            }
          : {
              orderId: data.orderId,
              outcome: {
                kind: 'rejected',
                reason: data.reason,
                message: data.message,
                at: new Date(data.rejectedAt),
              },
              traceparent,
            },
      );
      await orders.settle(em, answers);
    },
  };
}
