/**
 * What the topology tests do as a shop's users and its admin would, through the gateways'
 * front: register, put products on sale, fill carts, place orders, follow them. Reads of the
 * database are the tests' own observations of the truth (what orders and catalog hold).
 */
import pg from 'pg';
import { postGraphQL, waitFor } from '../../shared/testing/index.ts';

const PASSWORD = 'correct horse battery staple';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'CANCELLED';

export interface Shop {
  /** A GraphQL request that must succeed: its data, else an error naming what came back. */
  data<TData>(query: string, variables?: Record<string, unknown>, token?: string): Promise<TData>;
  /** Registers an account; its id and access token. */
  register(email: string): Promise<{ id: string; token: string }>;
  /** Puts a product on sale as `admin` and waits until orders can sell it (it learns by event). */
  createProduct(
    admin: string,
    input: { name: string; priceCents: number; stock: number },
  ): Promise<string>;
  /** Puts `quantity` of a product in `token`'s cart and places the order: its id. */
  placeOrder(token: string, productId: string, quantity: number): Promise<string>;
  /** Each order's status, from the orders table. */
  statuses(ids: readonly string[]): Promise<Map<string, OrderStatus>>;
  /** The database of the topology, for the tests' own observations. */
  readonly db: pg.Pool;
  close(): Promise<void>;
}

export function shopAt(url: string, databaseUrl: string): Shop {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const gql = <TData>(query: string, variables?: Record<string, unknown>, token?: string) =>
    postGraphQL<TData>(
      `${url}/graphql`,
      query,
      variables,
      token ? { authorization: `Bearer ${token}` } : {},
    );
  const data = async <TData>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): Promise<TData> => {
    const response = await gql<TData>(query, variables, token);
    if (response.status !== 200 || response.body.errors || !response.body.data) {
      throw new Error(
        `${query.replace(/\s+/g, ' ').slice(0, 80)} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`,
      );
    }
    return response.body.data;
  };
  return {
    data,
    db,
    async register(email) {
      const { register } = await data<{
        register: { accessToken: string; user: { id: string } };
      }>(
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
        { input: { email, password: PASSWORD, name: email.split('@')[0] } },
      );
      return { id: register.user.id, token: register.accessToken };
    },
    async createProduct(admin, input) {
      const { createProduct } = await data<{ createProduct: { id: string } }>(
        'mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }',
        { input: { currency: 'EUR', ...input } },
        admin,
      );
      await waitFor(
        async () =>
          (
            await db.query('select 1 from orders.products where id = $1 and on_sale', [
              createProduct.id,
            ])
          ).rowCount === 1,
        {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: `orders to learn of product ${createProduct.id}`,
        },
      );
      return createProduct.id;
    },
    async placeOrder(token, productId, quantity) {
      await data(
        'mutation ($productId: ID!, $quantity: Int!) { addToCart(productId: $productId, quantity: $quantity) { totalCents } }',
        { productId, quantity },
        token,
      );
      const { placeOrder } = await data<{ placeOrder: { id: string } }>(
        'mutation { placeOrder { id } }',
        {},
        token,
      );
      return placeOrder.id;
    },
    async statuses(ids) {
      const { rows } = await db.query<{ id: string; status: OrderStatus }>(
        'select id, status from orders.orders where id = any($1::uuid[])',
        [ids],
      );
      return new Map(rows.map((row) => [row.id, row.status]));
    },
    close: () => db.end(),
  };
}
