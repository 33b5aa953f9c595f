/**
 * Analytics rules as pure given/when/then decisions: what each domain event adds to the
 * rollups (and that the sums do not depend on how events are grouped or ordered, which is
 * what lets live ingest and `analytics:rebuild` agree), whose event it is, which ranges and
 * sizes may be asked for, which UTC days a report covers, and who may read what.
 */
import {
  ForbiddenError,
  UnauthenticatedError,
  ValidationError,
} from '../../../shared/errors/index.ts';
import { testIdentity, thrownBy } from '../../../shared/testing/index.ts';
import {
  DEFAULT_RANGE_DAYS,
  RANGE_MAX_DAYS,
  assertAdmin,
  assertCanReadActivity,
  dayCount,
  dayOf,
  eventRange,
  lastDays,
  productLimit,
  rollupDeltas,
  userOf,
} from './analytics.decisions.ts';
import type {
  DailyDelta,
  ProductDelta,
  RollupDeltas,
  RollupEvent,
  UserDelta,
} from './analytics.decisions.ts';

const DAY_MS = 86_400_000;

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const P1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01';
const P2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02';
const P3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a03';

const O1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b01';
const O2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b02';
const O3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b03';

const identity = testIdentity;
const user = (userId: string) => identity(userId, 'USER', ['user']);
const admin = (userId: string) => identity(userId, 'ADMIN', ['user', 'admin']);

// ---------------------------------------------------------------------------------------
// Events as the catalogue shapes them (only what the rollups read matters, but the payloads
// are the real ones so the tests read like the topics).

interface Line {
  productId: string;
  quantity: number;
  unitPriceCents: number;
}
interface Order {
  orderId: string;
  userId: string;
  items: Line[];
}

const at = (iso: string) => new Date(iso);
const totalOf = (order: Order) =>
  order.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
const orderData = (order: Order) => ({
  orderId: order.orderId,
  userId: order.userId,
  totalCents: totalOf(order),
  currency: 'EUR',
  items: order.items,
});

