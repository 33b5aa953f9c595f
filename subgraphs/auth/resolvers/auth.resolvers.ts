/** Auth resolvers: thin — arguments in, the auth service, the payload out. */
import type { GraphQLResolverMap, SubgraphContext } from '../../../shared/server/index.ts';
import { DateTimeScalar } from '../../../shared/server/index.ts';
import type { AuthService } from '../domain/auth.service.ts';

export function createAuthResolvers(auth: AuthService): GraphQLResolverMap<SubgraphContext> {
  return {
    DateTime: DateTimeScalar,
    Mutation: {
      register: (
        _parent: unknown,
        args: { input: { email: string; password: string; name: string } },
        ctx: SubgraphContext,
      ) => auth.register(ctx.em, ctx, args.input),
      login: (_parent: unknown, args: { email: string; password: string }, ctx: SubgraphContext) =>
        auth.login(ctx.em, ctx, args),
      refreshToken: (_parent: unknown, args: { refreshToken: string }, ctx: SubgraphContext) =>
        auth.refresh(ctx.em, ctx, args.refreshToken),
      logout: (_parent: unknown, args: { refreshToken?: string | null }, ctx: SubgraphContext) =>
        auth.logout(ctx.em, ctx, args.refreshToken),
      changePassword: (
        _parent: unknown,
        args: { currentPassword: string; newPassword: string },
        ctx: SubgraphContext,
      ) => auth.changePassword(ctx.em, ctx, ctx.identity, args),
    },
  };
}
