/**
 * Enforces the supergraph's `@authenticated` and `@requiresScopes` in Apollo Server: runs the
 * access policy (access-policy.ts) after validation and before the query planner calls any
 * subgraph, and rejects the whole operation when anything fails.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import { clientError } from '../../shared/errors/index.ts';
import type { AccessPolicy, AccessViolation } from './access-policy.ts';

export interface AuthorizationPluginOptions<TContext extends BaseContext> {
  /**
   * The server's error funnel (Apollo Server's `formatError`): the violations after the
   * first, which this plugin adds to the response itself, are shaped by it too.
   */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * The policy of the supergraph currently served. Called once per request, so replacing the
   * policy when the supergraph is reloaded takes effect on the next request.
   */
  policy: () => AccessPolicy;
  /** The caller's scopes: null for an anonymous caller, `[]` for one signed in without scopes. */
  scopesOf: (context: TContext) => readonly string[] | null;
}

/**
 * Rejects an operation that selects anything the caller may not read, before any subgraph is
 * called: the response has one error per violation (`extensions.code` UNAUTHENTICATED or
 * FORBIDDEN, `path` set), no `data`, and HTTP status 200.
 *
 * Apollo Server turns an error thrown by `didResolveOperation` into exactly one response error
 * (through `formatError` and `didEncounterErrors`), so the first violation is thrown there
 * and the others are appended in `willSendResponse`, through the same `formatError`.
 */
export function authorizationPlugin<TContext extends BaseContext>(
  options: AuthorizationPluginOptions<TContext>,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      let rejected: readonly AccessViolation[] = [];
      return {
        async didResolveOperation({ schema, document, request, contextValue }) {
          const violations = options.policy().check({
            schema,
            document,
            operationName: request.operationName ?? null,
            variables: request.variables ?? null,
            scopes: options.scopesOf(contextValue),
          });
          const [first] = violations;
          if (!first) return;
          rejected = violations;
          throw clientError(first.message, first.code, {
            path: first.path,
            // Without a status Apollo Server answers a plugin's error with 500.
            extensions: { http: { status: 200 } },
          });
        },
        async willSendResponse({ response }) {
          if (rejected.length < 2 || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const more = rejected.slice(1).map((violation) => {
            const error = clientError(violation.message, violation.code, { path: violation.path });
            return options.formatError(error.toJSON(), error);
          });
          result.errors = [...(result.errors ?? []), ...more];
        },
      };
    },
  };
}
