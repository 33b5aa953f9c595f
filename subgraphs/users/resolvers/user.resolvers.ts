/** Users resolvers: thin — arguments in, domain decisions and service calls, result out. */
import type DataLoader from 'dataloader';
import type { Role } from '../../../shared/auth/index.ts';
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { DateTimeScalar } from '../../../shared/server/index.ts';
import { canSeeUser, provisionalProfile } from '../domain/user.decisions.ts';
import type { UserView } from '../domain/user.decisions.ts';
import type { UserService } from '../domain/user.service.ts';

export function createUserResolvers(users: UserService): GraphQLResolverMap<SubgraphContext> {
  // One loader per request: batching across a request's references, nothing shared between callers.
  const loaders = new WeakMap<SubgraphContext, DataLoader<string, UserView | null>>();
  const loaderFor = (ctx: SubgraphContext) => {
    let loader = loaders.get(ctx);
    if (!loader) {
      loader = users.createLoader(ctx.em);
      loaders.set(ctx, loader);
    }
    return loader;
  };
  const findUser = async (ctx: SubgraphContext, id: string) => {
    const stored = await loaderFor(ctx).load(id);
    if (stored) return stored;
    const provisional = provisionalProfile(ctx.identity, id);
    return provisional && !(await users.isDeleted(ctx.em, id)) ? provisional : null;
  };

  return {
    DateTime: DateTimeScalar,
    Query: {
      me: async (_parent: unknown, _args: unknown, ctx: SubgraphContext) =>
        ctx.identity ? findUser(ctx, ctx.identity.userId) : null,
      user: async (_parent: unknown, args: { id: string }, ctx: SubgraphContext) => {
        return canSeeUser(ctx.identity, args.id) ? findUser(ctx, args.id) : null;
      },
      users: (
        _parent: unknown,
        args: { first?: number | null; after?: string | null; search?: string | null },
        ctx: SubgraphContext,
      ) => users.list(ctx.em, ctx.identity, args),
    },
    Mutation: {
      updateProfile: (
        _parent: unknown,
        args: { input: { id?: string | null; name?: string | null } },
        ctx: SubgraphContext,
      ) => users.updateProfile(ctx.em, ctx.identity, args.input),
      setUserRole: (_parent: unknown, args: { id: string; role: Role }, ctx: SubgraphContext) =>
        users.setRole(ctx.em, ctx.identity, args.id, args.role),
      deleteUser: (_parent: unknown, args: { id: string }, ctx: SubgraphContext) =>
        users.delete(ctx.em, ctx.identity, args.id),
    },
    User: {
      __resolveReference: async (reference: { id: string }, ctx: SubgraphContext) =>
        findUser(ctx, reference.id),
    },
  };
}
