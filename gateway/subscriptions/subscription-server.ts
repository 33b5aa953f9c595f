/**
 * GraphQL subscriptions on the gateway's own `/graphql` port, over graphql-ws, fed by the
 * domain events the subgraphs publish. @apollo/gateway cannot execute subscriptions, so the
 * gateway does it itself: a subscription names an entity (`orderStatusChanged(orderId)`,
 * `productChanged(id)`); whenever the change feed reports a change to it, the gateway
 * resolves the client's whole selection set as the query `order(id)` / `product(id)` through
 * the normal federated pipeline (authorization plugin, query plan, every subgraph), with the
 * subscriber's identity, and sends the result when it differs from the last one sent.
 *
 * Guarantees:
 * - Authenticated like HTTP: the access token in `connection_init` (`authorization:
 *   "Bearer …"`) is verified once; the connection closes (4401) when it expires and (4403)
 *   within `revocationCheckMs` of its revocation (logout, password change, role change…).
 * - Authorised like queries, plus ownership up front: subscribing to someone else's order is
 *   `FORBIDDEN` before anything is sent; only an ADMIN may omit `orderId`.
 * - The current state first (so nothing between the mutation and the subscription is
 *   missed), then every change; updates to one entity from one burst of events share one
 *   execution per distinct (selection, variables, caller), however many subscribe.
 * - Bounded: at most `maxPerConnection` subscriptions per connection, and at most
 *   `maxQueued` undelivered updates per subscription — a client that does not keep up gets
 *   a final `RATE_LIMITED` error and the subscription ends; memory never grows without bound.
 */
