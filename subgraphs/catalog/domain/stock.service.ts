/**
 * The catalog's half of the order saga: reserve an order's stock all or nothing, and give
 * it back when the order is cancelled. Runs inside the consumer's inbox transaction, so the
 * stock change, the `reservations` row and the resulting event commit together or not at
 * all.
 *
 * Guarantees:
 * - Never oversells: the product rows are locked (`for update`, in id order, so two orders
 *   cannot deadlock on each other's rows) before the decision, and a CHECK keeps stock ≥ 0.
 * - Idempotent per order, beyond the inbox: an order decided once is never decided again,
 *   and only a RESERVED order's items go back, exactly once.
 * - Handles what cannot be reserved as a result, not an error: an unknown or deleted
 *   product rejects the order; a cancellation for an order catalog never saw leaves a
 *   tombstone so a late `order.placed` reserves nothing.
 */
import type { EntityManager } from '../../../shared/db/index.ts';
import type { ServiceEvents } from '../../../shared/events/index.ts';
import type { Logger } from '../../../shared/observability/index.ts';
import { stockRejectedV1, stockReleasedV1, stockReservedV1 } from '../../../schema/events/index.ts';
import type {
  OrderCancelledV1,
  OrderPlacedV1,
  StockRejectedV1,
  StockReleasedV1,
  StockReservedV1,
} from '../../../schema/events/index.ts';
import { decideReservation } from './product.decisions.ts';

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

export interface StockService {
  /** Decides an order: reserves all its items (`stock.reserved`) or none (`stock.rejected`). */
  reserve(em: EntityManager, order: OrderPlacedV1, afterCommit: AfterCommit): Promise<void>;
  /** Returns a cancelled order's reserved items to stock (`stock.released`), once. */
  release(em: EntityManager, order: OrderCancelledV1, afterCommit: AfterCommit): Promise<void>;
}

type ReservationStatus = 'RESERVED' | 'RELEASED' | 'REJECTED' | 'CANCELLED';
type Line = { productId: string; quantity: number };

