/** Users resolvers: thin — arguments in, domain decisions and service calls, result out. */
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { DateTimeScalar } from '../../../shared/server/index.ts';
import { assertCanReadUser, provisionalProfile } from '../domain/user.decisions.ts';
import type { UserService } from '../domain/user.service.ts';

export function createUserResolvers(users: UserService): GraphQLResolverMap<SubgraphContext> {
  const findUser = async (ctx: SubgraphContext, id: string) =>
    (await users.findById(ctx.em, id)) ?? provisionalProfile(ctx.identity, id);
  return {
    DateTime: DateTimeScalar,
    Query: {
      me: async (_parent: unknown, _args: unknown, ctx: SubgraphContext) =>
        ctx.identity ? findUser(ctx, ctx.identity.userId) : null,
      user: async (_parent: unknown, args: { id: string }, ctx: SubgraphContext) => {
        assertCanReadUser(ctx.identity, args.id);
        return findUser(ctx, args.id);
      },
    },
    User: {
      __resolveReference: async (reference: { id: string }, ctx: SubgraphContext) =>
        findUser(ctx, reference.id),
    },
  };
}