import type { Server } from 'node:http';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  parse,
  print,
  validate,
  visit,
} from 'graphql';
import type {
  DocumentNode,
  ExecutionArgs,
  ExecutionResult,
  FieldNode,
  FormattedExecutionResult,
  FragmentDefinitionNode,
  GraphQLFormattedError,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationRule,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import type { AccessTokenClaims, RevocationReader } from '../../shared/auth/index.ts';
import { clientError } from '../../shared/errors/index.ts';
import type { ErrorCode } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import type { AccessTokenVerifier } from '../auth.ts';
import { createBoundedStream } from './bounded-stream.ts';
import type { BoundedStream } from './bounded-stream.ts';
import type { Change, ChangeFeed, OrderStatus } from './change-feed.ts';

/** Runs a query through the gateway's pipeline as `claims` (null: anonymous). */
export type ExecuteAs = (
  request: { query: string; variables: Record<string, unknown>; operationName?: string },
  claims: AccessTokenClaims | null,
) => Promise<FormattedExecutionResult>;

export interface SubscriptionLimits {
  /** Subscriptions one connection may hold at once. @default 20 */
  maxPerConnection?: number;
  /** Updates that may wait for a slow client, per subscription. @default 64 */
  maxQueued?: number;
  /** How often open connections' tokens are checked for revocation. @default 5000 */
  revocationCheckMs?: number;
}

export interface SubscriptionServerOptions extends SubscriptionLimits {
  httpServer: Server;
  /** Where graphql-ws listens (the HTTP GraphQL path). */
  path: string;
  verifier: AccessTokenVerifier;
  revocations: RevocationReader;
  /** Null when the gateway has no event feed: subscriptions are then refused. */
  feed: ChangeFeed | null;
  /** The client-facing schema of the supergraph now serving. */
  apiSchema: () => GraphQLSchema | undefined;
  execute: ExecuteAs;
  logger: Logger;
  registry: Registry;
  /** Rules a subscription document must pass (the gateway's limits included). @default specifiedRules */
  validationRules?: readonly ValidationRule[];
  /** Tokens the parser reads before refusing a document. @default unlimited */
  maxTokens?: number;
  /**
   * The error funnel HTTP responses go through (Apollo Server's `formatError`): every error
   * this server builds itself is shaped by it before it is sent, so a subscriber sees what an
   * HTTP client would (codes, masking, no schema hints while introspection is off).
   */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

export interface SubscriptionServer {
  /** Open connections and subscriptions (for tests and metrics). */
  stats(): { connections: number; subscriptions: number };
  /** Closes every connection (1001, going away) and stops accepting new ones. */
  stop(): Promise<void>;
}

/** The subscription fields and the query field that resolves the same entity. */
const ROOTS = {
  orderStatusChanged: { kind: 'order', argument: 'orderId', queryField: 'order' },
  productChanged: { kind: 'product', argument: 'id', queryField: 'product' },
} as const;
type RootName = keyof typeof ROOTS;

/** The variable the rewritten query takes the entity id in. */
const ID_VARIABLE = '__eventgraphEntityId';

interface ConnectionState {
  claims: AccessTokenClaims | null;
  /** Ids of the subscriptions open on this connection. */
  subscriptions: Set<string>;
  expiry?: NodeJS.Timeout;
}

/** What `onSubscribe` prepared for `subscribe`, handed over as the context value. */
interface Plan {
  root: RootName;
  /** The entity subscribed to; null for "all" (ADMIN orders, or every product). */
  entityId: string | null;
  /** The selection as a query, and its variables (without the entity id). */
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  claims: AccessTokenClaims | null;
  /** The current state, sent first (entity subscriptions only). */
  initial: FormattedExecutionResult | null;
  /** The response key of the subscription field, e.g. its alias. */
  rootKey: string;
  /** Response keys of the root object's `status` fields (orders), fragments included. */
  statusKeys: string[];
}

const error = (message: string, code: ErrorCode, extensions: Record<string, unknown> = {}) =>
  clientError(message, code, { extensions });

export function startSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const { logger, feed, verifier, revocations } = options;
  const maxPerConnection = options.maxPerConnection ?? 20;
  const maxQueued = options.maxQueued ?? 64;
  /** An error this server built, as the funnel presents it to the client. */
  const formatted = (built: GraphQLError) => options.formatError(built.toJSON(), built);
  const refused = (built: readonly GraphQLError[]) =>
    built.map((one) => toGraphQLError(formatted(one)));
  const connections = new Map<object, ConnectionState>();
  let subscriptionCount = 0;

  // Registered with the registry; it reads the count at each scrape.
  new Gauge({
    name: 'gateway_subscriptions_active',
    help: 'GraphQL subscriptions open on this gateway',
    registers: [options.registry],
    collect() {
      this.set(subscriptionCount);
    },
  });
  const updates = new Counter({
    name: 'gateway_subscription_updates_total',
    help: 'Updates sent to subscribers, and subscriptions ended because the client lagged',
    labelNames: ['outcome'] as const,
    registers: [options.registry],
  });

  /** One execution per distinct key at a time, shared by everyone who asks meanwhile. */
  const inFlight = new Map<string, Promise<FormattedExecutionResult>>();
  const shared = (key: string, run: () => Promise<FormattedExecutionResult>) => {
    let pending = inFlight.get(key);
    if (!pending) {
      pending = run().finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };

  const runPlan = (plan: Plan, entityId: string) => {
    // Orders depend on who asks (ownership); products only on what the caller may see.
    const caller =
      plan.root === 'orderStatusChanged'
        ? (plan.claims?.sub ?? 'anonymous')
        : (plan.claims?.scope ?? 'anonymous');
    const variables = { ...plan.variables, [ID_VARIABLE]: entityId };
    const key = `${plan.query}\u0000${JSON.stringify(variables)}\u0000${caller}`;
    return shared(key, () =>
      options.execute(
        {
          query: plan.query,
          variables,
          ...(plan.operationName ? { operationName: plan.operationName } : {}),
        },
        plan.claims,
      ),
    );
  };

  /** Parses, validates, authorises and plans a subscription; errors are sent to the client. */
  const prepare = async (
    state: ConnectionState,
    payload: {
      query: string;
      operationName?: string | null;
      variables?: Record<string, unknown> | null;
    },
  ): Promise<ExecutionArgs | GraphQLError[]> => {
    const schema = options.apiSchema();
    if (!schema) return refused([error('No supergraph is loaded yet', 'INTERNAL_SERVER_ERROR')]);
    let document: DocumentNode;
    try {
      document = parse(
        payload.query,
        options.maxTokens === undefined ? undefined : { maxTokens: options.maxTokens },
      );
    } catch (parseError) {
      return refused([error((parseError as Error).message, 'GRAPHQL_PARSE_FAILED')]);
    }
    const invalid = validate(schema, document, options.validationRules);
    if (invalid.length > 0) {
      return refused(
        invalid.map((e) => error(e.message, 'GRAPHQL_VALIDATION_FAILED', e.extensions)),
      );
    }
    const operation = getOperationAST(document, payload.operationName);
    if (!operation) return refused([error('No operation to run', 'BAD_USER_INPUT')]);
    if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
      return refused([
        error(
          'Only subscriptions are served over WebSocket; send queries and mutations over HTTP',
          'BAD_REQUEST',
        ),
      ]);
    }
    const planned = plan(schema, document, operation, payload.variables ?? {}, state.claims);
    if (planned instanceof GraphQLError) return refused([planned]);

    if (planned.root === 'orderStatusChanged') {
      if (!state.claims) return refused([error('You must be signed in', 'UNAUTHENTICATED')]);
      if (!planned.entityId && state.claims.role !== 'ADMIN') {
        return refused([error('Only an ADMIN may subscribe to every order', 'FORBIDDEN')]);
      }
    }
    if (planned.entityId) {
      // The current state: proves the caller may see it, and is the first update.
      const initial = await runPlan(planned, planned.entityId);
      // Already through the funnel: the pipeline's own `formatError` shaped them.
      if (initial.errors?.length) return initial.errors.map(toGraphQLError);
      const value = Object.values(initial.data ?? {})[0];
      if (value === null || value === undefined) {
        const what = planned.root === 'orderStatusChanged' ? 'Order' : 'Product';
        return refused([error(`${what} not found`, 'NOT_FOUND')]);
      }
      planned.initial = initial;
    }
    return {
      schema,
      document,
      contextValue: planned,
      variableValues: payload.variables ?? {},
      ...(payload.operationName ? { operationName: payload.operationName } : {}),
    } satisfies ExecutionArgs;
  };

  const wsServer = new WebSocketServer({ server: options.httpServer, path: options.path });
  const disposable = useServer<Record<string, unknown>, { state: ConnectionState }>(
    {
      async onConnect(ctx) {
        const raw =
          ctx.connectionParams?.['authorization'] ?? ctx.connectionParams?.['Authorization'];
        let claims: AccessTokenClaims | null;
        try {
          claims = await verifier.verify(typeof raw === 'string' ? raw : undefined);
        } catch {
          ctx.extra.socket.close(4401, 'Unauthorized: invalid or expired access token');
          return false;
        }
        const state: ConnectionState = { claims, subscriptions: new Set() };
        if (claims) {
          const msLeft = claims.exp * 1000 - Date.now();
          state.expiry = setTimeout(
            () => ctx.extra.socket.close(4401, 'Unauthorized: the access token expired'),
            Math.max(0, msLeft),
          );
        }
        ctx.extra.state = state;
        connections.set(ctx.extra.socket, state);
        return true;
      },

      onClose(ctx) {
        const state = ctx.extra.state;
        if (!state) return;
        // graphql-ws ends the connection's streams itself (their `return()`).
        clearTimeout(state.expiry);
        connections.delete(ctx.extra.socket);
      },

      async onSubscribe(ctx, id, payload) {
        const state = ctx.extra.state!;
        if (!feed) {
          return refused([
            error('Subscriptions are not available: this gateway has no event feed', 'BAD_REQUEST'),
          ]);
        }
        if (state.subscriptions.size >= maxPerConnection) {
          return refused([
            error(
              `At most ${maxPerConnection} subscriptions per connection; complete one first`,
              'RATE_LIMITED',
              { retryAfter: 1 },
            ),
          ]);
        }
        // The slot is taken at once, so concurrent subscribes count against the limit.
        state.subscriptions.add(id);
        const prepared = await prepare(state, payload);
        if (Array.isArray(prepared)) state.subscriptions.delete(id);
        return prepared;
      },

      subscribe(args) {
        return stream(args.contextValue as Plan) as AsyncIterableIterator<ExecutionResult>;
      },

      onComplete(ctx, id) {
        ctx.extra.state?.subscriptions.delete(id);
      },
    },
    wsServer,
  );

  /** The updates of one subscription: the current state, then each change that differs. */
  const stream = (planned: Plan): BoundedStream<FormattedExecutionResult> => {
    let last = '';
    let stopListening = () => {};
    subscriptionCount++;
    const updatesOut = createBoundedStream<FormattedExecutionResult>({
      maxQueued,
      overflow: () => ({
        errors: [
          formatted(
            error(
              `Subscription ended: more than ${maxQueued} updates were waiting for this client`,
              'RATE_LIMITED',
              { retryAfter: 1 },
            ),
          ),
        ],
      }),
      onEnd(reason) {
        stopListening();
        subscriptionCount--;
        if (reason === 'overflow') updates.inc({ outcome: 'overflow' });
      },
    });
    const offer = (result: FormattedExecutionResult) => {
      const text = JSON.stringify(result);
      if (text === last) return;
      last = text;
      if (updatesOut.push(result)) updates.inc({ outcome: 'sent' });
    };
    // Orders move forward only (PENDING → CONFIRMED/REJECTED → CANCELLED): each order's last
    // status sent, so an event that arrives after the state it led to was sent changes nothing.
    const sentStatus = new Map<string, number>();
    if (planned.initial) {
      const status = statusIn(planned.initial, planned);
      if (planned.entityId && status) sentStatus.set(planned.entityId, STATUS_RANK[status]);
      offer(planned.initial);
    }
    const kind = ROOTS[planned.root].kind;
    stopListening = feed!.listen(kind, planned.entityId, (change: Change) => {
      if (updatesOut.ended) return;
      const rank = change.kind === 'order' ? STATUS_RANK[change.status] : undefined;
      if (rank !== undefined && rank <= (sentStatus.get(change.id) ?? -1)) return;
      runPlan(planned, change.id).then(
        (result) => {
          if (change.kind !== 'order') return offer(result);
          if (rank! <= (sentStatus.get(change.id) ?? -1)) return;
          sentStatus.set(change.id, rank!);
          // The status this event set, even if the order has moved on since: every
          // transition is told, in order.
          offer(withStatus(result, planned, change.status));
        },
        (failure: unknown) => {
          logger.error({ err: failure, change }, 'subscription update failed');
        },
      );
    });
    return updatesOut;
  };

  const sweep = setInterval(() => {
    for (const [socket, state] of connections) {
      const claims = state.claims;
      if (!claims) continue;
      revocations
        .isRevoked({ userId: claims.sub, sessionId: claims.sid, tokenId: claims.jti })
        .then((revoked) => {
          if (revoked)
            (socket as { close(code: number, reason: string): void }).close(
              4403,
              'Forbidden: the access token was revoked',
            );
        })
        .catch((failure: unknown) =>
          logger.warn({ err: failure }, 'subscription revocation check failed'),
        );
    }
  }, options.revocationCheckMs ?? 5000);
  sweep.unref();

  return {
    stats: () => ({ connections: connections.size, subscriptions: subscriptionCount }),
    async stop() {
      clearInterval(sweep);
      for (const client of wsServer.clients) client.close(1001, 'Going away');
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}

/**
 * Reads the subscription's root field and its entity id, and rewrites the selection as the
 * query that resolves that entity (variables the rewrite no longer uses are dropped).
 */
function plan(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  inputs: Record<string, unknown>,
  claims: AccessTokenClaims | null,
): Plan | GraphQLError {
  const field = operation.selectionSet.selections[0];
  if (field?.kind !== Kind.FIELD || !(field.name.value in ROOTS)) {
    return error('Subscribe to orderStatusChanged or productChanged', 'BAD_USER_INPUT');
  }
  const root = field.name.value as RootName;
  const definition = schema.getSubscriptionType()?.getFields()[root];
  if (!definition) return error(`${root} is not in the schema`, 'GRAPHQL_VALIDATION_FAILED');
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], inputs);
  if (coerced.errors) return error(coerced.errors[0]!.message, 'BAD_USER_INPUT');
  const args = getArgumentValues(definition, field, coerced.coerced);
  const entityId = (args[ROOTS[root].argument] as string | null | undefined) ?? null;

  const queryField: FieldNode = {
    ...field,
    alias: field.alias ?? { kind: Kind.NAME, value: root },
    name: { kind: Kind.NAME, value: ROOTS[root].queryField },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'id' },
        value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: ID_VARIABLE } },
      },
    ],
  };
  const used = new Set<string>();
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  visit(
    {
      kind: Kind.DOCUMENT,
      definitions: [
        // The selection only: the variable definitions themselves are not uses.
        {
          ...operation,
          variableDefinitions: [],
          selectionSet: { kind: Kind.SELECTION_SET, selections: [queryField] },
        },
        ...fragments,
      ],
    },
    {
      Variable(node) {
        used.add(node.name.value);
      },
    },
  );
  const query: OperationDefinitionNode = {
    kind: Kind.OPERATION_DEFINITION,
    operation: OperationTypeNode.QUERY,
    ...(operation.name ? { name: operation.name } : {}),
    variableDefinitions: [
      ...(operation.variableDefinitions ?? []).filter((d) => used.has(d.variable.name.value)),
      {
        kind: Kind.VARIABLE_DEFINITION,
        variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: ID_VARIABLE } },
        type: {
          kind: Kind.NON_NULL_TYPE,
          type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'ID' } },
        },
      },
    ],
    directives: [],
    selectionSet: { kind: Kind.SELECTION_SET, selections: [queryField] },
  };
  const variables = Object.fromEntries(Object.entries(inputs).filter(([name]) => used.has(name)));
  return {
    root,
    entityId,
    rootKey: field.alias?.value ?? root,
    statusKeys: root === 'orderStatusChanged' ? statusKeysOf(field.selectionSet, fragments) : [],
    query: print({ kind: Kind.DOCUMENT, definitions: [query, ...fragments] }),
    ...(operation.name ? { operationName: operation.name.value } : {}),
    variables,
    claims,
    initial: null,
  };
}

