/**
 * Order rules as pure given/when/then decisions: who may see and change whose orders, what a
 * quantity is, what a cart may hold (1000 of a product, 100 products, one currency, a total
 * that fits a GraphQL Int), what order a cart becomes, and how an order's status may move
 * when it is cancelled or when the catalog answers for its stock.
 */
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';
import { testIdentity, thrownBy } from '../../../shared/testing/index.ts';
import {
  CART_LINES_MAX,
  QUANTITY_MAX,
  TOTAL_MAX_CENTS,
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
import type { CartLine, KnownProduct } from './order.decisions.ts';
import type { OrderStatus } from './order.entity.ts';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const P1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01';
const P2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02';
const P3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a03';
/** The i-th of many distinct product ids. */
const productId = (i: number) => `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`;

const identity = testIdentity;
const user = (userId: string) => identity(userId, 'USER');
const admin = (userId: string) => identity(userId, 'ADMIN');

const product = (id: string, priceCents = 500, currency = 'EUR', onSale = true): KnownProduct => ({
  id,
  priceCents,
  currency,
  onSale,
});

/** A cart line for a product on sale (or the given product, or null for an unknown one). */
const line = (
  id: string,
  quantity: number,
  known: KnownProduct | null = product(id),
): CartLine => ({ productId: id, quantity, product: known });

/** A cart of `count` distinct products, one of each at 5.00 EUR. */
const cartOf = (count: number): CartLine[] =>
  Array.from({ length: count }, (_, i) => line(productId(i), 1));

/** Expects `decide` to throw BAD_USER_INPUT naming `field`; returns the error. */
function expectValidationError(decide: () => unknown, field: string): ValidationError {
  const error = thrownBy(decide);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
  return error as ValidationError;
}

/** Expects `decide` to throw NOT_FOUND; returns the error. */
function expectNotFound(decide: () => unknown): NotFoundError {
  const error = thrownBy(decide);
  expect(error).toBeInstanceOf(NotFoundError);
  expect(error).toMatchObject({ code: 'NOT_FOUND' });
  return error as NotFoundError;
}

describe('assertSignedIn', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    const error = thrownBy(() => assertSignedIn(null));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'You must be signed in' });
  });

  it('lets any signed-in caller through, USER or ADMIN', () => {
    expect(thrownBy(() => assertSignedIn(user(ALICE)))).toBeUndefined();
    expect(thrownBy(() => assertSignedIn(admin(ALICE)))).toBeUndefined();
  });
});

describe('assertCanAccessOrders', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    // given no identity, when accessing Alice's orders, then UNAUTHENTICATED
    const error = thrownBy(() => assertCanAccessOrders(null, ALICE));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it("refuses a user accessing someone else's orders as forbidden", () => {
    // given Bob, when accessing Alice's orders, then FORBIDDEN
    const error = thrownBy(() => assertCanAccessOrders(user(BOB), ALICE));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', message: 'You are not allowed to do this' });
  });

  it('lets a user access their own orders', () => {
    expect(thrownBy(() => assertCanAccessOrders(user(ALICE), ALICE))).toBeUndefined();
  });

  it("lets an ADMIN access anyone's orders", () => {
    expect(thrownBy(() => assertCanAccessOrders(admin(BOB), ALICE))).toBeUndefined();
  });

  it('does not let a USER through because of scopes', () => {
    const scoped = identity(BOB, 'USER', ['orders:read']);
    expect(thrownBy(() => assertCanAccessOrders(scoped, ALICE))).toBeInstanceOf(ForbiddenError);
  });

  it('compares ids exactly (an upper-cased own id is someone else)', () => {
    expect(thrownBy(() => assertCanAccessOrders(user(ALICE), ALICE.toUpperCase()))).toBeInstanceOf(
      ForbiddenError,
    );
  });
});

describe('canSeeOrdersOf (one order: order(id), cancelOrder)', () => {
  it("treats someone else's order as absent, and lets owners and ADMINs see it", () => {
    expect(canSeeOrdersOf(user(BOB), ALICE)).toBe(false);
    expect(canSeeOrdersOf(user(ALICE), ALICE)).toBe(true);
    expect(canSeeOrdersOf(admin(BOB), ALICE)).toBe(true);
    expect(thrownBy(() => canSeeOrdersOf(null, ALICE))).toBeInstanceOf(UnauthenticatedError);
  });
});