const registered = (time: string, userId: string): RollupEvent => ({
  type: 'user.registered',
  time: at(time),
  data: { userId, email: 'a@example.com', name: 'A', role: 'USER', registeredAt: time },
});
const loggedIn = (time: string, userId: string): RollupEvent => ({
  type: 'user.logged_in',
  time: at(time),
  data: { userId, sessionId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4c00', loggedInAt: time },
});
const placed = (time: string, order: Order): RollupEvent => ({
  type: 'order.placed',
  time: at(time),
  data: { ...orderData(order), placedAt: time },
});
const confirmed = (time: string, order: Order): RollupEvent => ({
  type: 'order.confirmed',
  time: at(time),
  data: { ...orderData(order), confirmedAt: time },
});
const rejected = (time: string, order: Order): RollupEvent => ({
  type: 'order.rejected',
  time: at(time),
  data: {
    orderId: order.orderId,
    userId: order.userId,
    totalCents: totalOf(order),
    currency: 'EUR',
    reason: 'OUT_OF_STOCK',
    message: 'short',
    rejectedAt: time,
  },
});
const cancelled = (
  time: string,
  order: Order,
  previousStatus: 'PENDING' | 'CONFIRMED',
): RollupEvent => ({
  type: 'order.cancelled',
  time: at(time),
  data: { ...orderData(order), previousStatus, cancelledAt: time },
});

/** Alice: 2 × P1 at 12.50 and 1 × P2 at 3.00 = 28.00. */
const aliceOrder: Order = {
  orderId: O1,
  userId: ALICE,
  items: [
    { productId: P1, quantity: 2, unitPriceCents: 1250 },
    { productId: P2, quantity: 1, unitPriceCents: 300 },
  ],
};
/** Bob: 5 × P1 at 12.00 (an older price) = 60.00. */
const bobOrder: Order = {
  orderId: O2,
  userId: BOB,
  items: [{ productId: P1, quantity: 5, unitPriceCents: 1200 }],
};
/** Bob again: 1 × P3 at 99.99. */
const bobSecondOrder: Order = {
  orderId: O3,
  userId: BOB,
  items: [{ productId: P3, quantity: 1, unitPriceCents: 9999 }],
};

const noDaily = (): DailyDelta => ({
  signups: 0,
  logins: 0,
  ordersPlaced: 0,
  ordersConfirmed: 0,
  revenueCents: 0,
});
const noUser = (): UserDelta => ({
  lastLoginAt: null,
  loginCount: 0,
  orderCount: 0,
  totalSpentCents: 0,
});

/** Deltas as plain objects, keys sorted: easy to compare and to read in a failure. */
function plain(deltas: RollupDeltas) {
  const sorted = <T>(map: Map<string, T>) =>
    Object.fromEntries([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    daily: sorted(deltas.daily),
    products: sorted(deltas.products),
    users: sorted(deltas.users),
  };
}

/** Adds deltas together the way the rollup tables do (sums, and the latest login). */
function merge(parts: readonly RollupDeltas[]): RollupDeltas {
  const total: RollupDeltas = { daily: new Map(), products: new Map(), users: new Map() };
  for (const part of parts) {
    for (const [day, delta] of part.daily) {
      const sum = total.daily.get(day) ?? noDaily();
      sum.signups += delta.signups;
      sum.logins += delta.logins;
      sum.ordersPlaced += delta.ordersPlaced;
      sum.ordersConfirmed += delta.ordersConfirmed;
      sum.revenueCents += delta.revenueCents;
      total.daily.set(day, sum);
    }
    for (const [productId, delta] of part.products) {
      const sum: ProductDelta = total.products.get(productId) ?? { unitsSold: 0, revenueCents: 0 };
      sum.unitsSold += delta.unitsSold;
      sum.revenueCents += delta.revenueCents;
      total.products.set(productId, sum);
    }
    for (const [userId, delta] of part.users) {
      const sum = total.users.get(userId) ?? noUser();
      sum.loginCount += delta.loginCount;
      sum.orderCount += delta.orderCount;
      sum.totalSpentCents += delta.totalSpentCents;
      // Like SQL's greatest(): nulls are ignored.
      if (delta.lastLoginAt && (!sum.lastLoginAt || delta.lastLoginAt > sum.lastLoginAt)) {
        sum.lastLoginAt = delta.lastLoginAt;
      }
      total.users.set(userId, sum);
    }
  }
  return total;
}

/** Splits a list into consecutive chunks of the given sizes (the rest in the last one). */
function chunks<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const result: T[][] = [];
  let start = 0;
  for (const size of sizes) {
    result.push(items.slice(start, start + size));
    start += size;
  }
  result.push(items.slice(start));
  return result;
}

/** A deterministic shuffle (seeded LCG + Fisher–Yates), so a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Expects `decide` to throw BAD_USER_INPUT naming `field`; returns the error. */
function expectValidationError(decide: () => unknown, field: string): ValidationError {
  const error = thrownBy(decide);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
  return error as ValidationError;
}

describe('rollupDeltas: what each event adds', () => {
  it('adds nothing for no events', () => {
    expect(plain(rollupDeltas([]))).toEqual({ daily: {}, products: {}, users: {} });
  });

  it('counts a user.registered as a signup on its UTC day, and nothing for the user', () => {
    // given a registration, when rolled up, then one signup that day and no user activity
    const deltas = rollupDeltas([registered('2026-11-22T10:00:00.000Z', ALICE)]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-22': { ...noDaily(), signups: 1 } },
      products: {},
      users: {},
    });
  });

  it('counts a user.logged_in as a login of the day and of the user, with its time', () => {
    const deltas = rollupDeltas([loggedIn('2026-11-22T10:00:00.000Z', ALICE)]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-22': { ...noDaily(), logins: 1 } },
      products: {},
      users: {
        [ALICE]: { ...noUser(), loginCount: 1, lastLoginAt: at('2026-11-22T10:00:00.000Z') },
      },
    });
  });

  it('counts an order.placed as placed (day) and as an order of its user, without revenue', () => {
    const deltas = rollupDeltas([placed('2026-11-22T10:00:00.000Z', aliceOrder)]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-22': { ...noDaily(), ordersPlaced: 1 } },
      products: {},
      users: { [ALICE]: { ...noUser(), orderCount: 1 } },
    });
  });

  it('counts an order.confirmed as confirmed revenue of the day, of each product and of the user', () => {
    const deltas = rollupDeltas([confirmed('2026-11-22T10:00:00.000Z', aliceOrder)]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-22': { ...noDaily(), ordersConfirmed: 1, revenueCents: 2800 } },
      products: {
        [P1]: { unitsSold: 2, revenueCents: 2500 },
        [P2]: { unitsSold: 1, revenueCents: 300 },
      },
      // Confirming is not placing again: orderCount stays with order.placed.
      users: { [ALICE]: { ...noUser(), totalSpentCents: 2800 } },
    });
  });

  it('values each line at the price captured in the order, summing over orders per product', () => {
    // given P1 sold at 12.50 to Alice and at 12.00 to Bob
    const deltas = rollupDeltas([
      confirmed('2026-11-22T10:00:00.000Z', aliceOrder),
      confirmed('2026-11-22T11:00:00.000Z', bobOrder),
    ]);

    expect(deltas.products.get(P1)).toEqual({ unitsSold: 7, revenueCents: 2 * 1250 + 5 * 1200 });
    expect(deltas.daily.get('2026-11-22')).toEqual({
      ...noDaily(),
      ordersConfirmed: 2,
      revenueCents: 2800 + 6000,
    });
    expect(deltas.users.get(BOB)).toEqual({ ...noUser(), totalSpentCents: 6000 });
  });

  it('adds nothing for an order.rejected (it was counted when placed)', () => {
    expect(plain(rollupDeltas([rejected('2026-11-22T10:00:00.000Z', aliceOrder)]))).toEqual({
      daily: {},
      products: {},
      users: {},
    });
  });

  it('subtracts a cancelled CONFIRMED order on the day of the cancellation', () => {
    // given an order confirmed on the 22nd and cancelled on the 23rd
    const deltas = rollupDeltas([
      confirmed('2026-11-22T10:00:00.000Z', aliceOrder),
      cancelled('2026-11-23T09:00:00.000Z', aliceOrder, 'CONFIRMED'),
    ]);

    expect(plain(deltas)).toEqual({
      daily: {
        '2026-11-22': { ...noDaily(), ordersConfirmed: 1, revenueCents: 2800 },
        // The confirmation stays counted on its day; the revenue goes on the cancellation's.
        '2026-11-23': { ...noDaily(), revenueCents: -2800 },
      },
      products: {
        [P1]: { unitsSold: 0, revenueCents: 0 },
        [P2]: { unitsSold: 0, revenueCents: 0 },
      },
      users: { [ALICE]: { ...noUser(), totalSpentCents: 0 } },
    });
  });

  it('subtracts a cancelled CONFIRMED order alone (its confirmation in another batch)', () => {
    const deltas = rollupDeltas([cancelled('2026-11-23T09:00:00.000Z', aliceOrder, 'CONFIRMED')]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-23': { ...noDaily(), revenueCents: -2800 } },
      products: {
        [P1]: { unitsSold: -2, revenueCents: -2500 },
        [P2]: { unitsSold: -1, revenueCents: -300 },
      },
      users: { [ALICE]: { ...noUser(), totalSpentCents: -2800 } },
    });
  });

  it('adds nothing for a cancelled PENDING order (it never counted as revenue)', () => {
    const deltas = rollupDeltas([cancelled('2026-11-23T09:00:00.000Z', aliceOrder, 'PENDING')]);

    expect(plain(deltas)).toEqual({ daily: {}, products: {}, users: {} });
  });

  it('takes nothing back from a placed order cancelled while PENDING', () => {
    // given an order placed, then cancelled before catalog answered
    const deltas = rollupDeltas([
      placed('2026-11-22T10:00:00.000Z', aliceOrder),
      cancelled('2026-11-22T10:00:01.000Z', aliceOrder, 'PENDING'),
    ]);

    expect(plain(deltas)).toEqual({
      daily: { '2026-11-22': { ...noDaily(), ordersPlaced: 1 } },
      products: {},
      users: { [ALICE]: { ...noUser(), orderCount: 1 } },
    });
  });

  it.each([
    ['user.logged_out', { userId: ALICE, sessionId: O1, loggedOutAt: '2026-11-22T10:00:00Z' }],
    ['user.password_changed', { userId: ALICE, changedAt: '2026-11-22T10:00:00Z' }],
    ['user.updated', { userId: ALICE, name: 'Alice', updatedAt: '2026-11-22T10:00:00Z' }],
    ['user.deleted', { userId: ALICE, deletedAt: '2026-11-22T10:00:00Z' }],
    ['product.created', { productId: P1, name: 'Widget', priceCents: 100, stock: 5 }],
    ['stock.reserved', { orderId: O1, items: [{ productId: P1, quantity: 1, stockAfter: 4 }] }],
    ['stock.released', { orderId: O1, items: [{ productId: P1, quantity: 1, stockAfter: 5 }] }],
    ['user.teleported', { userId: ALICE }],
    ['order.refunded', { ...orderData(aliceOrder) }],
    ['', {}],
  ])('adds nothing for a %p event', (type, data) => {
    const deltas = rollupDeltas([{ type, time: at('2026-11-22T10:00:00.000Z'), data }]);

    expect(plain(deltas)).toEqual({ daily: {}, products: {}, users: {} });
  });

  it('puts each event on its UTC day, whatever offset its time was written with', () => {
    const deltas = rollupDeltas([
      registered('2026-11-22T23:59:59.999Z', ALICE),
      registered('2026-11-23T00:00:00.000Z', BOB),
      // 00:30 in UTC+2 is still the 22nd in UTC.
      registered('2026-11-23T00:30:00.000+02:00', ALICE),
    ]);

    expect(plain(deltas).daily).toEqual({
      '2026-11-22': { ...noDaily(), signups: 2 },
      '2026-11-23': { ...noDaily(), signups: 1 },
    });
  });
});

