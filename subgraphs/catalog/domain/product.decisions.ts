/**
 * Pure decisions of the catalog: what a product may look like, who may change products, and
 * whether an order's items can be reserved — all of them or none. No I/O, so they are
 * tested as plain given/when/then functions.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import {
  ForbiddenError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';

export const NAME_MAX_LENGTH = 200;
export const DESCRIPTION_MAX_LENGTH = 5000;
/** Prices and stock are GraphQL `Int`s: 0 to 2^31 − 1. */
export const INT_MAX = 2_147_483_647;

/** What the catalog answers about a product. */
export interface ProductView {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  stock: number;
  createdAt: Date;
  updatedAt: Date;
  /** Off sale since; null while on sale. Never shown to clients as such. */
  deletedAt: Date | null;
}

export interface ProductFields {
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  stock: number;
}

export type ProductChanges = Partial<{ [K in keyof ProductFields]: ProductFields[K] | null }>;

/** Creating, changing and deleting products is for ADMINs only. */
export function assertAdmin(identity: Identity | null): asserts identity is Identity {
  if (!identity) throw new UnauthenticatedError();
  if (identity.role !== 'ADMIN') throw new ForbiddenError();
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** Checks and normalises every field; BAD_USER_INPUT names the first bad one. */
export function validProduct(input: ProductFields): ProductFields {
  const name = input.name.normalize('NFC').trim();
  if (name.length === 0) throw new ValidationError('name', 'name must not be empty');
  if ([...name].length > NAME_MAX_LENGTH) {
    throw new ValidationError('name', `name must be at most ${NAME_MAX_LENGTH} characters`);
  }
  const description = input.description.normalize('NFC').trim();
  if ([...description].length > DESCRIPTION_MAX_LENGTH) {
    throw new ValidationError(
      'description',
      `description must be at most ${DESCRIPTION_MAX_LENGTH} characters`,
    );
  }
  if (!Number.isInteger(input.priceCents) || input.priceCents < 0 || input.priceCents > INT_MAX) {
    throw new ValidationError('priceCents', 'priceCents must be a whole number, 0 or more');
  }
  const currency = input.currency.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency) || !CURRENCIES.has(currency)) {
    throw new ValidationError('currency', 'currency must be an ISO 4217 code such as EUR');
  }
  if (!Number.isInteger(input.stock) || input.stock < 0 || input.stock > INT_MAX) {
    throw new ValidationError('stock', 'stock must be a whole number, 0 or more');
  }
  return { name, description, priceCents: input.priceCents, currency, stock: input.stock };
}

/**
 * A product with `changes` applied (null or absent fields keep their value), validated, and
 * the names of the fields that really changed.
 */
export function applyChanges(
  current: ProductFields,
  changes: ProductChanges,
): { next: ProductFields; changed: (keyof ProductFields)[] } {
  const next = validProduct({
    name: changes.name ?? current.name,
    description: changes.description ?? current.description,
    priceCents: changes.priceCents ?? current.priceCents,
    currency: changes.currency ?? current.currency,
    stock: changes.stock ?? current.stock,
  });
  const changed = (Object.keys(current) as (keyof ProductFields)[]).filter(
    (key) => next[key] !== current[key],
  );
  return { next, changed };
}

/** One item of an order as catalog is asked to reserve it. */
export interface RequestedItem {
  productId: string;
  quantity: number;
}

/** What catalog knows of a product when deciding a reservation. */
export interface StockLevel {
  productId: string;
  stock: number;
  onSale: boolean;
}

export type ReservationDecision =
  | { kind: 'reserve'; lines: { productId: string; quantity: number; stockAfter: number }[] }
  | {
      kind: 'reject';
      reason: 'OUT_OF_STOCK' | 'UNKNOWN_PRODUCT';
      message: string;
      items: { productId: string; requested: number; available: number | null }[];
    };

/**
 * All or nothing: every product must be on sale with enough stock for the whole order
 * (repeated products are added up), else nothing is reserved. An unknown or deleted product
 * outranks a shortage as the reason. Lines come out in product id order, the order in which
 * rows are locked.
 */
export function decideReservation(
  items: readonly RequestedItem[],
  levels: readonly StockLevel[],
): ReservationDecision {
  const requested = new Map<string, number>();
  for (const item of items) {
    requested.set(item.productId, (requested.get(item.productId) ?? 0) + item.quantity);
  }
  const byId = new Map(levels.map((level) => [level.productId, level]));
  const ids = [...requested.keys()].sort();
  const unknown = ids.filter((id) => !byId.get(id)?.onSale);
  if (unknown.length > 0) {
    return {
      kind: 'reject',
      reason: 'UNKNOWN_PRODUCT',
      message: `not on sale: ${unknown.join(', ')}`,
      items: unknown.map((productId) => ({
        productId,
        requested: requested.get(productId)!,
        available: null,
      })),
    };
  }
  const short = ids.filter((id) => byId.get(id)!.stock < requested.get(id)!);
  if (short.length > 0) {
    return {
      kind: 'reject',
      reason: 'OUT_OF_STOCK',
      message: `not enough stock: ${short
        .map((id) => `${id} (${requested.get(id)} requested, ${byId.get(id)!.stock} available)`)
        .join(', ')}`,
      items: short.map((productId) => ({
        productId,
        requested: requested.get(productId)!,
        available: byId.get(productId)!.stock,
      })),
    };
  }
  return {
    kind: 'reserve',
    lines: ids.map((productId) => ({
      productId,
      quantity: requested.get(productId)!,
      stockAfter: byId.get(productId)!.stock - requested.get(productId)!,
    })),
  };
}

