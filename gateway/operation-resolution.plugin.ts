/**
 * Refuses, with HTTP 400, what Apollo Server would let through to the gateway's executor to
 * fail there as an internal error: a request whose `operationName` names no operation of the
 * document (or that omits it for a document of several), OPERATION_RESOLUTION_FAILURE; and a
 * subscription sent over HTTP, BAD_REQUEST, naming the WebSocket endpoint.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import { clientError } from '../shared/errors/index.ts';

export function operationResolutionPlugin<
  TContext extends BaseContext,
>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          // Subscriptions run over graphql-ws; everything reaching this pipeline came over HTTP.
          if (operation?.operation === OperationTypeNode.SUBSCRIPTION) {
            throw clientError(
              'Subscriptions are served over WebSocket: connect a graphql-ws client to this same path',
              'BAD_REQUEST',
              { extensions: { http: { status: 400 } } },
            );
          }
          if (operation) return;
          const name = request.operationName;
          throw clientError(
            typeof name === 'string' && name !== ''
              ? `Unknown operation named "${name.slice(0, 100)}"`
              : 'Must provide operation name if query contains multiple operations',
            'OPERATION_RESOLUTION_FAILURE',
            { extensions: { http: { status: 400 } } },
          );
        },
      };
    },
  };
}