describe('rollupDeltas: the latest login', () => {
  const first = '2026-11-22T08:00:00.000Z';
  const second = '2026-11-22T12:00:00.000Z';
  const third = '2026-11-24T07:30:00.000Z';

  it.each([
    ['in order', [first, second, third]],
    ['reversed', [third, second, first]],
    ['latest in the middle', [second, third, first]],
  ])('wins whatever the order the logins arrive in (%s)', (_what, times) => {
    const deltas = rollupDeltas(times.map((time) => loggedIn(time, ALICE)));

    expect(deltas.users.get(ALICE)).toEqual({
      ...noUser(),
      loginCount: 3,
      lastLoginAt: at(third),
    });
  });

  it('is per user', () => {
    const deltas = rollupDeltas([
      loggedIn(third, BOB),
      loggedIn(first, ALICE),
      loggedIn(second, ALICE),
    ]);

    expect(deltas.users.get(ALICE)?.lastLoginAt).toEqual(at(second));
    expect(deltas.users.get(BOB)?.lastLoginAt).toEqual(at(third));
  });

  it('stays null for a user who only ordered', () => {
    expect(rollupDeltas([placed(first, aliceOrder)]).users.get(ALICE)?.lastLoginAt).toBeNull();
  });
});

describe('rollupDeltas: grouping and order do not change the totals', () => {
  /** Three days of a small shop: sign-ups, logins, orders that go every way. */
  const history: RollupEvent[] = [
    registered('2026-11-21T22:00:00.000Z', ALICE),
    registered('2026-11-21T23:30:00.000Z', BOB),
    loggedIn('2026-11-21T23:59:59.999Z', ALICE),
    loggedIn('2026-11-22T00:00:00.000Z', BOB),
    placed('2026-11-22T08:00:00.000Z', aliceOrder),
    placed('2026-11-22T08:05:00.000Z', bobOrder),
    confirmed('2026-11-22T08:00:01.000Z', aliceOrder),
    rejected('2026-11-22T08:05:01.000Z', bobOrder),
    loggedIn('2026-11-22T18:00:00.000Z', ALICE),
    placed('2026-11-22T18:01:00.000Z', bobSecondOrder),
    confirmed('2026-11-22T18:01:01.000Z', bobSecondOrder),
    cancelled('2026-11-23T09:00:00.000Z', aliceOrder, 'CONFIRMED'),
    { type: 'product.updated', time: at('2026-11-23T09:30:00.000Z'), data: { productId: P1 } },
    loggedIn('2026-11-23T10:00:00.000Z', BOB),
    loggedIn('2026-11-22T06:00:00.000Z', BOB),
  ];
  const whole = plain(rollupDeltas(history));

  it('sums the history as expected in one call', () => {
    expect(whole).toEqual({
      daily: {
        '2026-11-21': { ...noDaily(), signups: 2, logins: 1 },
        '2026-11-22': {
          signups: 0,
          logins: 3,
          ordersPlaced: 3,
          ordersConfirmed: 2,
          revenueCents: 2800 + 9999,
        },
        '2026-11-23': { ...noDaily(), logins: 1, revenueCents: -2800 },
      },
      products: {
        [P1]: { unitsSold: 0, revenueCents: 0 },
        [P2]: { unitsSold: 0, revenueCents: 0 },
        [P3]: { unitsSold: 1, revenueCents: 9999 },
      },
      users: {
        [ALICE]: {
          lastLoginAt: at('2026-11-22T18:00:00.000Z'),
          loginCount: 2,
          orderCount: 1,
          totalSpentCents: 0,
        },
        [BOB]: {
          lastLoginAt: at('2026-11-23T10:00:00.000Z'),
          loginCount: 3,
          orderCount: 2,
          totalSpentCents: 9999,
        },
      },
    });
  });

  it.each([
    ['one event per call', Array.from({ length: history.length - 1 }, () => 1)],
    ['chunks of 2', [2, 2, 2, 2, 2, 2, 2]],
    ['uneven chunks', [3, 1, 5, 2]],
    ['an empty chunk in between', [4, 0, 7]],
  ])('gives the same totals applied in %s', (_what, sizes) => {
    const parts = chunks(history, sizes).map((chunk) => rollupDeltas(chunk));

    expect(plain(merge(parts))).toEqual(whole);
  });

  it.each([[1], [2], [3], [42], [2026]])(
    'gives the same totals shuffled (seed %p), in one call and in chunks',
    (seed) => {
      const events = shuffled(history, seed);

      expect(plain(rollupDeltas(events))).toEqual(whole);
      expect(plain(merge(chunks(events, [4, 3, 6]).map((chunk) => rollupDeltas(chunk))))).toEqual(
        whole,
      );
    },
  );

  it('does not change the events it is given', () => {
    const before = structuredClone(history);
    rollupDeltas(history);
    expect(history).toEqual(before);
  });
});

