/**
 * The event catalogue: every cross-service event type with its versioned payload schema,
 * shared by producer and consumer (the contract beside the supergraph). A payload that does
 * not match is rejected with the event id, on publish and on consume. Topics are
 * `<source service>.events`; a breaking payload change is a new version, and consumers
 * handle every version still in flight. Each definition is the handle for its type: producers
 * publish with it (`events.publish(em, orderPlacedV1, …)`) and consumers bind handlers to it
 * (`on(orderPlacedV1, handler)`), so payloads and handlers are typed by its schema.
 */
import { z } from 'zod';
import { createCatalogue, defineEventType, eventsTopic } from '../../shared/events/index.ts';

/** Each publishing service's topic (analytics publishes nothing). */
export const TOPICS = {
  auth: eventsTopic('auth'),
  users: eventsTopic('users'),
  catalog: eventsTopic('catalog'),
  orders: eventsTopic('orders'),
} as const;

/** auth → a new account exists (users creates the profile). */
export const userRegisteredV1 = defineEventType(
  'user.registered',
  1,
  z.object({
    userId: z.uuid(),
    email: z.email(),
    name: z.string().min(1).max(100),
    role: z.enum(['USER', 'ADMIN']),
    registeredAt: z.iso.datetime(),
  }),
);
export type UserRegisteredV1 = z.infer<typeof userRegisteredV1.schema>;

/** auth → someone signed in (analytics counts logins). */
export const userLoggedInV1 = defineEventType(
  'user.logged_in',
  1,
  z.object({ userId: z.uuid(), sessionId: z.uuid(), loggedInAt: z.iso.datetime() }),
);
export type UserLoggedInV1 = z.infer<typeof userLoggedInV1.schema>;

/** auth → a session ended by logout. */
export const userLoggedOutV1 = defineEventType(
  'user.logged_out',
  1,
  z.object({ userId: z.uuid(), sessionId: z.uuid(), loggedOutAt: z.iso.datetime() }),
);
export type UserLoggedOutV1 = z.infer<typeof userLoggedOutV1.schema>;

/** auth → the password changed; every other session of the account was ended. */
export const userPasswordChangedV1 = defineEventType(
  'user.password_changed',
  1,
  z.object({ userId: z.uuid(), changedAt: z.iso.datetime() }),
);
export type UserPasswordChangedV1 = z.infer<typeof userPasswordChangedV1.schema>;

/** users → a profile changed (auth keeps the name it puts in tokens). */
export const userUpdatedV1 = defineEventType(
  'user.updated',
  1,
  z.object({ userId: z.uuid(), name: z.string().min(1).max(100), updatedAt: z.iso.datetime() }),
);
export type UserUpdatedV1 = z.infer<typeof userUpdatedV1.schema>;

/** users → an ADMIN changed someone's role (auth ends their sessions: new tokens, new role). */
export const userRoleChangedV1 = defineEventType(
  'user.role_changed',
  1,
  z.object({
    userId: z.uuid(),
    role: z.enum(['USER', 'ADMIN']),
    previousRole: z.enum(['USER', 'ADMIN']),
    changedAt: z.iso.datetime(),
  }),
);
export type UserRoleChangedV1 = z.infer<typeof userRoleChangedV1.schema>;

/** users → an account was deleted (auth deletes its credentials and ends its sessions). */
export const userDeletedV1 = defineEventType(
  'user.deleted',
  1,
  z.object({ userId: z.uuid(), deletedAt: z.iso.datetime() }),
);
export type UserDeletedV1 = z.infer<typeof userDeletedV1.schema>;

/** Money and quantities as every catalog and orders event carries them. */
const productId = z.uuid();
const orderId = z.uuid();
const cents = z.number().int().min(0).max(2_147_483_647);
const currency = z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as EUR');
const quantity = z.number().int().min(1).max(1000);
const stock = z.number().int().min(0).max(2_147_483_647);

/** A product's whole public state, as catalog holds it after the change. */
const productState = {
  productId,
  name: z.string().min(1).max(200),
  description: z.string().max(5000),
  priceCents: cents,
  currency,
  stock,
};

/** catalog → a product was created (orders keeps the prices it may sell at). */
export const productCreatedV1 = defineEventType(
  'product.created',
  1,
  z.object({ ...productState, createdAt: z.iso.datetime() }),
);
export type ProductCreatedV1 = z.infer<typeof productCreatedV1.schema>;

/** catalog → an ADMIN changed a product; `changed` lists the fields that differ. */
export const productUpdatedV1 = defineEventType(
  'product.updated',
  1,
  z.object({
    ...productState,
    changed: z.array(z.enum(['name', 'description', 'priceCents', 'currency', 'stock'])),
    updatedAt: z.iso.datetime(),
  }),
);
export type ProductUpdatedV1 = z.infer<typeof productUpdatedV1.schema>;