describe('validQuantity', () => {
  it.each([[1], [2], [999], [1000]])('accepts %p and returns it', (quantity) => {
    expect(validQuantity(quantity)).toBe(quantity);
  });

  it.each([
    ['zero', 0],
    ['a negative quantity', -1],
    ['one over the limit', 1001],
    ['a fraction', 2.5],
    ['half a unit', 0.5],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
  ])('refuses %s, naming `quantity`', (_what, quantity) => {
    const error = expectValidationError(() => validQuantity(quantity), 'quantity');
    expect(error.message).toBe('quantity must be between 1 and 1000');
  });

  it('has the limits the API promises', () => {
    expect(QUANTITY_MAX).toBe(1000);
    expect(CART_LINES_MAX).toBe(100);
    expect(TOTAL_MAX_CENTS).toBe(2 ** 31 - 1);
  });
});

describe('decideAddToCart', () => {
  it('puts a new product in an empty cart with the quantity asked for', () => {
    expect(decideAddToCart([], product(P1), 3)).toBe(3);
  });

  it('adds to the quantity already in the cart', () => {
    // given 4 of P1 in the cart, when adding 3 more, then the line holds 7
    expect(decideAddToCart([line(P1, 4), line(P2, 1)], product(P1), 3)).toBe(7);
  });

  it('allows a line to reach exactly 1000', () => {
    expect(decideAddToCart([line(P1, 999)], product(P1), 1)).toBe(1000);
    expect(decideAddToCart([], product(P1), 1000)).toBe(1000);
  });

  it.each([
    ['1000 in the cart plus 1', 1000, 1],
    ['600 in the cart plus 401', 600, 401],
  ])('refuses a line over 1000 (%s), naming `quantity`', (_what, inCart, quantity) => {
    const error = expectValidationError(
      () => decideAddToCart([line(P1, inCart)], product(P1), quantity),
      'quantity',
    );
    expect(error.message).toBe(
      `at most 1000 of one product per order (${inCart} already in the cart)`,
    );
  });

  it.each([[0], [-1], [1001], [2.5]])(
    'refuses a quantity of %p before anything else, naming `quantity`',
    (quantity) => {
      // even for a product that does not exist
      expectValidationError(() => decideAddToCart([], null, quantity), 'quantity');
      expectValidationError(() => decideAddToCart([], product(P1), quantity), 'quantity');
    },
  );

  it('refuses an unknown product as NOT_FOUND', () => {
    const error = expectNotFound(() => decideAddToCart([], null, 1));
    expect(error.message).toBe('Product not found');
  });

  it('refuses a product that is no longer on sale as NOT_FOUND', () => {
    const error = expectNotFound(() =>
      decideAddToCart([line(P1, 2)], product(P1, 500, 'EUR', false), 1),
    );
    expect(error.message).toBe('Product not found');
  });

  it('accepts the 100th product', () => {
    expect(decideAddToCart(cartOf(99), product(P1), 2)).toBe(2);
  });

  it('refuses a 101st product, naming `productId`', () => {
    // given 100 distinct products in the cart, when adding another, then refused
    const error = expectValidationError(
      () => decideAddToCart(cartOf(100), product(P1), 1),
      'productId',
    );
    expect(error.message).toBe('a cart holds at most 100 products');
  });

  it('still adds to a product already in a full cart', () => {
    const full = cartOf(100);
    expect(decideAddToCart(full, product(productId(42)), 5)).toBe(6);
  });

  it('refuses a product priced in another currency than the cart, naming `productId`', () => {
    const error = expectValidationError(
      () => decideAddToCart([line(P1, 1)], product(P2, 500, 'USD'), 1),
      'productId',
    );
    expect(error.message).toBe('this product is priced in USD, the cart in EUR');
  });

  it('accepts a product in the same currency as the cart', () => {
    expect(decideAddToCart([line(P1, 1), line(P2, 2)], product(P3, 800, 'EUR'), 1)).toBe(1);
  });

  it('lets the product set the currency when the only other lines are of unknown products', () => {
    expect(decideAddToCart([line(P1, 1, null)], product(P2, 500, 'USD'), 1)).toBe(1);
  });

  it('lets the product set the currency when the other lines are no longer on sale', () => {
    // given a USD product withdrawn while in the cart, when adding a EUR one, then allowed
    const withdrawn = line(P1, 1, product(P1, 500, 'USD', false));
    expect(decideAddToCart([withdrawn], product(P2, 500, 'EUR'), 1)).toBe(1);
  });

  it("compares against the product's own current currency, not its line in the cart", () => {
    // given P1 alone in the cart, when adding P1 now priced in USD, then no mismatch
    expect(decideAddToCart([line(P1, 1)], product(P1, 500, 'USD'), 1)).toBe(2);
  });

  it('accepts a cart total of exactly 2^31 − 1 cents', () => {
    // given P1 at (2^31 − 1) − 1000 and P2 at 500 × 2, then exactly the largest Int
    const cart = [line(P1, 1, product(P1, TOTAL_MAX_CENTS - 1000))];
    expect(decideAddToCart(cart, product(P2, 500), 2)).toBe(2);
    expect(decideAddToCart([], product(P1, TOTAL_MAX_CENTS), 1)).toBe(1);
  });

  it('refuses a cart total over 2^31 − 1 cents, naming `quantity`', () => {
    const cart = [line(P1, 1, product(P1, TOTAL_MAX_CENTS - 1000))];
    const error = expectValidationError(
      () => decideAddToCart(cart, product(P2, 500), 3),
      'quantity',
    );
    expect(error.message).toBe('the cart total would exceed the largest order total');
  });

  it('counts the quantity already in the cart at the current price towards the total', () => {
    // given 2 of P1 at 10 000 000.00, when adding 1 more, then 3 × 10^9 cents is too much
    const expensive = product(P1, 1_000_000_000);
    expectValidationError(
      () => decideAddToCart([line(P1, 2, expensive)], expensive, 1),
      'quantity',
    );
    expect(decideAddToCart([line(P1, 1, expensive)], expensive, 1)).toBe(2);
  });

  it('refuses a single line whose price alone overflows the total', () => {
    expectValidationError(() => decideAddToCart([], product(P1, TOTAL_MAX_CENTS), 2), 'quantity');
  });
});

