/**
 * Orders domain service: carts, placing and cancelling orders, reading them, and the orders
 * half of the saga (the catalog's reservation answer moves a PENDING order on). Every change
 * commits with its event (outbox).
 *
 * Prices come from `products`, the replica of the catalog this service keeps from
 * `catalog.events`: a product can be added to carts once its `product.created` has been
 * consumed (normally well under a second after `createProduct`), and an order captures the
 * prices the replica holds when it is placed. A user's cart changes under a per-user
 * transaction lock, so concurrent calls cannot break its rules or place it twice.
 */
import { Counter } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import type { Identity } from '../../../shared/auth/index.ts';
import { LockMode, findRows, prepared, sentWithNext } from '../../../shared/db/index.ts';
import type { EntityManager, EntityRow } from '../../../shared/db/index.ts';
import { NotFoundError } from '../../../shared/errors/index.ts';
import type { EventToPublish, ServiceEvents } from '../../../shared/events/index.ts';
import type { Logger, ServiceMetrics } from '../../../shared/observability/index.ts';
import {
  afterCursor,
  connectionOf,
  decodeCursor,
  isUuid,
  pageSize,
} from '../../../shared/server/index.ts';
import type { Connection } from '../../../shared/server/index.ts';
import {
  orderCancelledV1,
  orderConfirmedV1,
  orderPlacedV1,
  orderRejectedV1,
} from '../../../schema/events/index.ts';
import type { OrderCancelledV1, OrderPlacedV1 } from '../../../schema/events/index.ts';
import { OrderEntity } from './order.entity.ts';
import type { Order, OrderLine, OrderStatus } from './order.entity.ts';
import {
  assertCanAccessOrders,
  canSeeOrdersOf,
  assertSignedIn,
  decideAddToCart,
  decideCancel,
  decideOrder,
  decideStockOutcome,
  nextUpdateTime,
  validQuantity,
} from './order.decisions.ts';
import type { CartLine, KnownProduct, OrderView } from './order.decisions.ts';

/** An order as `settle` reads it. */
interface SettledRow {
  id: string;
  user_id: string;
  status: OrderStatus;
  items: OrderLine[];
  total_cents: number;
  currency: string;
  /** `updated_at` in epoch milliseconds (the driver leaves timestamps as text). */
  updated_ms: number;
}

export interface CartView {
  items: OrderLine[];
  totalCents: number;
  currency: string | null;
}

/** The catalog's answer for an order, from `stock.reserved` / `stock.rejected`. */
export type StockOutcome =
  | { kind: 'reserved'; at: Date }
  | { kind: 'rejected'; reason: 'OUT_OF_STOCK' | 'UNKNOWN_PRODUCT'; message: string; at: Date };

/** Catalog's answer for one order, with the trace context to publish its consequence under. */
export interface StockAnswer {
  orderId: string;
  outcome: StockOutcome;
  traceparent?: string | undefined;
}

/** A product's state as the catalog published it, at `version` (the event's time). */
export interface ProductState {
  productId: string;
  priceCents: number;
  currency: string;
  version: Date;
}

