/** Catalog resolvers: thin — arguments in, domain decisions and service calls, result out. */
import type DataLoader from 'dataloader';
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { DateTimeScalar } from '../../../shared/server/index.ts';
import type { ProductChanges, ProductView } from '../domain/product.decisions.ts';
import type { ProductListArgs, ProductService } from '../domain/product.service.ts';

interface CreateProductInput {
  name: string;
  description?: string | null;
  priceCents: number;
  currency: string;
  stock?: number | null;
}

export function createProductResolvers(
  products: ProductService,
): GraphQLResolverMap<SubgraphContext> {
  // One loader per request: an order page's product references become one batch.
  const loaders = new WeakMap<SubgraphContext, DataLoader<string, ProductView | null>>();
  const loaderFor = (ctx: SubgraphContext) => {
    let loader = loaders.get(ctx);
    if (!loader) {
      loader = products.createLoader(ctx.em);
      loaders.set(ctx, loader);
    }
    return loader;
  };

  return {
    DateTime: DateTimeScalar,
    Query: {
      product: async (_parent: unknown, args: { id: string }, ctx: SubgraphContext) => {
        const product = await loaderFor(ctx).load(args.id);
        return product && product.deletedAt === null ? product : null;
      },
      products: (_parent: unknown, args: ProductListArgs, ctx: SubgraphContext) =>
        products.list(ctx.em, args),
    },
    Mutation: {
      createProduct: (
        _parent: unknown,
        { input }: { input: CreateProductInput },
        ctx: SubgraphContext,
      ) =>
        products.create(ctx.em, ctx.identity, {
          name: input.name,
          priceCents: input.priceCents,
          currency: input.currency,
          ...(input.description != null ? { description: input.description } : {}),
          ...(input.stock != null ? { stock: input.stock } : {}),
        }),
      updateProduct: (
        _parent: unknown,
        args: { id: string; input: ProductChanges },
        ctx: SubgraphContext,
      ) => products.update(ctx.em, ctx.identity, args.id, args.input),
      deleteProduct: (_parent: unknown, args: { id: string }, ctx: SubgraphContext) =>
        products.delete(ctx.em, ctx.identity, args.id),
    },
    Product: {
      // Deleted products still resolve here: orders placed before keep showing them.
      __resolveReference: (reference: { id: string }, ctx: SubgraphContext) =>
        loaderFor(ctx).load(reference.id),
    },
  };
}
