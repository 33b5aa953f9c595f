/** An order, owned by the orders subgraph (Postgres schema `orders`). */
import { defineEntity, p } from '../../../shared/db/index.ts';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'CANCELLED';

/** One line of an order, with the unit price captured when it was placed. */
export interface OrderLine {
  productId: string;
  quantity: number;
  unitPriceCents: number;
}

export const OrderEntity = defineEntity({
  name: 'Order',
  tableName: 'orders',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    status: p.string().$type<OrderStatus>(),
    items: p.json<OrderLine[]>(),
    totalCents: p.integer(),
    currency: p.string().length(3),
    rejectionReason: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export type Order = InstanceType<typeof OrderEntity.class>;