/** A formatted error from the pipeline, as a GraphQLError graphql-ws can send. */
function toGraphQLError(formatted: GraphQLFormattedError): GraphQLError {
  return new GraphQLError(formatted.message, {
    ...(formatted.path ? { path: formatted.path } : {}),
    ...(formatted.extensions ? { extensions: formatted.extensions } : {}),
  });
}

const STATUS_RANK: Record<OrderStatus, number> = {
  PENDING: 0,
  CONFIRMED: 1,
  REJECTED: 1,
  CANCELLED: 2,
};

/** Response keys of the `status` fields selected on the root object, through fragments. */
function statusKeysOf(
  selectionSet: SelectionSetNode | undefined,
  fragments: readonly FragmentDefinitionNode[],
  seen = new Set<string>(),
): string[] {
  const keys: string[] = [];
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === 'status') keys.push(selection.alias?.value ?? 'status');
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      keys.push(...statusKeysOf(selection.selectionSet, fragments, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.find((f) => f.name.value === selection.name.value);
      keys.push(...statusKeysOf(fragment?.selectionSet, fragments, seen));
    }
  }
  return keys;
}

/** The order status a result shows, when its selection has one. */
function statusIn(result: FormattedExecutionResult, plan: Plan): OrderStatus | undefined {
  const order = result.data?.[plan.rootKey] as Record<string, unknown> | null | undefined;
  const status = plan.statusKeys.length > 0 ? order?.[plan.statusKeys[0]!] : undefined;
  return typeof status === 'string' && status in STATUS_RANK ? (status as OrderStatus) : undefined;
}

/** A copy of `result` whose root order shows `status` in every `status` field selected. */
function withStatus(
  result: FormattedExecutionResult,
  plan: Plan,
  status: OrderStatus,
): FormattedExecutionResult {
  const order = result.data?.[plan.rootKey];
  if (!order || typeof order !== 'object' || plan.statusKeys.length === 0) return result;
  const patched: Record<string, unknown> = { ...(order as Record<string, unknown>) };
  for (const key of plan.statusKeys) patched[key] = status;
  return { ...result, data: { ...result.data, [plan.rootKey]: patched } };
}