/** What catalog has decided for an order: one `reservations` row. */
export type ReservationStatus = 'RESERVED' | 'RELEASED' | 'REJECTED' | 'CANCELLED';

export interface Reservation {
  status: ReservationStatus;
  /** What was asked (REJECTED) or taken from stock (RESERVED, RELEASED); none for CANCELLED. */
  items: readonly RequestedItem[];
}

/** An order event the saga's stock half acts on. */
export type StockCommand =
  | { kind: 'place'; orderId: string; items: readonly RequestedItem[] }
  | { kind: 'cancel'; orderId: string };

/** What one command came to. */
export type StockOutcome =
  | { kind: 'reserved'; orderId: string; lines: ReservedLine[] }
  | ({ kind: 'rejected'; orderId: string } & Omit<
      Extract<ReservationDecision, { kind: 'reject' }>,
      'kind'
    >)
  | { kind: 'released'; orderId: string; lines: ReservedLine[] }
  /** Cancelled before it was decided: nothing may be reserved for it later. */
  | { kind: 'tombstone'; orderId: string }
  /** Decided before (placed again), or nothing held to give back (cancelled again). */
  | { kind: 'unchanged'; orderId: string; status: ReservationStatus };

export interface ReservedLine {
  productId: string;
  quantity: number;
  /** The product's stock once this line was taken (reserved) or given back (released). */
  stockAfter: number;
}

export interface StockDecisions {
  /** One per command, in command order. */
  outcomes: StockOutcome[];
  /** The reservations the commands created or changed, by order id, as they end. */
  reservations: Map<string, Reservation & { reason: string | null }>;
  /** Net stock change per product the commands moved (never 0). */
  deltas: Map<string, number>;
}

/**
 * Decides a run of order events in order, as if each were applied alone after the ones before
 * it: a placed order is reserved all or nothing against the stock the earlier ones left
 * ({@link decideReservation}), once per order; a cancelled order gets its reserved items back
 * once, and an order cancelled before it was decided leaves a tombstone. `products` holds
 * every product the commands name or hold; `reservations` what was decided before.
 */
export function decideStock(
  commands: readonly StockCommand[],
  products: readonly StockLevel[],
  reservations: ReadonlyMap<string, Reservation>,
): StockDecisions {
  const levels = new Map(products.map((level) => [level.productId, { ...level }]));
  const known = new Map<string, Reservation>(reservations);
  const changed: StockDecisions['reservations'] = new Map();
  const deltas = new Map<string, number>();
  const move = (productId: string, delta: number): number => {
    const level = levels.get(productId);
    if (!level) throw new Error(`stock of product ${productId} was not read`);
    level.stock += delta;
    const net = (deltas.get(productId) ?? 0) + delta;
    if (net === 0) deltas.delete(productId);
    else deltas.set(productId, net);
    return level.stock;
  };
  const settle = (orderId: string, reservation: Reservation, reason: string | null = null) => {
    known.set(orderId, reservation);
    changed.set(orderId, { ...reservation, reason: changed.get(orderId)?.reason ?? reason });
  };

  const outcomes = commands.map((command): StockOutcome => {
    const { orderId } = command;
    const previous = known.get(orderId);
    if (command.kind === 'place') {
      if (previous) return { kind: 'unchanged', orderId, status: previous.status };
      const names = new Set(command.items.map((item) => item.productId));
      const decision = decideReservation(
        command.items,
        [...names].flatMap((id) => levels.get(id) ?? []),
      );
      if (decision.kind === 'reject') {
        settle(orderId, { status: 'REJECTED', items: command.items }, decision.reason);
        return { ...decision, kind: 'rejected', orderId };
      }
      const lines = decision.lines.map(({ productId, quantity }) => ({
        productId,
        quantity,
        stockAfter: move(productId, -quantity),
      }));
      settle(orderId, {
        status: 'RESERVED',
        items: decision.lines.map(({ productId, quantity }) => ({ productId, quantity })),
      });
      return { kind: 'reserved', orderId, lines };
    }
    if (!previous) {
      settle(orderId, { status: 'CANCELLED', items: [] }, 'cancelled before it was decided');
      return { kind: 'tombstone', orderId };
    }
    if (previous.status !== 'RESERVED')
      return { kind: 'unchanged', orderId, status: previous.status };
    const lines = previous.items.map(({ productId, quantity }) => ({
      productId,
      quantity,
      stockAfter: move(productId, quantity),
    }));
    settle(orderId, { status: 'RELEASED', items: previous.items });
    return { kind: 'released', orderId, lines };
  });
  return { outcomes, reservations: changed, deltas };
}
