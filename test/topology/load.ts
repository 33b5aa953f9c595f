/**
 * A mixed load of shoppers through the gateways' front, for tests that kill processes under
 * it: each shopper, in a loop, browses the catalog, puts products in its cart, places the order
 * and looks at it. A request that fails is counted and the shopper goes on, as a client would
 * after an error; an order counts as acknowledged only when `placeOrder` answered with it.
 */
import { randomInt } from 'node:crypto';
import type { Shop } from './shop.ts';

export interface Load {
  /** Orders `placeOrder` answered with, by id, with when the answer came (ms since epoch). */
  readonly acknowledged: ReadonlyMap<string, number>;
  /** Requests answered with an error (or not at all), by operation. */
  readonly failures: ReadonlyMap<string, number>;
  /** Lets each shopper finish the step it is in, then resolves. */
  stop(): Promise<void>;
}

export function startLoad(
  shop: Shop,
  shoppers: readonly string[],
  products: readonly string[],
): Load {
  const acknowledged = new Map<string, number>();
  const failures = new Map<string, number>();
  let stopping = false;

  const attempt = async <T>(operation: string, request: () => Promise<T>) => {
    try {
      return await request();
    } catch {
      failures.set(operation, (failures.get(operation) ?? 0) + 1);
      return undefined;
    }
  };

  const shopper = async (token: string) => {
    while (!stopping) {
      await attempt('products', () =>
        shop.data('{ products(first: 5) { edges { node { id name stock priceCents } } } }'),
      );
      const product = products[randomInt(products.length)]!;
      await attempt('addToCart', () =>
        shop.data(
          'mutation ($productId: ID!, $quantity: Int!) { addToCart(productId: $productId, quantity: $quantity) { totalCents } }',
          { productId: product, quantity: randomInt(1, 4) },
          token,
        ),
      );
      const placed = await attempt('placeOrder', () =>
        shop.data<{ placeOrder: { id: string } }>('mutation { placeOrder { id } }', {}, token),
      );
      if (!placed) continue;
      acknowledged.set(placed.placeOrder.id, Date.now());
      await attempt('order', () =>
        shop.data(
          'query ($id: ID!) { order(id: $id) { id status items { quantity product { name } } } }',
          { id: placed.placeOrder.id },
          token,
        ),
      );
    }
  };

  const running = Promise.all(shoppers.map(shopper));
  return {
    acknowledged,
    failures,
    async stop() {
      stopping = true;
      await running;
    },
  };
}