export interface OrderServiceOptions {
  events: ServiceEvents;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Postgres schema of the orders tables. */
  schema: string;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface OrderService {
  cart(em: EntityManager, identity: Identity | null): Promise<CartView>;
  addToCart(
    em: EntityManager,
    identity: Identity | null,
    productId: string,
    quantity: number,
  ): Promise<CartView>;
  removeFromCart(
    em: EntityManager,
    identity: Identity | null,
    productId: string,
  ): Promise<CartView>;
  place(em: EntityManager, identity: Identity | null): Promise<OrderView>;
  cancel(em: EntityManager, identity: Identity | null, id: string): Promise<OrderView>;
  /** An order the caller may read; null when there is none. FORBIDDEN for someone else's. */
  find(em: EntityManager, identity: Identity | null, id: string): Promise<OrderView | null>;
  /** A user's orders, newest first (the user themselves or an ADMIN). */
  listFor(
    em: EntityManager,
    identity: Identity | null,
    userId: string,
    args: { first?: number | null; after?: string | null },
  ): Promise<Connection<OrderView>>;
  /**
   * Applies catalog's answers in order: each moves a PENDING order to CONFIRMED or REJECTED
   * and publishes `order.confirmed` / `order.rejected`; an answer for an unknown or
   * no-longer-pending order is logged and changes nothing. The orders are read and locked in
   * one statement and written in one, whatever the number of answers.
   */
  settle(em: EntityManager, answers: readonly StockAnswer[]): Promise<void>;
  /** Records a product's price and currency from the catalog (older states are ignored). */
  rememberProduct(em: EntityManager, state: ProductState): Promise<void>;
  /** Records that a product is off sale. */
  forgetProduct(em: EntityManager, productId: string, version: Date): Promise<void>;
}

export function createOrderService(options: OrderServiceOptions): OrderService {
  const { events, logger } = options;
  const now = options.now ?? (() => new Date());
  const products = `"${options.schema}".products`;
  const orders = `"${options.schema}".orders`;
  const cartItems = `"${options.schema}".cart_items`;
  const statusChanges = new Counter({
    name: 'orders_status_changes_total',
    help: 'Orders entering each status (PENDING when placed)',
    labelNames: ['status'] as const,
    registers: [options.metrics.registry],
  });

  /** Serialises changes to one user's cart (held until the transaction ends). */
  const LOCK_CART = prepared(
    `select pg_advisory_xact_lock(hashtextextended('orders.cart:' || ?::text, 0))`,
  );
  const lockCart = (em: EntityManager, userId: string) => em.execute(LOCK_CART, [userId]);
  /**
   * A cart statement and its parameters, preceded by taking the user's cart lock when `lock`
   * holds: one round trip, two statements, the second of which takes its snapshot after the
   * lock is held (so it reads what the lock's last holder committed). Both are prepared.
   */
  const underCartLock = (
    lock: boolean,
    userId: string,
    sql: string,
    params: unknown[],
  ): [string, unknown[]] =>
    lock ? [`${LOCK_CART};\n${prepared(sql)}`, [userId, ...params]] : [prepared(sql), params];

  /** A user's cart lines, in the order they were first added (then by product id). */
  const cartLines = async (
    em: EntityManager,
    userId: string,
    lock = false,
  ): Promise<StoredLine[]> =>
    (
      await em.execute<CartRow[]>(
        ...underCartLock(
          lock,
          userId,
          `select c.product_id, c.quantity, ${addedMs('c')}, p.id, p.price_cents, p.currency, p.on_sale
           from ${cartItems} c left join ${products} p on p.id = c.product_id
           where c.user_id = ? order by c.added_at, c.product_id`,
          [userId],
        ),
      )
    ).map(lineOf);

  /**
   * A user's cart lines (as `cartLines`, taking the cart lock first) and a product's replica
   * row (null when unknown), in one round trip: the product comes as a last row with no cart
   * columns.
   */
  const lockedCartAndProduct = async (
    em: EntityManager,
    userId: string,
    productId: string,
  ): Promise<[StoredLine[], KnownProduct | null]> => {
    if (!isUuid(productId)) return [await cartLines(em, userId, true), null];
    const rows = await em.execute<(CartRow & { wanted: boolean })[]>(
      ...underCartLock(
        true,
        userId,
        `select c.product_id, c.quantity, ${addedMs('c')}, p.id, p.price_cents, p.currency, p.on_sale,
                false as wanted
         from ${cartItems} c left join ${products} p on p.id = c.product_id
         where c.user_id = ?
         union all
         select null, null, null, id, price_cents, currency, on_sale, true
         from ${products} where id = ?
         order by wanted, added_ms, product_id`,
        [userId, productId],
      ),
    );
    const wanted = rows.find((row) => row.wanted);
    return [rows.filter((row) => !row.wanted).map(lineOf), wanted ? productOf(wanted) : null];
  };

  /**
   * Takes the cart lock, empties the user's cart and returns the lines it held, as `cartLines`
   * would have: one round trip. In a transaction that rolls back (an order refused), the cart
   * stays as it was.
   */
  const takeCartLines = async (em: EntityManager, userId: string): Promise<StoredLine[]> =>
    (
      await em.execute<CartRow[]>(
        ...underCartLock(
          true,
          userId,
          `with taken as (
             delete from ${cartItems} where user_id = ? returning product_id, quantity, added_at
           )
           select t.product_id, t.quantity, ${addedMs('t')}, p.id, p.price_cents, p.currency, p.on_sale
           from taken t left join ${products} p on p.id = t.product_id
           order by t.added_at, t.product_id`,
          [userId],
        ),
      )
    ).map(lineOf);

  const cartOf = async (em: EntityManager, userId: string): Promise<CartView> =>
    cartView(await cartLines(em, userId));

  const lockedOrder = async (em: EntityManager, id: string): Promise<Order | null> =>
    isUuid(id) ? em.findOne(OrderEntity, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE }) : null;

