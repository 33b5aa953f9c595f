/**
 * Realistic platform traffic for benchmarks: a stream of domain events as the services
 * publish them (auth, users, catalog, orders), valid against the catalogue, in event-time
 * order over a few days. It plays a simple world forward: people register, sign in and out,
 * edit profiles; products are created and repriced; orders are placed, then reserved and
 * confirmed (or rejected), and some are cancelled later. Who acts is skewed (a few users are
 * much busier than most), as in real traffic.
 *
 * Deterministic for a given seed except for the ids (UUIDs), which are random.
 */
import { randomUUID } from 'node:crypto';
import { catalogue } from '../../schema/events/index.ts';
import { createEnvelope, dataSchemaUri, eventsTopic } from '../../shared/events/index.ts';
import type { EventEnvelope } from '../../shared/events/index.ts';

export interface DomainEventsOptions {
  /** Events to generate. */
  readonly count: number;
  /** Event time spans this many days, ending at `end`. @default 3 */
  readonly days?: number;
  /** @default now */
  readonly end?: Date;
  /** Users registered before the window (they sign in and order). @default count / 10 */
  readonly users?: number;
  /** Products on sale before the window. @default 2000 */
  readonly products?: number;
  /** @default 7 */
  readonly seed?: number;
}

export interface DomainEvent {
  /** `<source>.events`, unprefixed. */
  readonly topic: string;
  readonly envelope: EventEnvelope;
}

export interface DomainEvents {
  readonly events: DomainEvent[];
  /** Events per type. */
  readonly types: ReadonlyMap<string, number>;
  readonly users: number;
  readonly products: number;
  readonly from: Date;
  readonly to: Date;
}

/** The topics the platform's services publish to, unprefixed. */
export const DOMAIN_SOURCES = ['auth', 'users', 'catalog', 'orders'] as const;

const DAY_MS = 86_400_000;

/** mulberry32: small, fast, good enough for picking. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Product {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
}

interface Order {
  orderId: string;
  userId: string;
  totalCents: number;
  currency: 'EUR';
  items: { productId: string; quantity: number; unitPriceCents: number }[];
}

/** What happens next, with its relative weight (events per 100 actions, roughly). */
const ACTIONS = [
  ['register', 4],
  ['login', 30],
  ['logout', 12],
  ['passwordChange', 0.5],
  ['profileUpdate', 2],
  ['roleChange', 0.1],
  ['productCreate', 0.6],
  ['productUpdate', 1.5],
  ['placeOrder', 10],
  ['settleOrder', 10],
  ['cancelOrder', 1.5],
] as const;
type Action = (typeof ACTIONS)[number][0];

