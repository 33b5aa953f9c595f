/**
 * Pure decisions of analytics: what each domain event adds to the rollups, which time
 * ranges and sizes may be asked for, and who may read what. No I/O, so they are tested as
 * plain given/when/then functions.
 *
 * Rollups are sums (and a latest time), so applying events in any grouping or order gives
 * the same totals: the live ingest (batch by batch) and `analytics:rebuild` (page by page)
 * agree by construction.
 */
import type { Identity } from '../../../shared/auth/index.ts';
import {
  ForbiddenError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';

export const RANGE_MAX_DAYS = 366;
export const DEFAULT_RANGE_DAYS = 30;
const DAY_MS = 86_400_000;

/** A stored event as the rollups see it. */
export interface RollupEvent {
  type: string;
  time: Date;
  data: unknown;
}

export interface DailyDelta {
  signups: number;
  logins: number;
  ordersPlaced: number;
  ordersConfirmed: number;
  revenueCents: number;
}

export interface ProductDelta {
  unitsSold: number;
  revenueCents: number;
}

export interface UserDelta {
  lastLoginAt: Date | null;
  loginCount: number;
  orderCount: number;
  totalSpentCents: number;
}

export interface RollupDeltas {
  /** By UTC day, `YYYY-MM-DD`. */
  daily: Map<string, DailyDelta>;
  products: Map<string, ProductDelta>;
  users: Map<string, UserDelta>;
}

interface OrderLines {
  orderId: string;
  userId: string;
  totalCents: number;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
}

/** The UTC day of a time, `YYYY-MM-DD`. */
export function dayOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** What a set of new events adds to the rollups (events of other types add nothing). */
export function rollupDeltas(events: readonly RollupEvent[]): RollupDeltas {
  const deltas: RollupDeltas = { daily: new Map(), products: new Map(), users: new Map() };
  const day = (time: Date) => {
    const key = dayOf(time);
    let delta = deltas.daily.get(key);
    if (!delta) {
      delta = { signups: 0, logins: 0, ordersPlaced: 0, ordersConfirmed: 0, revenueCents: 0 };
      deltas.daily.set(key, delta);
    }
    return delta;
  };
  const user = (id: string) => {
    let delta = deltas.users.get(id);
    if (!delta) {
      delta = { lastLoginAt: null, loginCount: 0, orderCount: 0, totalSpentCents: 0 };
      deltas.users.set(id, delta);
    }
    return delta;
  };
  const sold = (order: OrderLines, sign: 1 | -1) => {
    for (const item of order.items) {
      const delta = deltas.products.get(item.productId) ?? { unitsSold: 0, revenueCents: 0 };
      delta.unitsSold += sign * item.quantity;
      delta.revenueCents += sign * item.quantity * item.unitPriceCents;
      deltas.products.set(item.productId, delta);
    }
    user(order.userId).totalSpentCents += sign * order.totalCents;
  };

  for (const event of events) {
    switch (event.type) {
      case 'user.registered':
        day(event.time).signups += 1;
        break;
      case 'user.logged_in': {
        const { userId } = event.data as { userId: string };
        day(event.time).logins += 1;
        const delta = user(userId);
        delta.loginCount += 1;
        if (!delta.lastLoginAt || delta.lastLoginAt < event.time) delta.lastLoginAt = event.time;
        break;
      }
      case 'order.placed':
        day(event.time).ordersPlaced += 1;
        user((event.data as OrderLines).userId).orderCount += 1;
        break;
      case 'order.confirmed': {
        const order = event.data as OrderLines;
        const delta = day(event.time);
        delta.ordersConfirmed += 1;
        delta.revenueCents += order.totalCents;
        sold(order, 1);
        break;
      }
      case 'order.cancelled': {
        const order = event.data as OrderLines & { previousStatus: string };
        // Only a confirmed order had counted as revenue.
        if (order.previousStatus !== 'CONFIRMED') break;
        day(event.time).revenueCents -= order.totalCents;
        sold(order, -1);
        break;
      }
      default:
        break;
    }
  }
  return deltas;
}

/** The user a stored event is about, when it is about one. */
export function userOf(type: string, data: unknown): string | null {
  if (!type.startsWith('user.') && !type.startsWith('order.')) return null;
  const userId = (data as { userId?: unknown }).userId;
  return typeof userId === 'string' ? userId : null;
}

/**
 * The range of `eventCounts`, [from, to): `to` defaults to `now`, `from` to 30 days before
 * `to`; `from` must not be after `to`, and the range spans at most 366 days.
 */
export function eventRange(
  from: Date | null | undefined,
  to: Date | null | undefined,
  now: Date,
): { from: Date; to: Date } {
  const end = to ?? now;
  const start = from ?? new Date(end.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
  if (start > end) throw new ValidationError('from', '`from` must not be after `to`');
  if (end.getTime() - start.getTime() > RANGE_MAX_DAYS * DAY_MS) {
    throw new ValidationError('to', `the range must span at most ${RANGE_MAX_DAYS} days`);
  }
  return { from: start, to: end };
}

/** `days` of `dailyMetrics`: 1–366. */
export function dayCount(days: number | null | undefined): number {
  const value = days ?? 7;
  if (!Number.isInteger(value) || value < 1 || value > RANGE_MAX_DAYS) {
    throw new ValidationError('days', `days must be between 1 and ${RANGE_MAX_DAYS}`);
  }
  return value;
}

/** `limit` of `topProducts`: 1–100. */
export function productLimit(limit: number | null | undefined): number {
  const value = limit ?? 10;
  if (!Number.isInteger(value) || value < 1 || value > 100) {
    throw new ValidationError('limit', 'limit must be between 1 and 100');
  }
  return value;
}

/** The last `days` UTC days, today first. */
export function lastDays(days: number, now: Date): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: days }, (_, i) => dayOf(new Date(today - i * DAY_MS)));
}

/** Platform-wide figures are for ADMINs. */
export function assertAdmin(identity: Identity | null): asserts identity is Identity {
  if (!identity) throw new UnauthenticatedError();
  if (identity.role !== 'ADMIN') throw new ForbiddenError();
}

/** A user reads their own activity; an ADMIN anyone's. */
export function assertCanReadActivity(identity: Identity | null, userId: string): void {
  if (!identity) throw new UnauthenticatedError();
  if (identity.userId !== userId && identity.role !== 'ADMIN') throw new ForbiddenError();
}