describe('userOf', () => {
  it.each([
    ['user.registered', { userId: ALICE, email: 'a@example.com' }],
    ['user.logged_in', { userId: ALICE, sessionId: O1 }],
    ['user.deleted', { userId: ALICE }],
    ['order.placed', orderData(aliceOrder)],
    ['order.cancelled', { ...orderData(aliceOrder), previousStatus: 'CONFIRMED' }],
  ])('is the userId of a %s event', (type, data) => {
    expect(userOf(type, data)).toBe(ALICE);
  });

  it.each([
    ['product.created', { productId: P1, userId: ALICE }],
    ['stock.reserved', { orderId: O1, userId: ALICE }],
    ['analytics.something', { userId: ALICE }],
  ])('is null for a %s event, even one that carries a userId', (type, data) => {
    expect(userOf(type, data)).toBeNull();
  });

  it.each([
    ['no userId', {}],
    ['a numeric userId', { userId: 42 }],
    ['a null userId', { userId: null }],
  ])('is null for a user event with %s', (_what, data) => {
    expect(userOf('user.updated', data)).toBeNull();
  });
});

describe('eventRange', () => {
  const now = at('2026-11-22T14:00:00.000Z');

  it('defaults to the 30 days before now', () => {
    expect(DEFAULT_RANGE_DAYS).toBe(30);
    expect(eventRange(null, null, now)).toEqual({
      from: at('2026-10-23T14:00:00.000Z'),
      to: now,
    });
    expect(eventRange(undefined, undefined, now)).toEqual(eventRange(null, null, now));
  });

  it('counts the default `from` back from the `to` given, not from now', () => {
    const to = at('2026-06-01T00:00:00.000Z');

    expect(eventRange(null, to, now)).toEqual({ from: at('2026-05-02T00:00:00.000Z'), to });
  });

  it('defaults `to` to now when only `from` is given', () => {
    const from = at('2026-11-01T00:00:00.000Z');

    expect(eventRange(from, null, now)).toEqual({ from, to: now });
  });

  it('returns the dates given', () => {
    const from = at('2026-11-01T00:00:00.000Z');
    const to = at('2026-11-15T00:00:00.000Z');

    expect(eventRange(from, to, now)).toEqual({ from, to });
  });

  it('accepts an empty range (from = to)', () => {
    expect(eventRange(now, now, now)).toEqual({ from: now, to: now });
  });

  it('refuses `from` after `to`, naming `from`', () => {
    const error = expectValidationError(
      () => eventRange(at('2026-11-22T14:00:00.001Z'), now, now),
      'from',
    );
    expect(error.message).toBe('`from` must not be after `to`');
  });

  it('refuses a `from` in the future when `to` defaults to now, naming `from`', () => {
    expectValidationError(() => eventRange(at('2026-11-23T00:00:00.000Z'), null, now), 'from');
  });

  it('accepts exactly 366 days', () => {
    expect(RANGE_MAX_DAYS).toBe(366);
    const from = new Date(now.getTime() - 366 * DAY_MS);

    expect(eventRange(from, now, now)).toEqual({ from, to: now });
  });

  it('refuses 366 days and a millisecond, naming `to`', () => {
    const error = expectValidationError(
      () => eventRange(new Date(now.getTime() - 366 * DAY_MS - 1), now, now),
      'to',
    );
    expect(error.message).toBe('the range must span at most 366 days');
  });

  it('refuses a long range given by `from` alone, naming `to`', () => {
    expectValidationError(() => eventRange(at('2025-01-01T00:00:00.000Z'), null, now), 'to');
  });

  it('names `from` when `from` is after `to`, however far', () => {
    expectValidationError(() => eventRange(now, at('2020-01-01T00:00:00.000Z'), now), 'from');
  });
});

