/**
 * GraphQL subscriptions on the gateway's own `/graphql` port, over graphql-ws, fed by the
 * domain events the subgraphs publish. @apollo/gateway cannot execute subscriptions, so the
 * gateway does it itself, from what the subgraph owning each subscription field declares
 * (live-schema.ts): the field follows an entity (or every entity of its type); whenever the
 * change feed reports an event the field is bound to, the gateway resolves the client's whole
 * selection set through the entity's `@lookup` query field and the normal federated pipeline
 * (authorization plugin, query plan, every subgraph), with the subscriber's identity, and
 * sends the result when it differs from the last one sent. The gateway knows no domain.
 *
 * Guarantees:
 * - Authenticated like HTTP: the access token in `connection_init` (`authorization:
 *   "Bearer …"`) is verified once; the connection closes (4401) when it expires and (4403)
 *   within `revocationCheckMs` of its revocation (logout, password change, role change…).
 * - Authorised like queries: the subscription document passes the same `@authenticated` /
 *   `@requiresScopes` policy before anything else, the entity is read through its lookup as
 *   the subscriber (so ownership rules apply: someone else's entity is refused before
 *   anything is sent), and following every entity takes the scopes the field declares.
 * - The current state first (so nothing between the mutation and the subscription is
 *   missed), then every change, in the order the events happened: an update is never older
 *   than one already sent (the entity's declared version, and the order the feed consumed
 *   the events in), and the fields an event sets (`set`) show the value it left, so each
 *   transition is told even when the entity has moved on since. Updates to one entity from
 *   one burst of events share one execution per distinct (selection, variables, caller),
 *   however many subscribe.
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
import type { AccessTokenVerifier } from '../authentication/access-tokens.ts';
import { createBoundedStream } from './bounded-stream.ts';
import type { BoundedStream } from './bounded-stream.ts';
import type { AccessPolicy } from '../authorization/access-policy.ts';
import type { Change, ChangeFeed } from './change-feed.ts';
import type { LiveSchema, LiveSubscription } from './live-schema.ts';
import { compareVersions } from './versions.ts';

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
  /** What the supergraph now serving declares about its event-fed subscription fields. */
  live: () => LiveSchema;
  /** Who may read what in the supergraph now serving (the queries' policy). */
  policy: () => AccessPolicy;
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

/** The variable the rewritten query takes the entity id in. */
const ID_VARIABLE = '__eventgraphEntityId';
/** The response key the rewritten query reads the entity's version under. */
const VERSION_KEY = '__eventgraphVersion';
/** Entities whose last update a subscription to every entity remembers, to keep order. */
const MAX_REMEMBERED = 10_000;

interface ConnectionState {
  claims: AccessTokenClaims | null;
  /** Ids of the subscriptions open on this connection. */
  subscriptions: Set<string>;
  /** Listeners of subscriptions prepared and not yet streaming, stopped if it closes first. */
  early: Set<() => void>;
  expiry?: NodeJS.Timeout;
}

/** What `onSubscribe` prepared for `subscribe`, handed over as the context value. */
interface Plan {
  field: LiveSubscription;
  /** The entity subscribed to; null for every entity of the type. */
  entityId: string | null;
  /** The selection as a query, and its variables (without the entity id). */
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  claims: AccessTokenClaims | null;
  /** The current state, sent first (entity subscriptions only). */
  initial: FormattedExecutionResult | null;
  /**
   * The changes the feed gave from before the current state was read until the stream
   * started, and the listener that keeps them (entity subscriptions only).
   */
  early: { changes: Change[]; stop: () => void } | null;
  /** The response key of the subscription field, e.g. its alias. */
  rootKey: string;
  /** Response keys of the root object's fields by field name, fragments included. */
  keysOf: (fieldName: string) => string[];
}

/** What a subscription last sent of one entity. */
interface Sent {
  /** The feed's number of the change it answered (0: the current state at subscription). */
  sequence: number;
  version: string | null;
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

  /**
   * One execution per distinct key at a time, shared by everyone who asks meanwhile, but only
   * by those who heard of no change after it started (`since`: the feed's number of the
   * change the caller answers): a result read before a change never stands for it.
   */
  const inFlight = new Map<string, { since: number; result: Promise<FormattedExecutionResult> }>();
  const shared = (key: string, since: number, run: () => Promise<FormattedExecutionResult>) => {
    const pending = inFlight.get(key);
    if (pending && pending.since >= since) return pending.result;
    const started = { since: feed?.sequence() ?? 0, result: run() };
    inFlight.set(key, started);
    void started.result
      .finally(() => {
        if (inFlight.get(key) === started) inFlight.delete(key);
      })
      .catch(() => undefined);
    return started.result;
  };

