/**
 * The gateway's executor. @apollo/gateway still loads and reloads the supergraph and builds
 * the subgraphs' data sources; every operation it would execute is planned here with the
 * same planner (@apollo/query-planner, on the same supergraph) and executed by this
 * module's own plan runner (./plan-execution.ts) and compiled response shape
 * (./response-shape.ts). The plan and the compiled shape of an operation are kept beside
 * its parsed document (Apollo Server keeps one document per distinct query text), so a
 * repeated operation is neither planned nor compiled again.
 *
 * Answers equal a plain @apollo/gateway's: same plan, same fetches, same merging, same
 * shaping, same errors. What this executor does not cover goes to Apollo's, whole:
 * subscriptions and `@defer` plans, introspection fields, plans with context rewrites,
 * requests that ask for usage-reporting traces or for their query plan
 * (`Apollo-Query-Plan-Experimental`, outside production), and an operation this module
 * could not plan (Apollo's executor then reports the planner's error itself). Each
 * execution is counted by executor and reason (`gateway_operation_executions_total`), so
 * the fallback shows on /metrics.
 */
import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import type { Schema } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import type { PlanNode, QueryPlan } from '@apollo/query-planner';
import type {
  GatewayExecutionResult,
  GatewayExecutor,
  GatewayGraphQLRequestContext,
  GatewayInterface,
} from '@apollo/server-gateway-interface';
import { trace } from '@opentelemetry/api';
import { GraphQLError, getVariableValues } from 'graphql';
import type { DocumentNode, GraphQLSchema, VariableDefinitionNode } from 'graphql';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/index.ts';
import { executePlan } from './plan-execution.ts';
import {
  MalformedSubgraphData,
  UnsupportedOperation,
  compileResponseShape,
} from './response-shape.ts';
import type { ResponseShape } from './response-shape.ts';

const tracer = trace.getTracer('eventgraph/gateway-executor');

export interface OwnExecutorOptions {
  /** Loads the supergraph and serves as the fallback executor. */
  gateway: ApolloGateway;
  /** The data source of each subgraph, as the gateway's `buildService` made them. */
  services: ReadonlyMap<string, GraphQLDataSource>;
  registry: Registry;
  logger: Logger;
}

/** How one operation (a document and an operation name) is executed. */
type Prepared =
  | {
      readonly kind: 'own';
      readonly plan: QueryPlan;
      readonly shape: ResponseShape;
      readonly variableDefinitions: readonly VariableDefinitionNode[];
    }
  | { readonly kind: 'fallback'; readonly reason: string };

/** What the supergraph serving now gives the executor, rebuilt on every load. */
interface Planning {
  readonly planner: QueryPlanner;
  readonly apiSchema: Schema;
  readonly supergraphSchema: GraphQLSchema;
  readonly prepared: WeakMap<DocumentNode, Map<string, Prepared>>;
}

