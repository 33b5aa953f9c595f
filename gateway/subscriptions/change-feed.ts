/**
 * The gateway's live feed of domain changes, for subscriptions and the response cache: one
 * consumer per gateway instance (a group of its own, starting at the newest messages: no
 * replay of history) on `orders.events` and `catalog.events`, fanned out in memory to every
 * listener of an order or a product. Listeners are called synchronously and must not block; a
 * listener that throws is logged and the others still hear the change.
 *
 * Two kinds of product change: `product` is what subscribers asked to hear (a price or stock
 * change), `product-state` is any change to what a product query can return (created,
 * updated in any field, deleted, stock moved), which the response cache invalidates on.
 */
import { randomUUID } from 'node:crypto';
import { TOPICS } from '../../schema/events/index.ts';
import { parseEnvelope } from '../../shared/events/index.ts';
import type { EventTransport, Subscription } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';

/** What changed: an order (with its owner) or a product. */
export type Change =
  | { kind: 'order'; id: string; userId: string; type: string; status: OrderStatus }
  | { kind: 'product' | 'product-state'; id: string; type: string };

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'CANCELLED';

/** The status an order event leaves its order in. */
const STATUS_AFTER: Record<string, OrderStatus> = {
  'order.placed': 'PENDING',
  'order.confirmed': 'CONFIRMED',
  'order.rejected': 'REJECTED',
  'order.cancelled': 'CANCELLED',
};

export type ChangeListener = (change: Change) => void;

export interface ChangeFeed {
  /** Hears changes of one order or product (`id`), or of all of a kind (`id` null). */
  listen(kind: Change['kind'], id: string | null, listener: ChangeListener): () => void;
  /** Listeners currently registered (for metrics and tests). */
  size(): number;
  stop(): Promise<void>;
}

export interface ChangeFeedOptions {
  transport: EventTransport;
  logger: Logger;
  /** Names this instance's consumer group. @default a random UUID */
  instanceId?: string;
}

/** The changes an event stands for (a stock event changes every product it names). */
export function changesOf(type: string, data: unknown): Change[] {
  const payload = data as {
    orderId?: string;
    userId?: string;
    productId?: string;
    items?: { productId: string }[];
    changed?: string[];
  };
  const status = STATUS_AFTER[type];
  if (status && payload.orderId && payload.userId) {
    return [{ kind: 'order', id: payload.orderId, userId: payload.userId, type, status }];
  }
  if ((type === 'product.created' || type === 'product.deleted') && payload.productId) {
    return [{ kind: 'product-state', id: payload.productId, type }];
  }
  if (type === 'product.updated' && payload.productId) {
    // Only a price or stock change is a change subscribers asked to hear about.
    const relevant = payload.changed?.some((field) => field === 'priceCents' || field === 'stock');
    const state: Change = { kind: 'product-state', id: payload.productId, type };
    return relevant ? [{ kind: 'product', id: payload.productId, type }, state] : [state];
  }
  if ((type === 'stock.reserved' || type === 'stock.released') && payload.items) {
    return payload.items.flatMap((item): Change[] => [
      { kind: 'product', id: item.productId, type },
      { kind: 'product-state', id: item.productId, type },
    ]);
  }
  return [];
}

export async function startChangeFeed(options: ChangeFeedOptions): Promise<ChangeFeed> {
  const { transport, logger } = options;
  const listeners = new Map<string, Set<ChangeListener>>();
  const keyOf = (kind: string, id: string | null) => `${kind}:${id ?? '*'}`;
  let count = 0;

  const notify = (change: Change) => {
    for (const key of [keyOf(change.kind, change.id), keyOf(change.kind, null)]) {
      for (const listener of listeners.get(key) ?? []) {
        try {
          listener(change);
        } catch (error) {
          logger.error({ err: error, change }, 'subscription listener failed');
        }
      }
    }
  };

  const subscription: Subscription = await transport.subscribe({
    group: `gateway.subscriptions.${options.instanceId ?? randomUUID()}`,
    topics: [TOPICS.orders, TOPICS.catalog],
    fromBeginning: false,
    async eachBatch(messages) {
      for (const message of messages) {
        try {
          const event = parseEnvelope(message.value);
          for (const change of changesOf(event.type, event.data)) notify(change);
        } catch (error) {
          // Not an envelope: nothing a subscriber can be told about.
          logger.debug({ err: error, topic: message.topic }, 'change feed skipped a message');
        }
      }
      return messages.length;
    },
  });

  return {
    listen(kind, id, listener) {
      const key = keyOf(kind, id);
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(listener);
      count++;
      return () => {
        if (!set.delete(listener)) return;
        count--;
        if (set.size === 0) listeners.delete(key);
      };
    },
    size: () => count,
    stop: () => subscription.stop(),
  };
}