  const runPlan = (plan: Plan, entityId: string, since: number) => {
    // What a lookup answers may depend on who asks (ownership): callers share by identity.
    const caller = plan.claims?.sub ?? 'anonymous';
    const variables = { ...plan.variables, [ID_VARIABLE]: entityId };
    const key = `${plan.query}\u0000${JSON.stringify(variables)}\u0000${caller}`;
    return shared(key, since, () =>
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
    const scopes = state.claims ? state.claims.scope.split(' ').filter(Boolean) : null;
    const violations = options.policy().check({
      schema,
      document,
      operationName: payload.operationName ?? null,
      variables: payload.variables ?? null,
      scopes,
    });
    if (violations.length > 0) {
      return refused(
        violations.map((violation) =>
          clientError(violation.message, violation.code, { path: violation.path }),
        ),
      );
    }
    const planned = plan(
      schema,
      options.live(),
      document,
      operation,
      payload.variables ?? {},
      state.claims,
    );
    if (planned instanceof GraphQLError) return refused([planned]);

    const every = planned.field.everyRequiresScopes;
    if (!planned.entityId && every && !every.some((all) => all.every((s) => scopes?.includes(s)))) {
      const what = `Following every ${planned.field.typename} of Subscription.${planned.field.field}`;
      return refused([
        scopes
          ? error(
              `${what} takes the scopes ${every.map((all) => all.join(' + ')).join(' or ')}`,
              'FORBIDDEN',
            )
          : error(`You must be signed in: ${what}`, 'UNAUTHENTICATED'),
      ]);
    }
    if (planned.entityId && feed) {
      // Listening starts before the current state is read: a change the feed consumes while
      // it is read, or before the stream starts, is kept and handled first by the stream, so
      // none falls between the state and the changes.
      const changes: Change[] = [];
      const stop = feed.listen(planned.field.field, planned.entityId, (change) => {
        changes.push(change);
        if (changes.length > maxQueued) changes.shift();
      });
      const settle = () => {
        stop();
        state.early.delete(stop);
      };
      state.early.add(stop);
      // The current state: proves the caller may see it, and is the first update.
      const initial = await runPlan(planned, planned.entityId, feed.sequence());
      // Already through the funnel: the pipeline's own `formatError` shaped them.
      if (initial.errors?.length) {
        settle();
        return initial.errors.map(toGraphQLError);
      }
      const value = Object.values(initial.data ?? {})[0];
      if (value === null || value === undefined) {
        settle();
        return refused([error(`${planned.field.typename} not found`, 'NOT_FOUND')]);
      }
      planned.initial = initial;
      planned.early = { changes, stop: settle };
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
        const state: ConnectionState = { claims, subscriptions: new Set(), early: new Set() };
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
        for (const stop of state.early) stop();
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
    // What was last sent of each entity: an update answering an older change, or showing an
    // older version, is never sent after it.
    const sent = new Map<string, Sent>();
    const remember = (id: string, update: Sent) => {
      sent.delete(id);
      sent.set(id, update);
      if (sent.size > MAX_REMEMBERED) sent.delete(sent.keys().next().value!);
    };
    const isStale = (change: Change) => {
      const previous = sent.get(change.id);
      if (!previous) return false;
      if (change.sequence < previous.sequence) return true;
      return (
        change.version !== null &&
        previous.version !== null &&
        compareVersions(change.version, previous.version) <= 0
      );
    };
    if (planned.initial) {
      const { result, version } = withoutVersion(planned.initial, planned);
      if (planned.entityId) remember(planned.entityId, { sequence: 0, version });
      offer(result);
    }
    const onChange = (change: Change) => {
      if (updatesOut.ended || isStale(change)) return;
      runPlan(planned, change.id, change.sequence).then(
        (answer) => {
          if (updatesOut.ended || isStale(change)) return;
          const { result, version } = withoutVersion(answer, planned);
          remember(change.id, { sequence: change.sequence, version: change.version ?? version });
          offer(withValues(result, planned, change));
        },
        (failure: unknown) => {
          logger.error({ err: failure, change }, 'subscription update failed');
        },
      );
    };
    stopListening = feed!.listen(planned.field.field, planned.entityId, onChange);
    // The changes since the current state was read: in the same turn, so none is missed.
    if (planned.early) {
      planned.early.stop();
      for (const change of planned.early.changes) onChange(change);
    }
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
  live: LiveSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  inputs: Record<string, unknown>,
  claims: AccessTokenClaims | null,
): Plan | GraphQLError {
  const field = operation.selectionSet.selections[0];
  const served = field?.kind === Kind.FIELD ? live.subscriptions.get(field.name.value) : undefined;
  if (field?.kind !== Kind.FIELD || !served) {
    const names = [...live.subscriptions.keys()].join(', ') || 'none';
    return error(`Subscribe to one field that this gateway serves: ${names}`, 'BAD_USER_INPUT');
  }
  const root = field.name.value;
  const definition = schema.getSubscriptionType()?.getFields()[root];
  if (!definition) return error(`${root} is not in the schema`, 'GRAPHQL_VALIDATION_FAILED');
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], inputs);
  if (coerced.errors) return error(coerced.errors[0]!.message, 'BAD_USER_INPUT');
  const args = getArgumentValues(definition, field, coerced.coerced);
  const entityId = served.argument
    ? ((args[served.argument] as string | null | undefined) ?? null)
    : null;

  const version: FieldNode[] = served.version
    ? [
        {
          kind: Kind.FIELD,
          alias: { kind: Kind.NAME, value: VERSION_KEY },
          name: { kind: Kind.NAME, value: served.version },
        },
      ]
    : [];
  const queryField: FieldNode = {
    ...field,
    alias: field.alias ?? { kind: Kind.NAME, value: root },
    name: { kind: Kind.NAME, value: served.lookup.field },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: served.lookup.idArgument },
        value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: ID_VARIABLE } },
      },
    ],
    selectionSet: {
      kind: Kind.SELECTION_SET,
      selections: [...(field.selectionSet?.selections ?? []), ...version],
    },
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
  const keys = new Map<string, string[]>();
  return {
    field: served,
    entityId,
    rootKey: field.alias?.value ?? root,
    keysOf: (name) => {
      let found = keys.get(name);
      if (!found) keys.set(name, (found = responseKeysOf(name, field.selectionSet, fragments)));
      return found;
    },
    query: print({ kind: Kind.DOCUMENT, definitions: [query, ...fragments] }),
    ...(operation.name ? { operationName: operation.name.value } : {}),
    variables,
    claims,
    initial: null,
    early: null,
  };
}