describe('decideOrder', () => {
  it('refuses an empty cart, naming `cart`', () => {
    const error = expectValidationError(() => decideOrder([]), 'cart');
    expect(error.message).toBe('your cart is empty');
  });

  it("places the cart's lines at today's prices, with their total and currency", () => {
    // given 2 × 5.00 and 3 × 12.50 in EUR
    const placed = decideOrder([line(P2, 2, product(P2, 500)), line(P1, 3, product(P1, 1250))]);
    // then the lines in cart order, 10.00 + 37.50 = 47.50 EUR
    expect(placed).toEqual({
      items: [
        { productId: P2, quantity: 2, unitPriceCents: 500 },
        { productId: P1, quantity: 3, unitPriceCents: 1250 },
      ],
      totalCents: 4750,
      currency: 'EUR',
    });
  });

  it("takes the products' currency", () => {
    expect(decideOrder([line(P1, 1, product(P1, 99, 'JPY'))])).toEqual({
      items: [{ productId: P1, quantity: 1, unitPriceCents: 99 }],
      totalCents: 99,
      currency: 'JPY',
    });
  });

  it('places free products at a total of 0', () => {
    expect(decideOrder([line(P1, 5, product(P1, 0))])).toMatchObject({
      totalCents: 0,
      currency: 'EUR',
    });
  });

  it('refuses a line whose product is unknown as NOT_FOUND, naming that product', () => {
    const error = expectNotFound(() => decideOrder([line(P1, 1), line(P2, 1, null)]));
    expect(error.message).toContain(P2);
    expect(error.message).not.toContain(P1);
  });

  it('refuses a line whose product is no longer on sale as NOT_FOUND, naming that product', () => {
    const error = expectNotFound(() =>
      decideOrder([line(P1, 1), line(P3, 2, product(P3, 500, 'EUR', false))]),
    );
    expect(error.message).toBe(`Product ${P3} not found`);
  });

  it('names the first product that is gone, in cart order', () => {
    const error = expectNotFound(() =>
      decideOrder([line(P1, 1), line(P3, 1, null), line(P2, 1, product(P2, 500, 'EUR', false))]),
    );
    expect(error.message).toContain(P3);
    expect(error.message).not.toContain(P2);
  });

  it('refuses a cart whose products are now in several currencies, naming `cart`', () => {
    const error = expectValidationError(
      () =>
        decideOrder([line(P1, 1, product(P1, 500, 'EUR')), line(P2, 1, product(P2, 500, 'USD'))]),
      'cart',
    );
    expect(error.message).toBe(
      "the cart's products are now priced in several currencies (EUR, USD)",
    );
  });

  it('reports a product gone before a currency mix', () => {
    expectNotFound(() =>
      decideOrder([line(P1, 1, product(P1, 500, 'USD')), line(P2, 1, null), line(P3, 1)]),
    );
  });

  it('accepts a total of exactly 2^31 − 1 cents', () => {
    expect(
      decideOrder([line(P1, 1, product(P1, TOTAL_MAX_CENTS - 1000)), line(P2, 2, product(P2, 500))])
        .totalCents,
    ).toBe(TOTAL_MAX_CENTS);
  });

  it('refuses a total over 2^31 − 1 cents (prices may have risen), naming `cart`', () => {
    const error = expectValidationError(
      () =>
        decideOrder([
          line(P1, 1, product(P1, TOTAL_MAX_CENTS - 1000)),
          line(P2, 3, product(P2, 500)),
        ]),
      'cart',
    );
    expect(error.message).toBe('the order total exceeds the largest order total');
  });
});

