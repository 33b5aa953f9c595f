/** Analytics resolvers: thin — arguments in, domain decisions and service calls, result out. */
import type DataLoader from 'dataloader';
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { BigIntScalar, DateTimeScalar } from '../../../shared/server/index.ts';
import { assertAdmin, assertCanReadActivity } from '../domain/analytics.decisions.ts';
import type {
  AnalyticsService,
  ProductSalesView,
  UserActivityView,
} from '../domain/analytics.service.ts';

interface Loaders {
  sales: DataLoader<string, ProductSalesView>;
  activity: DataLoader<string, UserActivityView>;
}

export function createAnalyticsResolvers(
  analytics: AnalyticsService,
): GraphQLResolverMap<SubgraphContext> {
  // One set of loaders per request: a page of products or users costs one query.
  const loaders = new WeakMap<SubgraphContext, Loaders>();
  const loadersFor = (ctx: SubgraphContext) => {
    let found = loaders.get(ctx);
    if (!found) {
      found = {
        sales: analytics.productSalesLoader(ctx.em),
        activity: analytics.userActivityLoader(ctx.em),
      };
      loaders.set(ctx, found);
    }
    return found;
  };

  return {
    BigInt: BigIntScalar,
    DateTime: DateTimeScalar,
    Query: {
      eventCounts: (
        _parent: unknown,
        args: { from?: Date | null; to?: Date | null; type?: string | null },
        ctx: SubgraphContext,
      ) => analytics.eventCounts(ctx.em, ctx.identity, args),
      dailyMetrics: (_parent: unknown, args: { days?: number | null }, ctx: SubgraphContext) =>
        analytics.dailyMetrics(ctx.em, ctx.identity, args.days),
      topProducts: (_parent: unknown, args: { limit?: number | null }, ctx: SubgraphContext) =>
        analytics.topProducts(ctx.em, ctx.identity, args.limit),
    },
    ProductSales: {
      product: (sales: ProductSalesView) => ({ __typename: 'Product', id: sales.productId }),
    },
    User: {
      __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
      activity: (user: { id: string }, _args: unknown, ctx: SubgraphContext) => {
        assertCanReadActivity(ctx.identity, user.id);
        return loadersFor(ctx).activity.load(user.id);
      },
    },
    Product: {
      __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
      sales: (product: { id: string }, _args: unknown, ctx: SubgraphContext) => {
        assertAdmin(ctx.identity);
        return loadersFor(ctx).sales.load(product.id);
      },
    },
  };
}