describe('dayCount', () => {
  it('defaults to 7', () => {
    expect(dayCount(null)).toBe(7);
    expect(dayCount(undefined)).toBe(7);
  });

  it.each([[1], [7], [30], [365], [366]])('accepts %p', (days) => {
    expect(dayCount(days)).toBe(days);
  });

  it.each([
    ['zero', 0],
    ['a negative count', -1],
    ['367', 367],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
  ])('refuses %s, naming `days`', (_what, days) => {
    const error = expectValidationError(() => dayCount(days), 'days');
    expect(error.message).toBe('days must be between 1 and 366');
  });
});

describe('productLimit', () => {
  it('defaults to 10', () => {
    expect(productLimit(null)).toBe(10);
    expect(productLimit(undefined)).toBe(10);
  });

  it.each([[1], [10], [99], [100]])('accepts %p', (limit) => {
    expect(productLimit(limit)).toBe(limit);
  });

  it.each([
    ['zero', 0],
    ['a negative limit', -5],
    ['101', 101],
    ['a fraction', 2.5],
    ['NaN', Number.NaN],
  ])('refuses %s, naming `limit`', (_what, limit) => {
    const error = expectValidationError(() => productLimit(limit), 'limit');
    expect(error.message).toBe('limit must be between 1 and 100');
  });
});

