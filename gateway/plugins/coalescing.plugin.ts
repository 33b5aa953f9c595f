/**
 * Coalesces identical queries in flight: when a query arrives while the same one — same
 * document, operation name and variables, from the same caller (access-token claims and
 * client address) — is already executing, it waits for that execution and answers with a
 * copy of its result instead of planning and fetching everything again. Only queries, only
 * while the first is in flight (nothing is kept afterwards, so no answer is older than its
 * request), and each request still passes authentication, validation and the authorization
 * plugin on its own before it may share (this hook runs after them).
 */
import type { ApolloServerPlugin, GraphQLResponse } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { FormattedExecutionResult } from 'graphql';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { GatewayContext } from '../context.ts';

export interface CoalescingPluginOptions {
  registry: Registry;
}

export function coalescingPlugin<TContext extends GatewayContext>(
  options: CoalescingPluginOptions,
): ApolloServerPlugin<TContext> {
  const inFlight = new Map<string, Promise<FormattedExecutionResult | null>>();
  const coalesced = new Counter({
    name: 'gateway_coalesced_operations_total',
    help: 'Queries answered with the result of an identical query in flight for the same caller',
    registers: [options.registry],
  });

  return {
    async requestDidStart() {
      let lead: { key: string; settle: (result: FormattedExecutionResult | null) => void } | null =
        null;
      return {
        async responseForOperation({ source, operation, operationName, request, contextValue }) {
          if (operation.operation !== OperationTypeNode.QUERY) return null;
          const key = JSON.stringify([
            source,
            operationName ?? null,
            request.variables ?? null,
            contextValue.accessClaims ?? null,
            contextValue.clientIp ?? null,
          ]);
          const running = inFlight.get(key);
          if (running) {
            const result = await running;
            // The lead ended without a single result (it failed): run this one on its own.
            if (!result) return null;
            coalesced.inc();
            const response: GraphQLResponse = {
              http: { status: undefined, headers: new HeaderMap() },
              body: { kind: 'single', singleResult: structuredClone(result) },
            };
            return response;
          }
          let settle!: (result: FormattedExecutionResult | null) => void;
          inFlight.set(
            key,
            new Promise((resolve) => {
              settle = resolve;
            }),
          );
          lead = { key, settle };
          return null;
        },
        async willSendResponse({ response }) {
          if (!lead) return;
          inFlight.delete(lead.key);
          lead.settle(response.body.kind === 'single' ? response.body.singleResult : null);
          lead = null;
        },
      };
    },
  };
}
