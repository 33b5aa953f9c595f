/**
 * The catalog's half of the order saga: reserve an order's stock all or nothing, and give
 * it back when the order is cancelled. Runs inside the consumer's inbox transaction, so the
 * stock changes, the `reservations` rows and the resulting events commit together or not at
 * all.
 *
 * Set-based: a batch of order events costs the same few statements whatever its size. One
 * reads and locks the orders' reservations and every product they name or hold; the events
 * are decided in delivery order in memory (`decideStock`); one statement writes every stock
 * change and reservation row; one publish per event type writes the events.
 *
 * Guarantees:
 * - Never oversells: the product rows are locked (`for update`, in id order, so two batches
 *   cannot deadlock on each other's rows) before the decisions, the stock each decision sees
 *   is what the events before it left, the database's stock after the write must equal the
 *   decisions' (else the transaction fails), and a CHECK keeps stock ≥ 0.
 * - Idempotent per order, beyond the inbox: an order decided once is never decided again,
 *   and only a RESERVED order's items go back, exactly once. A reservation row is inserted
 *   only where none was read; if another transaction inserted one meanwhile, the insert fails
 *   and the consumer applies the batch again event by event.
 * - Handles what cannot be reserved as a result, not an error: an unknown or deleted
 *   product rejects the order; a cancellation for an order catalog never saw leaves a
 *   tombstone so a late `order.placed` reserves nothing.
 */
import { prepared } from '../../../shared/db/index.ts';
import type { EntityManager } from '../../../shared/db/index.ts';
import type { EventToPublish, ServiceEvents } from '../../../shared/events/index.ts';
import type { Logger } from '../../../shared/observability/index.ts';
import { stockRejectedV1, stockReleasedV1, stockReservedV1 } from '../../../schema/events/index.ts';
import type { OrderCancelledV1, OrderPlacedV1 } from '../../../schema/events/index.ts';
import { decideStock } from './product.decisions.ts';
import type { Reservation, StockCommand } from './product.decisions.ts';

export interface StockServiceOptions {
  events: ServiceEvents;
  logger: Logger;
  /** Postgres schema of the catalog tables. */
  schema: string;
  /** Drops cached products (after commit). */
  invalidate: (...ids: string[]) => Promise<void>;
  /** @default () => new Date() */
  now?: () => Date;
}

/** Registers work to run once the surrounding transaction commits. */
export type AfterCommit = (task: () => Promise<void>) => void;

/** An order event for the stock, with the trace context to publish its outcome under. */
export type OrderEvent =
  | { kind: 'placed'; order: OrderPlacedV1; traceparent?: string | undefined }
  | { kind: 'cancelled'; order: OrderCancelledV1; traceparent?: string | undefined };

export interface StockService {
  /**
   * Applies order events in order: a placed order is reserved whole (`stock.reserved`) or
   * not at all (`stock.rejected`); a cancelled order's reserved items go back to stock
   * (`stock.released`), once.
   */
  apply(em: EntityManager, orders: readonly OrderEvent[], afterCommit: AfterCommit): Promise<void>;
}

type ReservationRow = {
  order_id: string;
  status: Reservation['status'];
  items: Reservation['items'];
};
type ProductRow = { id: string; stock: number; deleted_at: unknown };

