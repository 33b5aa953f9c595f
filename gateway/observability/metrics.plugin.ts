/**
 * Prometheus metrics of the gateway's GraphQL traffic, beside the request counter every
 * service has: a latency histogram per operation name and type, and errors by code.
 *
 * Label cardinality stays bounded whatever clients send: operation names are kept as labels
 * for the first `maxOperationNames` distinct names seen (the named operations of real
 * clients), later ones count as `other`; unnamed operations are `anonymous`. Error codes
 * outside the public list (`ERROR_CODES`) count as `OTHER`.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { ERROR_CODES } from '../../shared/errors/index.ts';

export interface MetricsPluginOptions {
  registry: Registry;
  /** Distinct operation names kept as label values. @default 200 */
  maxOperationNames?: number;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

export function metricsPlugin<TContext extends BaseContext>(
  options: MetricsPluginOptions,
): ApolloServerPlugin<TContext> {
  const maxNames = options.maxOperationNames ?? 200;
  const names = new Set<string>();
  const duration = new Histogram({
    name: 'gateway_operation_duration_seconds',
    help: 'GraphQL operations through the gateway, from request to response, by operation',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [options.registry],
  });
  const errors = new Counter({
    name: 'gateway_errors_total',
    help: 'GraphQL errors in gateway responses, by code',
    labelNames: ['code'] as const,
    registers: [options.registry],
  });

  const operationLabel = (name: string | null | undefined) => {
    if (!name) return 'anonymous';
    if (names.has(name)) return name;
    if (names.size < maxNames) {
      names.add(name);
      return name;
    }
    return 'other';
  };

  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ response, operation, operationName }) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          duration.observe(
            {
              operation: operationLabel(operationName),
              type: operation?.operation ?? 'invalid',
            },
            seconds,
          );
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            const code = error.extensions?.['code'];
            errors.inc({
              code: typeof code === 'string' && KNOWN_CODES.has(code) ? code : 'OTHER',
            });
          }
        },
      };
    },
  };
}