/** `gateway` as Apollo Server's gateway, executing with this module's executor. */
export function withOwnExecutor(options: OwnExecutorOptions): GatewayInterface {
  const { gateway, services, logger } = options;
  const executions = new Counter({
    name: 'gateway_operation_executions_total',
    help: "Operations executed, by executor (own, or apollo: @apollo/gateway's) and the reason an operation went to apollo's",
    labelNames: ['executor', 'reason'] as const,
    registers: [options.registry],
  });
  const ownExecutions = executions.labels({ executor: 'own', reason: 'none' });
  const recursiveSelectionsLimitDisabled =
    process.env['APOLLO_DISABLE_SECURITY_RECURSIVE_SELECTIONS_CHECK'] === 'true';
  const nonLocalSelectionsLimitDisabled =
    process.env['APOLLO_DISABLE_SECURITY_NON_LOCAL_SELECTIONS_CHECK'] === 'true';
  const plansVisible = process.env['NODE_ENV'] !== 'production';

  let planning: Planning | null = null;
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
    try {
      const supergraph = Supergraph.build(coreSupergraphSdl);
      planning = {
        planner: new QueryPlanner(supergraph),
        apiSchema: supergraph.apiSchema(),
        supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
        prepared: new WeakMap(),
      };
    } catch (error) {
      planning = null;
      logger.error(
        { err: error },
        "gateway: cannot plan on this supergraph; Apollo's executor runs every operation",
      );
    }
  });

  function prepare(current: Planning, requestContext: GatewayGraphQLRequestContext): Prepared {
    let byName = current.prepared.get(requestContext.document);
    if (!byName) {
      byName = new Map();
      current.prepared.set(requestContext.document, byName);
    }
    const key = requestContext.request.operationName ?? '';
    let prepared = byName.get(key);
    if (!prepared) {
      prepared = tracer.startActiveSpan('gateway.plan', (span) => {
        try {
          return planAndCompile(current, requestContext);
        } finally {
          span.end();
        }
      });
      if (prepared.kind === 'fallback') {
        logger.debug(
          { reason: prepared.reason },
          "gateway: an operation goes to Apollo's executor",
        );
      }
      byName.set(key, prepared);
    }
    return prepared;
  }

  function planAndCompile(
    current: Planning,
    requestContext: GatewayGraphQLRequestContext,
  ): Prepared {
    const { document, operation } = requestContext;
    let plan: QueryPlan;
    try {
      const planned = operationFromDocument(current.apiSchema, document, {
        ...(requestContext.request.operationName !== undefined
          ? { operationName: requestContext.request.operationName }
          : {}),
      });
      plan = current.planner.buildQueryPlan(planned, {
        recursiveSelectionsLimitDisabled,
        nonLocalSelectionsLimitDisabled,
      });
    } catch {
      return { kind: 'fallback', reason: 'planning-error' };
    }
    const unsupported = unsupportedPlan(plan);
    if (unsupported) return { kind: 'fallback', reason: unsupported };
    let shape: ResponseShape;
    try {
      shape = compileResponseShape(requestContext.schema, document, operation);
    } catch (error) {
      if (error instanceof UnsupportedOperation) return { kind: 'fallback', reason: error.reason };
      // A shape this module cannot compile is its own gap, not the client's: Apollo answers.
      logger.warn({ err: error }, "gateway: cannot compile an operation's response shape");
      return { kind: 'fallback', reason: 'compile-error' };
    }
    return { kind: 'own', plan, shape, variableDefinitions: operation.variableDefinitions ?? [] };
  }

  async function execute(
    prepared: Extract<Prepared, { kind: 'own' }>,
    current: Planning,
    requestContext: GatewayGraphQLRequestContext,
  ): Promise<GatewayExecutionResult> {
    const variables = requestContext.request.variables ?? {};
    if (prepared.variableDefinitions.length > 0) {
      const coerced = getVariableValues(
        requestContext.schema,
        prepared.variableDefinitions,
        variables,
      );
      if (coerced.errors) return { errors: coerced.errors };
    }
    const errors: unknown[] = [];
    const data: Record<string, unknown> = {};
    if (prepared.plan.node) {
      await executePlan(
        {
          requestContext,
          services,
          supergraphSchema: current.supergraphSchema,
          variables,
          conditionValue: (name) => conditionValue(name, variables, prepared.shape.defaults),
          errors,
        },
        prepared.plan.node as PlanNode,
        data,
      );
    }
    let shaped;
    try {
      shaped = prepared.shape.shape(data, variables);
    } catch (error) {
      if (error instanceof MalformedSubgraphData) {
        return { errors: [new GraphQLError(error.message, { originalError: error })] };
      }
      throw error;
    }
    if (errors.length === 0) {
      return shaped.errors.length > 0
        ? { extensions: { valueCompletion: shaped.errors }, data: shaped.data }
        : { data: shaped.data };
    }
    return { errors: errors as GraphQLError[], data: shaped.data };
  }

  function executorOver(apollo: GatewayExecutor): GatewayExecutor {
    return async (requestContext) => {
      const current = planning;
      let prepared: Prepared = current
        ? prepare(current, requestContext)
        : { kind: 'fallback', reason: 'no-planner' };
      if (prepared.kind === 'own') {
        if (requestContext.metrics.captureTraces) {
          prepared = { kind: 'fallback', reason: 'usage-traces' };
        } else if (
          plansVisible &&
          requestContext.request.http?.headers.get('Apollo-Query-Plan-Experimental')
        ) {
          prepared = { kind: 'fallback', reason: 'query-plan-requested' };
        }
      }
      if (prepared.kind === 'fallback' || !current) {
        executions.inc({
          executor: 'apollo',
          reason: prepared.kind === 'fallback' ? prepared.reason : 'no-planner',
        });
        return apollo(requestContext);
      }
      ownExecutions.inc();
      const own = prepared;
      return tracer.startActiveSpan('gateway.request', async (span) => {
        try {
          return await execute(own, current, requestContext);
        } finally {
          span.end();
        }
      });
    };
  }

  return {
    async load(loadOptions) {
      const loaded = await gateway.load(loadOptions);
      return { schema: loaded.schema, executor: executorOver(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
    stop: () => gateway.stop(),
  };
}

/** Why Apollo's executor must run a plan; null when this one can. */
function unsupportedPlan(plan: QueryPlan): string | null {
  const node = plan.node;
  if (!node) return null;
  if (node.kind === 'Subscription') return 'subscription';
  return unsupportedNode(node);
}

function unsupportedNode(node: PlanNode): string | null {
  switch (node.kind) {
    case 'Defer':
      return 'defer';
    case 'Fetch':
      return node.contextRewrites && node.contextRewrites.length > 0 ? 'context-rewrites' : null;
    case 'Flatten':
      return unsupportedNode(node.node);
    case 'Condition':
      return (
        (node.ifClause ? unsupportedNode(node.ifClause) : null) ??
        (node.elseClause ? unsupportedNode(node.elseClause) : null)
      );
    case 'Sequence':
    case 'Parallel':
      for (const child of node.nodes) {
        const reason = unsupportedNode(child);
        if (reason) return reason;
      }
      return null;
  }
}

/** A Condition node's variable: the request's value, else its default (query-planner's rule). */
function conditionValue(
  name: string,
  variables: Readonly<Record<string, unknown>>,
  defaults: ReadonlyMap<string, unknown>,
): boolean {
  const value =
    Object.hasOwn(variables, name) && variables[name] !== undefined
      ? variables[name]
      : defaults.get(name);
  if (typeof value !== 'boolean') {
    throw new Error(`Invalid non-boolean value ${String(value)} for Boolean! variable $${name}`);
  }
  return value;
}