describe('dayOf and lastDays', () => {
  it('dayOf is the UTC date of a time', () => {
    expect(dayOf(at('2026-11-22T00:00:00.000Z'))).toBe('2026-11-22');
    expect(dayOf(at('2026-11-22T23:59:59.999Z'))).toBe('2026-11-22');
    expect(dayOf(at('2026-11-23T01:00:00.000+02:00'))).toBe('2026-11-22');
  });

  it('is today alone for one day', () => {
    expect(lastDays(1, at('2026-11-22T14:00:00.000Z'))).toEqual(['2026-11-22']);
  });

  it('lists the UTC days newest first, today included', () => {
    expect(lastDays(3, at('2026-11-22T23:59:59.999Z'))).toEqual([
      '2026-11-22',
      '2026-11-21',
      '2026-11-20',
    ]);
  });

  it('uses the UTC day, whatever the offset of now', () => {
    // 01:00 at UTC+2 on the 23rd is 23:00 UTC on the 22nd.
    expect(lastDays(2, at('2026-11-23T01:00:00.000+02:00'))).toEqual(['2026-11-22', '2026-11-21']);
  });

  it('crosses a month boundary', () => {
    expect(lastDays(3, at('2026-03-01T00:00:00.000Z'))).toEqual([
      '2026-03-01',
      '2026-02-28',
      '2026-02-27',
    ]);
  });

  it('crosses a leap day', () => {
    expect(lastDays(2, at('2028-03-01T12:00:00.000Z'))).toEqual(['2028-03-01', '2028-02-29']);
  });

  it('crosses a year boundary', () => {
    expect(lastDays(4, at('2027-01-02T00:30:00.000Z'))).toEqual([
      '2027-01-02',
      '2027-01-01',
      '2026-12-31',
      '2026-12-30',
    ]);
  });

  it('gives 366 distinct consecutive days for the longest report', () => {
    const days = lastDays(366, at('2026-11-22T14:00:00.000Z'));

    expect(days).toHaveLength(366);
    expect(new Set(days).size).toBe(366);
    expect(days[0]).toBe('2026-11-22');
    expect(days.at(-1)).toBe('2025-11-22');
  });
});

