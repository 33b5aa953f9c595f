/** Orders resolvers: thin — arguments in, domain decisions and service calls, result out. */
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { DateTimeScalar } from '../../../shared/server/index.ts';
import type { OrderLine } from '../domain/order.entity.ts';
import type { OrderView } from '../domain/order.decisions.ts';
import type { OrderService } from '../domain/order.service.ts';

/** An item's product is the catalog's `Product` entity, resolved there by id. */
const lineResolvers = {
  product: (line: OrderLine) => ({ __typename: 'Product', id: line.productId }),
};

export function createOrderResolvers(orders: OrderService): GraphQLResolverMap<SubgraphContext> {
  return {
    DateTime: DateTimeScalar,
    Query: {
      cart: (_parent: unknown, _args: unknown, ctx: SubgraphContext) =>
        orders.cart(ctx.em, ctx.identity),
      order: (_parent: unknown, args: { id: string }, ctx: SubgraphContext) =>
        orders.find(ctx.em, ctx.identity, args.id),
    },
    Mutation: {
      addToCart: (
        _parent: unknown,
        args: { productId: string; quantity: number },
        ctx: SubgraphContext,
      ) => orders.addToCart(ctx.em, ctx.identity, args.productId, args.quantity),
      removeFromCart: (_parent: unknown, args: { productId: string }, ctx: SubgraphContext) =>
        orders.removeFromCart(ctx.em, ctx.identity, args.productId),
      placeOrder: (_parent: unknown, _args: unknown, ctx: SubgraphContext) =>
        orders.place(ctx.em, ctx.identity),
      cancelOrder: (_parent: unknown, args: { id: string }, ctx: SubgraphContext) =>
        orders.cancel(ctx.em, ctx.identity, args.id),
    },
    Order: {
      // Another subgraph (or the gateway's subscriptions) naming an order: same access rule.
      __resolveReference: (reference: { id: string }, ctx: SubgraphContext) =>
        orders.find(ctx.em, ctx.identity, reference.id),
      user: (order: OrderView) => ({ __typename: 'User', id: order.userId }),
    },
    OrderItem: lineResolvers,
    CartItem: lineResolvers,
    User: {
      __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
      orders: (
        user: { id: string },
        args: { first?: number | null; after?: string | null },
        ctx: SubgraphContext,
      ) => orders.listFor(ctx.em, ctx.identity, user.id, args),
    },
  };
}