/** catalog → a product was withdrawn (it can no longer be added to carts or ordered). */
export const productDeletedV1 = defineEventType(
  'product.deleted',
  1,
  z.object({ productId, deletedAt: z.iso.datetime() }),
);
export type ProductDeletedV1 = z.infer<typeof productDeletedV1.schema>;

/** A line of a reservation, with the stock left once it was applied. */
const reservedLine = z.object({ productId, quantity, stockAfter: stock });

/** catalog → every item of an order is reserved (subject: the order id). */
export const stockReservedV1 = defineEventType(
  'stock.reserved',
  1,
  z.object({ orderId, items: z.array(reservedLine).min(1), reservedAt: z.iso.datetime() }),
);
export type StockReservedV1 = z.infer<typeof stockReservedV1.schema>;

/**
 * catalog → nothing of an order was reserved: an item is short (`OUT_OF_STOCK`) or names no
 * product on sale (`UNKNOWN_PRODUCT`). `items` are the lines at fault, with what was
 * available (null for a product not on sale).
 */
export const stockRejectedV1 = defineEventType(
  'stock.rejected',
  1,
  z.object({
    orderId,
    reason: z.enum(['OUT_OF_STOCK', 'UNKNOWN_PRODUCT']),
    message: z.string().max(1000),
    items: z.array(z.object({ productId, requested: quantity, available: stock.nullable() })),
    rejectedAt: z.iso.datetime(),
  }),
);
export type StockRejectedV1 = z.infer<typeof stockRejectedV1.schema>;

/** catalog → a cancelled order's reservation went back into stock. */
export const stockReleasedV1 = defineEventType(
  'stock.released',
  1,
  z.object({ orderId, items: z.array(reservedLine).min(1), releasedAt: z.iso.datetime() }),
);
export type StockReleasedV1 = z.infer<typeof stockReleasedV1.schema>;

/** An order line with the price captured when the order was placed. */
const orderLine = z.object({ productId, quantity, unitPriceCents: cents });
const orderTotals = { userId: z.uuid(), totalCents: cents, currency };

/** orders → an order was placed from a cart and waits for its stock (PENDING). */
export const orderPlacedV1 = defineEventType(
  'order.placed',
  1,
  z.object({
    orderId,
    ...orderTotals,
    items: z.array(orderLine).min(1).max(100),
    placedAt: z.iso.datetime(),
  }),
);
export type OrderPlacedV1 = z.infer<typeof orderPlacedV1.schema>;

/** orders → its stock is reserved: the order is CONFIRMED (it counts as revenue). */
export const orderConfirmedV1 = defineEventType(
  'order.confirmed',
  1,
  z.object({
    orderId,
    ...orderTotals,
    items: z.array(orderLine).min(1).max(100),
    confirmedAt: z.iso.datetime(),
  }),
);
export type OrderConfirmedV1 = z.infer<typeof orderConfirmedV1.schema>;

/** orders → catalog could not reserve its stock: the order is REJECTED. */
export const orderRejectedV1 = defineEventType(
  'order.rejected',
  1,
  z.object({
    orderId,
    ...orderTotals,
    reason: z.enum(['OUT_OF_STOCK', 'UNKNOWN_PRODUCT']),
    message: z.string().max(1000),
    rejectedAt: z.iso.datetime(),
  }),
);
export type OrderRejectedV1 = z.infer<typeof orderRejectedV1.schema>;

/** orders → a PENDING or CONFIRMED order was cancelled (catalog releases what it reserved). */
export const orderCancelledV1 = defineEventType(
  'order.cancelled',
  1,
  z.object({
    orderId,
    ...orderTotals,
    previousStatus: z.enum(['PENDING', 'CONFIRMED']),
    items: z.array(orderLine).min(1).max(100),
    cancelledAt: z.iso.datetime(),
  }),
);
export type OrderCancelledV1 = z.infer<typeof orderCancelledV1.schema>;

export const catalogue = createCatalogue([
  userRegisteredV1,
  userLoggedInV1,
  userLoggedOutV1,
  userPasswordChangedV1,
  userUpdatedV1,
  userRoleChangedV1,
  userDeletedV1,
  productCreatedV1,
  productUpdatedV1,
  productDeletedV1,
  stockReservedV1,
  stockRejectedV1,
  stockReleasedV1,
  orderPlacedV1,
  orderConfirmedV1,
  orderRejectedV1,
  orderCancelledV1,
]);