  return {
    async cart(em, identity) {
      assertSignedIn(identity);
      return cartOf(em, identity.userId);
    },

    async addToCart(em, identity, productId, quantity) {
      assertSignedIn(identity);
      validQuantity(quantity);
      return em.transactional(async (tx) => {
        const [lines, product] = await lockedCartAndProduct(tx, identity.userId, productId);
        const next = decideAddToCart(lines, product, quantity);
        const addedAt = now();
        // Waits and goes out with the commit, in one round trip.
        await tx.execute(
          sentWithNext(
            prepared(`insert into ${cartItems} (user_id, product_id, quantity, added_at)
             values (?, ?, ?, ?)
             on conflict (user_id, product_id) do update set quantity = excluded.quantity`),
          ),
          [identity.userId, productId, next, addedAt],
        );
        // The cart as a read after the upsert would return it, without reading it again (the
        // cart is locked): the line's new quantity, or a new line where its time puts it.
        return cartView(
          withLine(lines, { productId: product!.id, quantity: next, product, addedAt }),
        );
      });
    },

    async removeFromCart(em, identity, productId) {
      assertSignedIn(identity);
      return em.transactional(async (tx) => {
        await lockCart(tx, identity.userId);
        if (isUuid(productId)) {
          await tx.execute(`delete from ${cartItems} where user_id = ? and product_id = ?`, [
            identity.userId,
            productId,
          ]);
        }
        return cartOf(tx, identity.userId);
      });
    },

    async place(em, identity) {
      assertSignedIn(identity);
      const userId = identity.userId;
      const order = await em.transactional(async (tx) => {
        // The new order's event lock goes out with the cart's statement: no other transaction
        // knows the id, so nothing waits on it, and the event's row later needs no round trip
        // of its own.
        const id = uuidv7();
        await events.lockSubjects(tx, [id]);
        // Refused (empty cart, a product no longer on sale…): the transaction rolls back and
        // the cart is kept.
        const placed = decideOrder(await takeCartLines(tx, userId));
        const at = now();
        const created: OrderView = {
          id,
          userId,
          status: 'PENDING',
          ...placed,
          rejectionReason: null,
          createdAt: at,
          updatedAt: at,
        };
        // The row waits and goes out with the event's row and the commit, in one round trip.
        await tx.execute(
          sentWithNext(
            prepared(`insert into ${orders} (id, user_id, status, items, total_cents, currency,
               created_at, updated_at)
             values (?, ?, 'PENDING', ?::jsonb, ?, ?, ?, ?)`),
          ),
          [
            created.id,
            userId,
            JSON.stringify(placed.items),
            placed.totalCents,
            placed.currency,
            at,
            at,
          ],
        );
        const data: OrderPlacedV1 = {
          orderId: created.id,
          userId,
          ...placed,
          placedAt: at.toISOString(),
        };
        await events.publish(tx, orderPlacedV1, [{ subject: created.id, data }]);
        return created;
      });
      statusChanges.inc({ status: 'PENDING' });
      return order;
    },

    async cancel(em, identity, id) {
      assertSignedIn(identity);
      let cancelled = false;
      const order = await em.transactional(async (tx) => {
        const found = await lockedOrder(tx, id);
        if (!found || !canSeeOrdersOf(identity, found.userId)) throw new NotFoundError('Order');
        if (decideCancel(found.status) === 'unchanged') return found;
        const previousStatus = found.status as 'PENDING' | 'CONFIRMED';
        found.status = 'CANCELLED';
        found.updatedAt = nextUpdateTime(now(), found.updatedAt);
        await tx.flush();
        const data: OrderCancelledV1 = {
          orderId: found.id,
          userId: found.userId,
          totalCents: found.totalCents,
          currency: found.currency,
          previousStatus,
          items: found.items,
          cancelledAt: found.updatedAt.toISOString(),
        };
        await events.publish(tx, orderCancelledV1, [{ subject: found.id, data }]);
        cancelled = true;
        return found;
      });
      if (cancelled) statusChanges.inc({ status: 'CANCELLED' });
      return viewOf(order);
    },

    async find(em, identity, id) {
      assertSignedIn(identity);
      const [order] = isUuid(id) ? await findRows(em, OrderEntity, { id }) : [];
      return order && canSeeOrdersOf(identity, order.userId) ? viewOf(order) : null;
    },

    async listFor(em, identity, userId, args) {
      assertCanAccessOrders(identity, userId);
      const limit = pageSize(args.first);
      const after = args.after ? decodeCursor(args.after) : null;
      const rows = await findRows(
        em,
        OrderEntity,
        after ? { $and: [{ userId }, afterCursor(after, 'desc')] } : { userId },
        { orderBy: { createdAt: 'desc', id: 'desc' }, limit: limit + 1 },
      );
      return connectionOf(rows.map(viewOf), limit);
    },

    async settle(em, answers) {
      // Orders found by key (`= any(array(…))`): a few index lookups, where a join with the
      // JSON's rows (which the planner guesses at 100) is answered with a scan of the table.
      const ids = [...new Set(answers.map((answer) => answer.orderId).filter(isUuid))];
      const rows = ids.length
        ? await em.execute<SettledRow[]>(
            prepared(`select id, user_id, status, items, total_cents, currency,
                    extract(epoch from updated_at)::float8 * 1000 as updated_ms
             from ${orders} where id = any(array(select jsonb_array_elements_text(?::jsonb)::uuid))
             order by id for update`),
            [JSON.stringify(ids)],
          )
        : [];
      const current = new Map(
        rows.map((row) => [
          row.id,
          {
            status: row.status,
            updatedAt: new Date(row.updated_ms),
            reason: null as string | null,
            row,
          },
        ]),
      );
      /** The orders the answers moved, written back from `current` at the end. */
      const changed = new Set<string>();
      const confirmed: EventToPublish<typeof orderConfirmedV1>[] = [];
      const rejected: EventToPublish<typeof orderRejectedV1>[] = [];
      for (const { orderId, outcome, traceparent } of answers) {
        const order = current.get(orderId);
        if (!order) {
          logger.warn(
            { orderId, outcome: outcome.kind },
            'orders: stock answer for an unknown order',
          );
          continue;
        }
        const next = decideStockOutcome(order.status, outcome.kind);
        if (!next) {
          logger.info(
            { orderId, status: order.status, outcome: outcome.kind },
            'orders: stock answer for an order that is no longer pending; left as it is',
          );
          continue;
        }
        order.status = next;
        order.updatedAt = nextUpdateTime(outcome.at, order.updatedAt);
        const totals = {
          orderId,
          userId: order.row.user_id,
          totalCents: order.row.total_cents,
          currency: order.row.currency,
        };
        const at = order.updatedAt.toISOString();
        changed.add(orderId);
        if (outcome.kind === 'rejected') {
          order.reason = outcome.message;
          rejected.push({
            subject: orderId,
            traceparent,
            data: { ...totals, reason: outcome.reason, message: outcome.message, rejectedAt: at },
          });
        } else {
          confirmed.push({
            subject: orderId,
            traceparent,
            data: { ...totals, items: order.row.items, confirmedAt: at },
          });
        }
        statusChanges.inc({ status: next });
      }
      if (changed.size === 0) return;
      // The rows are locked (read above): the update waits and goes out with the next
      // statement, the first event's subject lock.
      await em.execute(
        sentWithNext(
          prepared(`with c as (
             select * from jsonb_to_recordset(?::jsonb)
               as c(id uuid, status text, updated_at timestamptz, reason text)
           )
           update ${orders} as o
           set status = c.status, updated_at = c.updated_at,
               rejection_reason = coalesce(c.reason, o.rejection_reason)
           from c
           where o.id = c.id and o.id = any(array(select id from c))`),
        ),
        [
          JSON.stringify(
            [...changed].map((id) => {
              const order = current.get(id)!;
              return {
                id,
                status: order.status,
                updated_at: order.updatedAt.toISOString(),
                reason: order.reason,
              };
            }),
          ),
        ],
      );
      await events.publish(em, orderConfirmedV1, confirmed);
      await events.publish(em, orderRejectedV1, rejected);
    },

    async rememberProduct(em, state) {
      await em.execute(
        `insert into ${products} as p (id, price_cents, currency, on_sale, version)
         values (?, ?, ?, true, ?)
         on conflict (id) do update
           set price_cents = excluded.price_cents, currency = excluded.currency,
               version = excluded.version
           where p.version <= excluded.version and p.on_sale`,
        [state.productId, state.priceCents, state.currency, state.version],
      );
    },

    async forgetProduct(em, productId, version) {
      // 'XXX' is ISO 4217's "no currency": a product never seen on sale has no price here.
      await em.execute(
        `insert into ${products} as p (id, price_cents, currency, on_sale, version)
         values (?, 0, 'XXX', false, ?)
         on conflict (id) do update set on_sale = false, version = excluded.version
           where p.version <= excluded.version`,
        [productId, version],
      );
    },
  };
}