describe('assertAdmin', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    const error = thrownBy(() => assertAdmin(null));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'You must be signed in' });
  });

  it('refuses a USER as forbidden', () => {
    const error = thrownBy(() => assertAdmin(user(ALICE)));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', message: 'You are not allowed to do this' });
  });

  it('goes by the role, not the scopes a USER token claims', () => {
    expect(thrownBy(() => assertAdmin(identity(ALICE, 'USER', ['user', 'admin'])))).toBeInstanceOf(
      ForbiddenError,
    );
  });

  it('lets an ADMIN through', () => {
    expect(thrownBy(() => assertAdmin(admin(ALICE)))).toBeUndefined();
  });
});

describe('assertCanReadActivity', () => {
  it('refuses an anonymous caller as unauthenticated', () => {
    const error = thrownBy(() => assertCanReadActivity(null, ALICE));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('lets a user read their own activity', () => {
    expect(thrownBy(() => assertCanReadActivity(user(ALICE), ALICE))).toBeUndefined();
  });

  it("refuses a user reading someone else's activity as forbidden", () => {
    const error = thrownBy(() => assertCanReadActivity(user(BOB), ALICE));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'FORBIDDEN' });
  });

  it("lets an ADMIN read anyone's activity, and their own", () => {
    expect(thrownBy(() => assertCanReadActivity(admin(BOB), ALICE))).toBeUndefined();
    expect(thrownBy(() => assertCanReadActivity(admin(BOB), BOB))).toBeUndefined();
  });

  it('compares ids exactly (an upper-cased own id is someone else)', () => {
    expect(thrownBy(() => assertCanReadActivity(user(ALICE), ALICE.toUpperCase()))).toBeInstanceOf(
      ForbiddenError,
    );
  });
});