/** A formatted error from the pipeline, as a GraphQLError graphql-ws can send. */
function toGraphQLError(formatted: GraphQLFormattedError): GraphQLError {
  return new GraphQLError(formatted.message, {
    ...(formatted.path ? { path: formatted.path } : {}),
    ...(formatted.extensions ? { extensions: formatted.extensions } : {}),
  });
}

/** Response keys of the fields named `name` selected on the root object, through fragments. */
function responseKeysOf(
  name: string,
  selectionSet: SelectionSetNode | undefined,
  fragments: readonly FragmentDefinitionNode[],
  seen = new Set<string>(),
): string[] {
  const keys: string[] = [];
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === name) keys.push(selection.alias?.value ?? name);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      keys.push(...responseKeysOf(name, selection.selectionSet, fragments, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.find((f) => f.name.value === selection.name.value);
      keys.push(...responseKeysOf(name, fragment?.selectionSet, fragments, seen));
    }
  }
  return keys;
}

/** The entity a result shows, when it shows one. */
function entityIn(result: FormattedExecutionResult, plan: Plan): Record<string, unknown> | null {
  const entity = result.data?.[plan.rootKey];
  return entity && typeof entity === 'object' ? (entity as Record<string, unknown>) : null;
}

/** The result as the client asked for it, and the entity's version it read. */
function withoutVersion(
  result: FormattedExecutionResult,
  plan: Plan,
): { result: FormattedExecutionResult; version: string | null } {
  const entity = entityIn(result, plan);
  if (!entity || !(VERSION_KEY in entity)) return { result, version: null };
  const { [VERSION_KEY]: version, ...rest } = entity;
  return {
    result: { ...result, data: { ...result.data, [plan.rootKey]: rest } },
    version: typeof version === 'string' || typeof version === 'number' ? String(version) : null,
  };
}

/**
 * A copy of `result` whose entity shows what `change` left in it: the values its event sets
 * and the version after it, in every selection of those fields.
 */
function withValues(
  result: FormattedExecutionResult,
  plan: Plan,
  change: Change,
): FormattedExecutionResult {
  const values: [string, string][] = Object.entries(change.set);
  if (change.version !== null && plan.field.version)
    values.push([plan.field.version, change.version]);
  const entity = entityIn(result, plan);
  if (!entity || values.length === 0) return result;
  const patched = { ...entity };
  for (const [field, value] of values) {
    for (const key of plan.keysOf(field)) patched[key] = value;
  }
  return { ...result, data: { ...result.data, [plan.rootKey]: patched } };
}