export function createStockService(options: StockServiceOptions): StockService {
  const { events, logger, invalidate } = options;
  const now = options.now ?? (() => new Date());
  const products = `"${options.schema}".products`;
  const reservations = `"${options.schema}".reservations`;

  /**
   * The orders' reservations and the rows of every product they name or hold, all locked:
   * reservations first, then products in id order (the same order for every transaction).
   * Arrays travel as JSON: the driver would expand a JS array into a parameter list. Rows are
   * found by `= any(array(…))` of their keys, which the planner reads as a few index lookups;
   * a join with the JSON's rows, which it guesses at 100, it answers with a scan of the table.
   */
  const READ = prepared(`with decided as (
      select order_id, status, items from ${reservations}
      where order_id = any(array(select jsonb_array_elements_text(?::jsonb)::uuid))
      for update
    ), locked as (
      select id, stock, deleted_at from ${products}
      where id = any(array(
        select jsonb_array_elements_text(?::jsonb)::uuid
        union select (line->>'productId')::uuid from decided, jsonb_array_elements(decided.items) as line
      ))
      order by id for update
    )
    select coalesce((select jsonb_agg(to_jsonb(decided)) from decided), '[]'::jsonb) as decided,
           coalesce((select jsonb_agg(to_jsonb(locked)) from locked), '[]'::jsonb) as products`);

  /**
   * Every stock change (returning the stock after it), new reservation row and status change
   * of a reservation read before, in one statement; rows found by key as in READ.
   */
  const WRITE = prepared(`with l as (
      select * from jsonb_to_recordset(?::jsonb) as l(id uuid, delta int)
    ), c as (
      select * from jsonb_to_recordset(?::jsonb) as c(order_id uuid, status text)
    ), adjusted as (
      update ${products} as p set stock = p.stock + l.delta, updated_at = ?
      from l
      where p.id = l.id and p.id = any(array(select id from l))
      returning p.id, p.stock
    ), inserted as (
      insert into ${reservations} (order_id, status, items, reason, created_at, updated_at)
      select r.order_id, r.status, r.items, r.reason, ?::timestamptz, ?::timestamptz
      from jsonb_to_recordset(?::jsonb) as r(order_id uuid, status text, items jsonb, reason text)
    ), updated as (
      update ${reservations} as r set status = c.status, updated_at = ?
      from c
      where r.order_id = c.order_id and r.order_id = any(array(select order_id from c))
    )
    select id, stock from adjusted`);

  return {
    async apply(em, orders, afterCommit) {
      if (orders.length === 0) return;
      const commands = orders.map((event): StockCommand =>
        event.kind === 'placed'
          ? { kind: 'place', orderId: event.order.orderId, items: event.order.items }
          : { kind: 'cancel', orderId: event.order.orderId },
      );
      const orderIds = [...new Set(commands.map((command) => command.orderId))];
      const named = new Set(
        orders.flatMap((event) =>
          event.kind === 'placed' ? event.order.items.map((item) => item.productId) : [],
        ),
      );
      const [read] = await em.execute<{ decided: ReservationRow[]; products: ProductRow[] }[]>(
        READ,
        [JSON.stringify(orderIds), JSON.stringify([...named])],
      );
      const before = new Map(
        (read?.decided ?? []).map((row) => [
          row.order_id,
          { status: row.status, items: row.items },
        ]),
      );
      const levels = (read?.products ?? []).map((row) => ({
        productId: row.id,
        stock: row.stock,
        onSale: row.deleted_at === null,
      }));
      const decisions = decideStock(commands, levels, before);

      const at = now();
      const created = [...decisions.reservations].filter(([orderId]) => !before.has(orderId));
      const changed = [...decisions.reservations].filter(([orderId]) => before.has(orderId));
      const deltas = [...decisions.deltas];
      if (deltas.length > 0 || decisions.reservations.size > 0) {
        // The events' locks (their subjects are the orders) go out with the write, after the
        // row locks as before: the batch holds the products' rows a round trip less.
        await events.lockSubjects(em, orderIds);
        const stock = await em.execute<{ id: string; stock: number }[]>(WRITE, [
          JSON.stringify(deltas.map(([id, delta]) => ({ id, delta }))),
          JSON.stringify(
            changed.map(([orderId, row]) => ({ order_id: orderId, status: row.status })),
          ),
          at,
          at,
          at,
          JSON.stringify(
            created.map(([orderId, row]) => ({
              order_id: orderId,
              status: row.status,
              items: row.items,
              reason: row.reason,
            })),
          ),
          at,
        ]);
        const expected = new Map(levels.map((level) => [level.productId, level.stock]));
        for (const [id, delta] of deltas) expected.set(id, expected.get(id)! + delta);
        const wrong = stock.filter((row) => row.stock !== expected.get(row.id));
        if (wrong.length > 0 || stock.length !== deltas.length) {
          // The rows were locked before deciding: only a bug gets here. Roll it all back.
          throw new Error(
            `catalog: stock after the write differs from the decisions for ${wrong.map((row) => row.id).join(', ') || 'a product not updated'}`,
          );
        }
      }

      const reserved: EventToPublish<typeof stockReservedV1>[] = [];
      const rejected: EventToPublish<typeof stockRejectedV1>[] = [];
      const released: EventToPublish<typeof stockReleasedV1>[] = [];
      const touched = new Set<string>();
      decisions.outcomes.forEach((outcome, index) => {
        const { traceparent } = orders[index]!;
        const subject = outcome.orderId;
        switch (outcome.kind) {
          case 'reserved':
            outcome.lines.forEach((line) => touched.add(line.productId));
            reserved.push({
              subject,
              traceparent,
              data: { orderId: subject, items: outcome.lines, reservedAt: at.toISOString() },
            });
            break;
          case 'rejected':
            rejected.push({
              subject,
              traceparent,
              data: {
                orderId: subject,
                reason: outcome.reason,
                message: outcome.message.slice(0, 1000),
                items: outcome.items,
                rejectedAt: at.toISOString(),
              },
            });
            break;
          case 'released':
            outcome.lines.forEach((line) => touched.add(line.productId));
            released.push({
              subject,
              traceparent,
              data: { orderId: subject, items: outcome.lines, releasedAt: at.toISOString() },
            });
            break;
          case 'tombstone':
            break;
          case 'unchanged':
            logger.info(
              { orderId: subject, status: outcome.status, event: orders[index]!.kind },
              'catalog: order already decided; nothing to do',
            );
        }
      });
      // One aggregate's events keep their order: only reserved-then-released can meet in a
      // batch, and reserved ones are written first.
      await events.publish(em, stockReservedV1, reserved);
      await events.publish(em, stockRejectedV1, rejected);
      await events.publish(em, stockReleasedV1, released);
      if (touched.size > 0) afterCommit(() => invalidate(...touched));
    },
  };
}
