/**
 * Apollo Server plugin shared by the gateway and every subgraph: logs the cause of every
 * masked error with the request id, attaches that id to INTERNAL_SERVER_ERROR responses
 * (so a user can quote it), counts operations by type and outcome, and names the request's
 * trace span after its operation.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { isClientError } from '../errors/index.ts';
import { nameServerSpan } from '../observability/index.ts';
import type { Logger, ServiceMetrics } from '../observability/index.ts';

export interface RequestContext extends BaseContext {
  readonly requestId: string;
  readonly logger: Logger;
}

export function observabilityPlugin<TContext extends RequestContext>(
  metrics: ServiceMetrics,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      let failed = false;
      return {
        async didResolveOperation({ operation, operationName }) {
          if (operation) nameServerSpan(operation.operation, operationName);
        },
        async didEncounterErrors({ errors, contextValue, operationName }) {
          failed = true;
          for (const error of errors) {
            if (!isClientError(error)) {
              contextValue.logger.error(
                { err: error.originalError ?? error, path: error.path, operationName },
                'internal error in GraphQL operation',
              );
            }
          }
        },
        async willSendResponse({ response, contextValue, operation }) {
          // Operation type, not name: client-chosen names would make label cardinality unbounded.
          metrics.graphqlOperations.inc({
            type: operation?.operation ?? 'invalid',
            outcome: failed ? 'error' : 'ok',
          });
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            if (error.extensions?.['code'] === 'INTERNAL_SERVER_ERROR') {
              (error.extensions as Record<string, unknown>)['requestId'] = contextValue.requestId;
            }
          }
        },
      };
    },
  };
}