/** A cart line as stored: when it was first added orders the cart. */
interface StoredLine extends CartLine {
  addedAt: Date;
}

/** `lines` with `line`'s product at `line.quantity`: an existing line keeps its place. */
function withLine(lines: readonly StoredLine[], line: StoredLine): StoredLine[] {
  if (lines.some((existing) => existing.productId === line.productId)) {
    return lines.map((existing) =>
      existing.productId === line.productId ? { ...existing, quantity: line.quantity } : existing,
    );
  }
  return [...lines, line].sort(
    (a, b) =>
      a.addedAt.getTime() - b.addedAt.getTime() ||
      (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0),
  );
}

/** What a cart shows, and what placing it would cost: lines no longer on sale count for nothing. */
function cartView(lines: readonly CartLine[]): CartView {
  const priced = lines.filter((line) => line.product?.onSale);
  return {
    items: lines.map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      unitPriceCents: line.product?.priceCents ?? 0,
    })),
    totalCents: priced.reduce((sum, line) => sum + line.quantity * line.product!.priceCents, 0),
    currency: priced[0]?.product!.currency ?? null,
  };
}

/**
 * The column of a cart line's time, as epoch milliseconds, from the cart table aliased `alias`:
 * the driver hands timestamps over as PostgreSQL's text, which only V8's leniency would parse.
 */
const addedMs = (alias: 'c' | 't') =>
  `extract(epoch from ${alias}.added_at)::float8 * 1000 as added_ms`;

/** A cart line with its product as orders knows it (null: unknown to orders). */
interface CartRow extends ProductRow {
  product_id: string;
  quantity: number;
  added_ms: number;
}

function lineOf(row: CartRow): StoredLine {
  return {
    productId: row.product_id,
    quantity: row.quantity,
    // The left join found no product: `id` is null.
    product: row.id ? productOf(row) : null,
    addedAt: new Date(row.added_ms),
  };
}

interface ProductRow {
  id: string;
  price_cents: number;
  currency: string;
  on_sale: boolean;
}

function productOf(row: ProductRow): KnownProduct {
  return {
    id: row.id,
    priceCents: row.price_cents,
    currency: row.currency,
    onSale: row.on_sale,
  };
}

function viewOf(order: EntityRow<Order>): OrderView {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    items: order.items,
    totalCents: order.totalCents,
    currency: order.currency,
    rejectionReason: order.rejectionReason ?? null,
    createdAt: new Date(order.createdAt),
    updatedAt: new Date(order.updatedAt),
  };
}