export function generateDomainEvents(options: DomainEventsOptions): DomainEvents {
  const random = prng(options.seed ?? 7);
  const count = options.count;
  const end = (options.end ?? new Date()).getTime();
  const span = (options.days ?? 3) * DAY_MS;
  const start = end - span;
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  /** Skewed towards the front of the list: the busiest users and best sellers. */
  const pickSkewed = <T>(list: readonly T[]) => list[Math.floor(random() ** 2 * list.length)]!;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

  const users: { id: string; role: 'USER' | 'ADMIN' }[] = Array.from(
    { length: options.users ?? Math.max(100, Math.round(count / 10)) },
    () => ({ id: randomUUID(), role: 'USER' }),
  );
  let productSeq = 0;
  const newProduct = (): Product => ({
    id: randomUUID(),
    name: `Product ${++productSeq}`,
    description: `A fine product, number ${productSeq}, in stock and ready to ship within two working days.`,
    priceCents: int(199, 19_999),
    stock: 1_000_000,
  });
  const products: Product[] = Array.from({ length: options.products ?? 2000 }, newProduct);
  const productsById = new Map(products.map((p) => [p.id, p]));
  const sessions: { userId: string; sessionId: string }[] = [];
  const pending: Order[] = [];
  const confirmed: Order[] = [];

  const events: DomainEvent[] = [];
  const types = new Map<string, number>();
  const totalWeight = ACTIONS.reduce((sum, [, weight]) => sum + weight, 0);
  // Evenly over the window, in order: event i happens at start + i·span/count.
  const nextTime = () => start + (events.length * span) / count;
  const emit = (source: string, type: string, subject: string, data: unknown) => {
    if (events.length >= count) return;
    const time = new Date(nextTime());
    const envelope = createEnvelope(source, { type, subject, data }, dataSchemaUri(type, 1), {
      now: () => time,
    });
    events.push({ topic: eventsTopic(source), envelope });
    types.set(type, (types.get(type) ?? 0) + 1);
  };
  /** The time of the event about to be emitted, as its payload states it. */
  const iso = () => new Date(nextTime()).toISOString();
  const orderLines = () => {
    const lines: Order['items'] = [];
    const size = int(1, 3);
    while (lines.length < size) {
      const product = pickSkewed(products);
      if (lines.some((line) => line.productId === product.id)) continue;
      lines.push({
        productId: product.id,
        quantity: random() < 0.7 ? 1 : int(2, 4),
        unitPriceCents: product.priceCents,
      });
    }
    return lines;
  };
  const reservedLines = (order: Order, sign: 1 | -1) =>
    order.items.map(({ productId, quantity }) => {
      const product = productsById.get(productId)!;
      product.stock -= sign * quantity;
      return { productId, quantity, stockAfter: product.stock };
    });
  const orderData = (order: Order) => ({
    orderId: order.orderId,
    userId: order.userId,
    totalCents: order.totalCents,
    currency: order.currency,
  });

  const act: Record<Action, () => void> = {
    register() {
      const user = { id: randomUUID(), role: 'USER' as const };
      users.push(user);
      const n = users.length;
      emit('auth', 'user.registered', user.id, {
        userId: user.id,
        email: `user${n}@example.com`,
        name: `User ${n}`,
        role: user.role,
        registeredAt: iso(),
      });
    },
    login() {
      const user = pickSkewed(users);
      const sessionId = randomUUID();
      sessions.push({ userId: user.id, sessionId });
      emit('auth', 'user.logged_in', user.id, {
        userId: user.id,
        sessionId,
        loggedInAt: iso(),
      });
    },
    logout() {
      if (sessions.length === 0) return act.login();
      const index = Math.floor(random() * sessions.length);
      const { userId, sessionId } = sessions[index]!;
      sessions[index] = sessions.at(-1)!;
      sessions.pop();
      emit('auth', 'user.logged_out', userId, { userId, sessionId, loggedOutAt: iso() });
    },
    passwordChange() {
      const user = pick(users);
      emit('auth', 'user.password_changed', user.id, { userId: user.id, changedAt: iso() });
    },
    profileUpdate() {
      const user = pick(users);
      emit('users', 'user.updated', user.id, {
        userId: user.id,
        name: `User ${user.id.slice(0, 8)}`,
        updatedAt: iso(),
      });
    },
    roleChange() {
      const user = pick(users);
      const previousRole = user.role;
      user.role = previousRole === 'USER' ? 'ADMIN' : 'USER';
      emit('users', 'user.role_changed', user.id, {
        userId: user.id,
        role: user.role,
        previousRole,
        changedAt: iso(),
      });
    },
    productCreate() {
      const product = newProduct();
      products.push(product);
      productsById.set(product.id, product);
      emit('catalog', 'product.created', product.id, {
        productId: product.id,
        name: product.name,
        description: product.description,
        priceCents: product.priceCents,
        currency: 'EUR',
        stock: product.stock,
        createdAt: iso(),
      });
    },
    productUpdate() {
      const product = pick(products);
      product.priceCents = Math.max(99, Math.round(product.priceCents * (0.9 + random() * 0.2)));
      emit('catalog', 'product.updated', product.id, {
        productId: product.id,
        name: product.name,
        description: product.description,
        priceCents: product.priceCents,
        currency: 'EUR',
        stock: product.stock,
        changed: ['priceCents'],
        updatedAt: iso(),
      });
    },
    placeOrder() {
      const items = orderLines();
      const order: Order = {
        orderId: randomUUID(),
        userId: pickSkewed(users).id,
        currency: 'EUR',
        items,
        totalCents: items.reduce((sum, l) => sum + l.quantity * l.unitPriceCents, 0),
      };
      pending.push(order);
      emit('orders', 'order.placed', order.orderId, {
        ...orderData(order),
        items: order.items,
        placedAt: iso(),
      });
    },
    settleOrder() {
      const order = pending.shift();
      if (!order) return act.placeOrder();
      if (random() < 0.05) {
        const [line] = order.items;
        const message = 'not enough stock';
        emit('catalog', 'stock.rejected', order.orderId, {
          orderId: order.orderId,
          reason: 'OUT_OF_STOCK',
          message,
          items: [{ productId: line!.productId, requested: line!.quantity, available: 0 }],
          rejectedAt: iso(),
        });
        emit('orders', 'order.rejected', order.orderId, {
          ...orderData(order),
          reason: 'OUT_OF_STOCK',
          message,
          rejectedAt: iso(),
        });
        return;
      }
      emit('catalog', 'stock.reserved', order.orderId, {
        orderId: order.orderId,
        items: reservedLines(order, 1),
        reservedAt: iso(),
      });
      emit('orders', 'order.confirmed', order.orderId, {
        ...orderData(order),
        items: order.items,
        confirmedAt: iso(),
      });
      confirmed.push(order);
    },
    cancelOrder() {
      // Mostly confirmed orders (revenue taken back), sometimes one still waiting.
      const fromPending = pending.length > 0 && random() < 0.3;
      const list = fromPending ? pending : confirmed;
      if (list.length === 0) return act.placeOrder();
      const [order] = list.splice(Math.floor(random() * list.length), 1);
      emit('orders', 'order.cancelled', order!.orderId, {
        ...orderData(order!),
        previousStatus: fromPending ? 'PENDING' : 'CONFIRMED',
        items: order!.items,
        cancelledAt: iso(),
      });
      if (!fromPending) {
        emit('catalog', 'stock.released', order!.orderId, {
          orderId: order!.orderId,
          items: reservedLines(order!, -1),
          releasedAt: iso(),
        });
      }
    },
  };

  while (events.length < count) {
    let roll = random() * totalWeight;
    for (const [action, weight] of ACTIONS) {
      roll -= weight;
      if (roll < 0) {
        act[action]();
        break;
      }
    }
  }
  // Every event must be one the consumers accept: a bad generator would measure dead-lettering.
  for (const { envelope } of events) catalogue.parse(envelope);
  return {
    events,
    types,
    users: users.length,
    products: products.length,
    from: new Date(start),
    to: new Date(events.at(-1)?.envelope.time ?? start),
  };
}