describe('decideCancel', () => {
  it.each<[OrderStatus, 'cancel' | 'unchanged']>([
    ['PENDING', 'cancel'],
    ['CONFIRMED', 'cancel'],
    ['CANCELLED', 'unchanged'],
  ])('decides a %s order: %s', (status, expected) => {
    expect(decideCancel(status)).toBe(expected);
  });

  it('refuses to cancel a REJECTED order as a conflict', () => {
    const error = thrownBy(() => decideCancel('REJECTED'));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({
      code: 'CONFLICT',
      message: 'A rejected order cannot be cancelled',
    });
  });
});

describe('decideStockOutcome', () => {
  it('confirms a PENDING order whose stock was reserved', () => {
    expect(decideStockOutcome('PENDING', 'reserved')).toBe('CONFIRMED');
  });

  it('rejects a PENDING order whose stock was refused', () => {
    expect(decideStockOutcome('PENDING', 'rejected')).toBe('REJECTED');
  });

  it.each<[OrderStatus, 'reserved' | 'rejected']>([
    ['CONFIRMED', 'reserved'],
    ['CONFIRMED', 'rejected'],
    ['REJECTED', 'reserved'],
    ['REJECTED', 'rejected'],
    ['CANCELLED', 'reserved'],
    ['CANCELLED', 'rejected'],
  ])('leaves a %s order as it is when told %s', (status, outcome) => {
    expect(decideStockOutcome(status, outcome)).toBeNull();
  });
});

describe('nextUpdateTime', () => {
  const previous = new Date('2026-12-07T10:00:00.000Z');

  it('takes the time of the change when it is later than the last one', () => {
    const later = new Date('2026-12-07T10:00:00.250Z');
    expect(nextUpdateTime(later, previous)).toEqual(later);
  });

  it.each([
    ['the same instant', '2026-12-07T10:00:00.000Z'],
    ['an earlier instant (a clock behind)', '2026-12-07T09:59:58.000Z'],
  ])('moves just past the last change for %s', (_name, at) => {
    expect(nextUpdateTime(new Date(at), previous)).toEqual(new Date('2026-12-07T10:00:00.001Z'));
  });
});
