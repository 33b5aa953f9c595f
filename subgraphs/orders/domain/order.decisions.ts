/**
 * Pure decisions of orders: who may see or change an order, what a cart may hold, what an
 * order placed from a cart is, and how an order's status moves (the orders half of the
 * saga). No I/O, so they are tested as plain given/when/then functions.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';
import type { OrderLine, OrderStatus } from './order.entity.ts';

export const QUANTITY_MAX = 1000;
/** Distinct products in one cart (and so in one order). */
export const CART_LINES_MAX = 100;
/** Totals are GraphQL `Int`s. */
export const TOTAL_MAX_CENTS = 2_147_483_647;

/** What orders answers about an order. */
export interface OrderView {
  id: string;
  userId: string;
  status: OrderStatus;
  items: OrderLine[];
  totalCents: number;
  currency: string;
  rejectionReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Carts and orders are for signed-in callers only. */
export function assertSignedIn(identity: Identity | null): asserts identity is Identity {
  if (!identity) throw new UnauthenticatedError();
}

/**
 * A user sees and cancels their own orders; an ADMIN anyone's. Someone else's order is
 * answered as if it did not exist (null, NOT_FOUND), never FORBIDDEN, so order ids cannot be
 * probed. Anonymous callers are UNAUTHENTICATED.
 */
export function canSeeOrdersOf(identity: Identity | null, ownerId: string): boolean {
  assertSignedIn(identity);
  return identity.userId === ownerId || identity.role === 'ADMIN';
}

/** A user's order list (`User.orders`): theirs or, for an ADMIN, anyone's; FORBIDDEN else. */
export function assertCanAccessOrders(identity: Identity | null, ownerId: string): void {
  if (!canSeeOrdersOf(identity, ownerId)) throw new ForbiddenError();
}

/** A quantity asked for: a whole number from 1 to 1000. */
export function validQuantity(quantity: number): number {
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > QUANTITY_MAX) {
    throw new ValidationError('quantity', `quantity must be between 1 and ${QUANTITY_MAX}`);
  }
  return quantity;
}

/** A product as orders knows it from the catalog's events. */
export interface KnownProduct {
  id: string;
  priceCents: number;
  currency: string;
  onSale: boolean;
}

/** A cart line with the product's current price (null: no longer on sale or unknown). */
export interface CartLine {
  productId: string;
  quantity: number;
  product: KnownProduct | null;
}

/**
 * The quantity of `product` in the cart after adding `quantity`: the product must be on sale,
 * the line stays within 1000, the cart within 100 products, one currency and an `Int` total.
 */
export function decideAddToCart(
  cart: readonly CartLine[],
  product: KnownProduct | null,
  quantity: number,
): number {
  validQuantity(quantity);
  if (!product?.onSale) throw new NotFoundError('Product');
  const existing = cart.find((line) => line.productId === product.id);
  const next = (existing?.quantity ?? 0) + quantity;
  if (next > QUANTITY_MAX) {
    throw new ValidationError(
      'quantity',
      `at most ${QUANTITY_MAX} of one product per order (${existing?.quantity ?? 0} already in the cart)`,
    );
  }
  if (!existing && cart.length >= CART_LINES_MAX) {
    throw new ValidationError('productId', `a cart holds at most ${CART_LINES_MAX} products`);
  }
  // Lines no longer on sale cannot be ordered: they set neither the currency nor the total.
  const others = cart.filter((line) => line.productId !== product.id && line.product?.onSale);
  const cartCurrency = others[0]?.product!.currency;
  if (cartCurrency && cartCurrency !== product.currency) {
    throw new ValidationError(
      'productId',
      `this product is priced in ${product.currency}, the cart in ${cartCurrency}`,
    );
  }
  const total = others.reduce(
    (sum, line) => sum + line.quantity * line.product!.priceCents,
    next * product.priceCents,
  );
  if (total > TOTAL_MAX_CENTS) {
    throw new ValidationError('quantity', 'the cart total would exceed the largest order total');
  }
  return next;
}

/** The order a cart becomes: lines at today's prices, their total and currency. */
export interface PlacedOrder {
  items: OrderLine[];
  totalCents: number;
  currency: string;
}

/**
 * An order from the cart: not empty, every product still on sale (NOT_FOUND names the
 * first that is not), one currency, and a total that fits an `Int`.
 */
export function decideOrder(cart: readonly CartLine[]): PlacedOrder {
  if (cart.length === 0) throw new ValidationError('cart', 'your cart is empty');
  const gone = cart.find((line) => !line.product?.onSale);
  if (gone) {
    throw new NotFoundError(`Product ${gone.productId}`);
  }
  const currencies = new Set(cart.map((line) => line.product!.currency));
  if (currencies.size > 1) {
    throw new ValidationError(
      'cart',
      `the cart's products are now priced in several currencies (${[...currencies].join(', ')})`,
    );
  }
  const items = cart.map((line) => ({
    productId: line.productId,
    quantity: line.quantity,
    unitPriceCents: line.product!.priceCents,
  }));
  const totalCents = items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
  if (totalCents > TOTAL_MAX_CENTS) {
    throw new ValidationError('cart', 'the order total exceeds the largest order total');
  }
  return { items, totalCents, currency: [...currencies][0]! };
}

/**
 * Cancelling: PENDING and CONFIRMED orders are cancelled; a cancelled one stays as it is
 * (cancelling twice changes nothing); a REJECTED one holds nothing to cancel.
 */
export function decideCancel(status: OrderStatus): 'cancel' | 'unchanged' {
  if (status === 'PENDING' || status === 'CONFIRMED') return 'cancel';
  if (status === 'CANCELLED') return 'unchanged';
  throw new ConflictError('A rejected order cannot be cancelled');
}

/**
 * The catalog's answer for an order: only a PENDING order moves (to CONFIRMED or REJECTED);
 * an answer for an order that was cancelled meanwhile, or answered before, changes nothing.
 */
export function decideStockOutcome(
  status: OrderStatus,
  outcome: 'reserved' | 'rejected',
): 'CONFIRMED' | 'REJECTED' | null {
  if (status !== 'PENDING') return null;
  return outcome === 'reserved' ? 'CONFIRMED' : 'REJECTED';
}

/**
 * When a change to an order happens: `candidate` (the clock of whoever decided it), but always
 * after the order's last change, so `updatedAt` — and the time its event carries, which
 * subscribers order updates by — grows with every change even across skewed clocks.
 */
export function nextUpdateTime(candidate: Date, previous: Date): Date {
  return candidate > previous ? candidate : new Date(previous.getTime() + 1);
}
