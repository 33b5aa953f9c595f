/**
 * Compile-time checks of the typed event API, run by `npm run typecheck`: tsc compiles this
 * file and nothing runs it. Publishing takes an event type's definition and a payload of its
 * schema's type; a consumer's handlers are bound to definitions with `on`. Each line after a
 * `@ts-expect-error` must not compile: should the typing regress and one of them compile, tsc
 * reports the directive as unused and the typecheck fails.
 */
import { z } from 'zod';
import type { EntityManager } from '../../shared/db/index.ts';
import { defineEventType, on } from '../../shared/events/index.ts';
import type { BatchHandler, EventHandler, ServiceEvents } from '../../shared/events/index.ts';
import {
  TOPICS,
  orderPlacedV1,
  stockRejectedV1,
  stockReservedV1,
} from '../../schema/events/index.ts';
import type { OrderPlacedV1, StockReservedV1 } from '../../schema/events/index.ts';

declare const em: EntityManager;
declare const events: ServiceEvents;
declare const onReserved: EventHandler<typeof stockReservedV1>;
declare const placed: OrderPlacedV1;
declare const reserved: StockReservedV1;

// A handler bound to the event type it was written for compiles.
on(stockReservedV1, onReserved);
// @ts-expect-error a stock.reserved handler is no handler for order.placed
on(orderPlacedV1, onReserved);

// A batch handler's events are a union told apart by `type`: each narrows to its payload.
export const answers: BatchHandler<typeof stockReservedV1 | typeof stockRejectedV1> = {
  types: [stockReservedV1, stockRejectedV1],
  async handle({ events }) {
    for (const item of events) {
      if (item.type === stockReservedV1.type) {
        void item.data.reservedAt;
        // @ts-expect-error a stock.reserved payload has no rejectedAt
        void item.data.rejectedAt;
      } else {
        void item.data.rejectedAt;
      }
    }
  },
};
export const wrongTypes: BatchHandler<typeof stockReservedV1> = {
  // @ts-expect-error a batch handler takes only the types it names
  types: [orderPlacedV1],
  handle: async () => {},
};

// An inline handler's payload is the definition's.
on(orderPlacedV1, async ({ data }) => {
  void data.placedAt;
  // @ts-expect-error an order.placed payload has no reservedAt
  void data.reservedAt;
});

// Two event types with one payload shape are still two types: the name tells them apart.
const pinged = defineEventType('fixture.pinged', 1, z.object({ id: z.string() }));
const ponged = defineEventType('fixture.ponged', 1, z.object({ id: z.string() }));
declare const onPinged: EventHandler<typeof pinged>;
on(pinged, onPinged);
// @ts-expect-error a fixture.pinged handler is no handler for fixture.ponged
on(ponged, onPinged);

// Handlers are bound to definitions, never keyed by a type name.
void events.consume({
  group: 'fixture.saga',
  topics: [TOPICS.catalog],
  // @ts-expect-error a record of handlers by type name is not a list of bindings
  handlers: { 'stock.reserved': onReserved },
});

// Publishing takes the definition and payloads of its schema's type.
void events.publish(em, orderPlacedV1, [{ subject: placed.orderId, data: placed }]);
// @ts-expect-error a stock.reserved payload is no order.placed payload
void events.publish(em, orderPlacedV1, [{ subject: reserved.orderId, data: reserved }]);
// @ts-expect-error totalCents is a number of cents
void events.publish(em, orderPlacedV1, [{ subject: 'o1', data: { ...placed, totalCents: '1' } }]);
// @ts-expect-error an event type is published by its definition, not by its name
void events.publish(em, 'order.placed', [{ subject: placed.orderId, data: placed }]);