export function createStockService(options: StockServiceOptions): StockService {
  const { events, logger, invalidate } = options;
  const now = options.now ?? (() => new Date());
  const products = `"${options.schema}".products`;
  const reservations = `"${options.schema}".reservations`;

  const decided = async (em: EntityManager, orderId: string) => {
    const [row] = await em.execute<{ status: ReservationStatus; items: Line[] }[]>(
      `select status, items from ${reservations} where order_id = ? for update`,
      [orderId],
    );
    return row ?? null;
  };

  /** Locks the products' rows in id order (the same order for every transaction). */
  const LOCK_PRODUCTS = `select id, stock, deleted_at from ${products}
    where id in (select jsonb_array_elements_text(?::jsonb)::uuid)
    order by id for update`;
  type LockedProduct = { id: string; stock: number; deleted_at: unknown };
  const lock = (em: EntityManager, ids: readonly string[]) =>
    em.execute<LockedProduct[]>(LOCK_PRODUCTS, [JSON.stringify([...ids].sort())]);

  /**
   * An order's reservation (locked, if there is one) and its products' rows (locked, in id
   * order): what `decided` and `lock` read, in one round trip.
   */
  const decidedAndLocked = async (em: EntityManager, orderId: string, ids: readonly string[]) => {
    const [row] = await em.execute<
      { decided: { status: ReservationStatus; items: Line[] } | null; products: LockedProduct[] }[]
    >(
      `with decided as (
         select status, items from ${reservations} where order_id = ? for update
       ), locked as (${LOCK_PRODUCTS})
       select (select to_jsonb(decided) from decided) as decided,
              coalesce((select jsonb_agg(to_jsonb(locked)) from locked), '[]'::jsonb) as products`,
      [orderId, JSON.stringify([...ids].sort())],
    );
    return { previous: row?.decided ?? null, rows: row?.products ?? [] };
  };

  const RECORD = `insert into ${reservations} (order_id, status, items, reason, created_at, updated_at)
    values (?, ?, ?::jsonb, ?, ?, ?)`;
  const record = (
    em: EntityManager,
    orderId: string,
    status: ReservationStatus,
    items: readonly Line[],
    reason: string | null,
    at: Date,
  ) => em.execute(RECORD, [orderId, status, JSON.stringify(items), reason, at, at]);

  /** Adds `delta × quantity` to each line's product, returning `id, stock` (the stock after). */
  const ADJUST = `update ${products} as p set stock = p.stock + ? * l.quantity, updated_at = ?
    from jsonb_to_recordset(?::jsonb) as l("productId" uuid, quantity int)
    where p.id = l."productId"
    returning p.id, p.stock`;
  const stockByProduct = (rows: { id: string; stock: number }[]) =>
    new Map(rows.map((row) => [row.id, row.stock]));
  const adjust = async (em: EntityManager, lines: readonly Line[], delta: 1 | -1, at: Date) =>
    stockByProduct(
      await em.execute<{ id: string; stock: number }[]>(ADJUST, [delta, at, JSON.stringify(lines)]),
    );

  /** Takes the lines from stock and records the order RESERVED, in one round trip. */
  const reserveLines = async (
    em: EntityManager,
    orderId: string,
    lines: readonly Line[],
    at: Date,
  ) =>
    stockByProduct(
      await em.execute<{ id: string; stock: number }[]>(
        `with adjusted as (${ADJUST}), recorded as (${RECORD}) select id, stock from adjusted`,
        [-1, at, JSON.stringify(lines), orderId, 'RESERVED', JSON.stringify(lines), null, at, at],
      ),
    );

  return {
    async reserve(em, order, afterCommit) {
      const ids = [...new Set(order.items.map((item) => item.productId))];
      const { previous, rows } = await decidedAndLocked(em, order.orderId, ids);
      if (previous) {
        logger.info(
          { orderId: order.orderId, status: previous.status },
          'catalog: order already decided; nothing to reserve',
        );
        return;
      }
      const at = now();
      const decision = decideReservation(
        order.items,
        rows.map((row) => ({
          productId: row.id,
          stock: row.stock,
          onSale: row.deleted_at === null,
        })),
      );
      if (decision.kind === 'reject') {
        await record(em, order.orderId, 'REJECTED', order.items, decision.reason, at);
        const data: StockRejectedV1 = {
          orderId: order.orderId,
          reason: decision.reason,
          message: decision.message.slice(0, 1000),
          items: decision.items,
          rejectedAt: at.toISOString(),
        };
        await events.publish(em, stockRejectedV1, [{ subject: order.orderId, data }]);
        return;
      }
      const lines = decision.lines.map(({ productId, quantity }) => ({ productId, quantity }));
      const after = await reserveLines(em, order.orderId, lines, at);
      const data: StockReservedV1 = {
        orderId: order.orderId,
        items: lines.map((line) => ({
          productId: line.productId,
          quantity: line.quantity,
          stockAfter: after.get(line.productId)!,
        })),
        reservedAt: at.toISOString(),
      };
      await events.publish(em, stockReservedV1, [{ subject: order.orderId, data }]);
      afterCommit(() => invalidate(...ids));
    },

    async release(em, order, afterCommit) {
      const at = now();
      const reservation = await decided(em, order.orderId);
      if (!reservation) {
        // Cancelled before catalog saw it placed: a tombstone, so nothing is reserved later.
        await record(em, order.orderId, 'CANCELLED', [], 'cancelled before it was decided', at);
        return;
      }
      if (reservation.status !== 'RESERVED') return;
      const lines = reservation.items;
      await lock(
        em,
        lines.map((line) => line.productId),
      );
      const stockAfter = await adjust(em, lines, 1, at);
      await em.execute(
        `update ${reservations} set status = 'RELEASED', updated_at = ? where order_id = ?`,
        [at, order.orderId],
      );
      const data: StockReleasedV1 = {
        orderId: order.orderId,
        items: lines.map((line) => ({
          productId: line.productId,
          quantity: line.quantity,
          stockAfter: stockAfter.get(line.productId)!,
        })),
        releasedAt: at.toISOString(),
      };
      await events.publish(em, stockReleasedV1, [{ subject: order.orderId, data }]);
      afterCommit(() => invalidate(...lines.map((line) => line.productId)));
    },
  };
}
