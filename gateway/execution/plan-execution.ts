/**
 * Runs a query plan of @apollo/query-planner: its fetches go to the subgraphs' data sources
 * (the gateway's pooled client, with its token signing, retries, dedup and metrics), in the
 * plan's sequence and parallel order, and each answer is merged into one result tree in
 * place, at the path its `Flatten` names. Entity fetches send the representations the
 * fetch `requires`, gathered from what earlier fetches merged.
 *
 * The rules are @apollo/gateway's `executeQueryPlan` (representations, merging, rewrites,
 * error paths and codes), so an answer equals a plain gateway's. What differs is what is
 * not done: no usage-reporting trace nodes (such requests go to Apollo's executor), and no
 * copy of an answer before it is merged.
 *
 * Covered: Sequence, Parallel, Flatten, Fetch and Condition. Subscription and Defer plans
 * never reach here (the executor leaves them to Apollo's).
 */
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { applyRewrites, isObjectOfType } from '@apollo/gateway/dist/dataRewrites.js';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { generateHydratedPaths } from '@apollo/gateway/dist/executeQueryPlan.js';
import { ERRORS, errorCodeDef } from '@apollo/federation-internals';
import type {
  FetchNode,
  PlanNode,
  QueryPlanSelectionNode,
  ResponsePath,
} from '@apollo/query-planner';
import type {
  GatewayGraphQLRequestContext,
  GatewayGraphQLResponse,
} from '@apollo/server-gateway-interface';
import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';

/** Spans named as @apollo/gateway names them, so traces read the same with either executor. */
const tracer = trace.getTracer('eventgraph/gateway-executor');

/** What one execution of a plan shares. */
export interface PlanExecution {
  readonly requestContext: GatewayGraphQLRequestContext;
  /** The data source of each subgraph the plan may fetch from. */
  readonly services: ReadonlyMap<string, GraphQLDataSource>;
  /** The supergraph's schema: type conditions of representations and rewrites. */
  readonly supergraphSchema: GraphQLSchema;
  /** The request's variables, as the client sent them. */
  readonly variables: Readonly<Record<string, unknown>>;
  /** `Condition` nodes' variables: the request's, else the operation's defaults. */
  readonly conditionValue: (variable: string) => boolean;
  /** Errors of the fetches, in the order they were met. */
  readonly errors: unknown[];
}

interface Cursor {
  readonly path: ResponsePath;
  readonly data: unknown;
  readonly fullResult: Record<string, unknown>;
}

/** Executes `node` against `data` (the root of the result), filling it in place. */
export async function executePlan(
  execution: PlanExecution,
  node: PlanNode,
  data: Record<string, unknown>,
): Promise<void> {
  await executeNode(execution, node, { path: [], data, fullResult: data });
}

/**
 * Runs one node. Not itself async: a node that only hands on (Flatten, Fetch, Condition)
 * returns its child's promise instead of awaiting it in one more async frame.
 */
function executeNode(execution: PlanExecution, node: PlanNode, cursor: Cursor): Promise<void> {
  switch (node.kind) {
    case 'Sequence':
      return executeSequence(execution, node.nodes, cursor);
    case 'Parallel':
      return Promise.all(node.nodes.map((child) => executeNode(execution, child, cursor))).then(
        () => undefined,
      );
    case 'Flatten': {
      const data = flattenResultsAtPath(cursor.data, node.path);
      if (!data) return Promise.resolve();
      return executeNode(execution, node.node, {
        path: [...cursor.path, ...node.path],
        data,
        fullResult: cursor.fullResult,
      });
    }
    case 'Fetch':
      return executeFetch(execution, node, cursor).catch((error: unknown) => {
        execution.errors.push(error);
      });
    case 'Condition': {
      const branch = execution.conditionValue(node.condition) ? node.ifClause : node.elseClause;
      return branch ? executeNode(execution, branch, cursor) : Promise.resolve();
    }
    case 'Defer':
      return Promise.reject(new Error('@defer is not executed by the gateway'));
  }
}

async function executeSequence(
  execution: PlanExecution,
  nodes: readonly PlanNode[],
  cursor: Cursor,
): Promise<void> {
  for (const child of nodes) await executeNode(execution, child, cursor);
}

async function executeFetch(
  execution: PlanExecution,
  fetch: FetchNode,
  cursor: Cursor,
): Promise<void> {
  const service = execution.services.get(fetch.serviceName);
  if (!service) throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
  const entities: Record<string, unknown>[] = [];
  if (Array.isArray(cursor.data)) {
    for (const entity of cursor.data as unknown[]) {
      if (entity !== null && entity !== undefined) entities.push(entity as Record<string, unknown>);
    }
  } else {
    entities.push(cursor.data as Record<string, unknown>);
  }
  if (entities.length === 0) return;

  const variables: Record<string, unknown> = {};
  for (const name of fetch.variableUsages ?? []) {
    if (Object.hasOwn(execution.variables, name) && execution.variables[name] !== undefined) {
      setOwn(variables, name, execution.variables[name]);
    }
  }

  if (!fetch.requires) {
    const received = await send(execution, service, fetch, cursor, variables);
    if (received) applyRewrites(execution.supergraphSchema, fetch.outputRewrites, received);
    for (const entity of entities) mergeInto(entity, received);
    return;
  }

  // Each distinct representation is sent once: entities reached by several paths (the same
  // author of many reviews) share one. `sentAs[k]` is the representation the k-th entity
  // with one is answered by, `firstOf[r]` the first entity representation r answers.
  const representations: Record<string, unknown>[] = [];
  const entityOf: number[] = [];
  const sentAs: number[] = [];
  const firstOf: number[] = [];
  const known = representationIndex();
  const flat = flatRequiresOf(fetch);
  for (let index = 0; index < entities.length; index++) {
    const entity = entities[index]!;
    if (flat) {
      // The usual case, read off the entity with nothing made for a representation seen
      // before; a new one is made once, with the fields in the order the slow path uses.
      if (!isObjectOfType(execution.supergraphSchema, entity, flat.typeCondition)) continue;
      if (!entity['__typename']) continue;
      const sent = known.flat(entity, flat.fields, representations.length);
      if (sent !== undefined) {
        if (sent === representations.length) {
          const representation: Record<string, unknown> = {};
          for (const field of flat.fields) representation[field] = entity[field];
          representations.push(representation);
          firstOf.push(entityOf.length);
        }
        sentAs.push(sent);
        entityOf.push(index);
        continue;
      }
      // A field missing, or holding an object: the slow path decides.
    }
    const representation = selectRepresentation(execution.supergraphSchema, entity, fetch.requires);
    if (representation && representation['__typename']) {
      applyRewrites(execution.supergraphSchema, fetch.inputRewrites, representation);
      const sent = known.of(representation, representations.length);
      if (sent === representations.length) {
        representations.push(representation);
        firstOf.push(entityOf.length);
      }
      sentAs.push(sent);
      entityOf.push(index);
    }
  }
  if (representations.length === 0) return;
  if ('representations' in variables)
    throw new Error(`Variables cannot contain key "representations"`);
  variables['representations'] = representations;
  const received = await send(execution, service, fetch, cursor, variables, sentAs);
  if (!received) return;
  const answered = received['_entities'];
  if (!Array.isArray(answered))
    throw new Error(`Expected "data._entities" in response to be an array`);
  if (answered.length !== representations.length) {
    throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
  }
  for (let r = 0; r < answered.length; r++) {
    const entity = answered[r] as Record<string, unknown> | null | undefined;
    if (!entity) continue;
    if (!entity['__typename']) {
      entity['__typename'] = entities[entityOf[firstOf[r]!]!]!['__typename'];
    }
    applyRewrites(execution.supergraphSchema, fetch.outputRewrites, entity);
  }
  for (let k = 0; k < entityOf.length; k++) {
    mergeInto(entities[entityOf[k]!]!, answered[sentAs[k]!]);
  }
}

/**
 * Sends one fetch under a `gateway.fetch` span; its errors join the execution's. Without a
 * recording span (tracing off, or the trace not sampled) the fetch runs in the request's
 * context as it is, with no context switch and no promise to end the span on.
 */
function send(
  execution: PlanExecution,
  service: GraphQLDataSource,
  fetch: FetchNode,
  cursor: Cursor,
  variables: Record<string, unknown>,
  /** For an entity fetch: the representation each entity with one (by position) is answered by. */
  sentAs?: readonly number[],
): Promise<Record<string, unknown> | null | undefined> {
  const { requestContext } = execution;
  const request: GraphQLDataSourceProcessOptions = {
    kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
    request: {
      query: fetch.operation,
      variables,
      ...(fetch.operationName !== undefined ? { operationName: fetch.operationName } : {}),
    },
    incomingRequestContext: requestContext,
    context: requestContext.context,
    ...(fetch.operationDocumentNode ? { document: fetch.operationDocumentNode } : {}),
    pathInIncomingRequest: cursor.path,
  };
  const span = tracer.startSpan('gateway.fetch', { attributes: { service: fetch.serviceName } });
  let answered: Promise<GatewayGraphQLResponse>;
  if (span.isRecording()) {
    try {
      answered = context.with(trace.setSpan(context.active(), span), () =>
        service.process(request),
      );
    } catch (error) {
      answered = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    answered.then(
      () => span.end(),
      (error: unknown) => {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    );
  } else {
    span.end();
    answered = service.process(request);
  }
  return answered.then((response) => received(execution, fetch, cursor, response, sentAs));
}

/** A fetch's answer: its errors join the execution's, its data goes on to be merged. */
function received(
  execution: PlanExecution,
  fetch: FetchNode,
  cursor: Cursor,
  response: GatewayGraphQLResponse,
  sentAs: readonly number[] | undefined,
): Record<string, unknown> | null | undefined {
  const { requestContext } = execution;
  if (response.errors) {
    const pathsOf = lazyErrorPaths(fetch, cursor, sentAs);
    for (const error of response.errors) {
      for (const path of pathsOf(error.path)) {
        execution.errors.push(downstreamServiceError(error, fetch.serviceName, path));
      }
    }
    const metrics = requestContext.metrics;
    if (!response.extensions?.['ftv1']) {
      const paths = response.errors.map((error) => ({
        subgraph: fetch.serviceName,
        path: error.path,
      }));
      if (metrics.nonFtv1ErrorPaths) metrics.nonFtv1ErrorPaths.push(...paths);
      else metrics.nonFtv1ErrorPaths = paths;
    }
  }
  return response.data as Record<string, unknown> | null | undefined;
}

/**
 * Merges a fetch's answer into what is already there, in place: objects key by key, lists
 * of the same length element by element, anything else replaced (Apollo's `deepMerge`).
 */
function mergeInto(target: Record<string, unknown>, source: unknown): void {
  if (source === undefined || source === null) return;
  const from = source as Record<string, unknown>;
  // for…in: the answer's objects come from JSON.parse, so they have no enumerable
  // inherited keys, and no array of keys is made per object.
  for (const key in from) {
    const value = from[key];
    if (value === undefined) continue;
    // An inherited member (a function of Object.prototype) is no value to merge into.
    const existing = target[key];
    if (typeof existing === 'object' && existing !== null && isPlainObject(value)) {
      if (key === '__proto__' && !Object.hasOwn(target, key)) setOwn(target, key, value);
      else mergeInto(existing as Record<string, unknown>, value);
    } else if (
      Array.isArray(value) &&
      Array.isArray(existing) &&
      value.length === existing.length
    ) {
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        if (isPlainObject(existing[i]) && isPlainObject(element)) {
          mergeInto(existing[i] as Record<string, unknown>, element);
        } else {
          existing[i] = element;
        }
      }
    } else {
      setOwn(target, key, value);
    }
  }
}

/** `object[key] = value` as an own property, `__proto__` included. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    object[key] = value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** No value yet (a value of JSON is never this). */
const NONE = Symbol('none');

/**
 * Tells the representations of one fetch apart: `of` returns the index of an equal one seen
 * before, else records and returns `next`. Flat representations (the usual `__typename`
 * and key) are found through a trie of Maps keyed by their values themselves, the last
 * value leading to the index: no key string to build and hash. Nested ones, and any whose
 * shape does not fit the trie, by their JSON. `flat` looks a representation up (or records
 * it) by the values of `fields` of the entity itself, in the order `of` would walk its
 * representation; undefined, recording nothing, when a value is missing or an object.
 */
function representationIndex(): {
  of(representation: Record<string, unknown>, next: number): number;
  flat(
    entity: Record<string, unknown>,
    fields: readonly string[],
    next: number,
  ): number | undefined;
} {
  const trie = new Map<unknown, unknown>();
  const byJson = new Map<string, number>();
  const asJson = (representation: Record<string, unknown>, next: number): number => {
    const key = JSON.stringify(representation);
    const found = byJson.get(key);
    if (found !== undefined) return found;
    byJson.set(key, next);
    return next;
  };
  return {
    of(representation, next) {
      let node = trie;
      let pending: unknown = NONE;
      for (const field in representation) {
        const value = representation[field];
        if (typeof value === 'object' && value !== null) return asJson(representation, next);
        if (pending !== NONE) {
          let child = node.get(pending);
          if (child === undefined) {
            child = new Map();
            node.set(pending, child);
          } else if (!(child instanceof Map)) {
            return asJson(representation, next);
          }
          node = child as Map<unknown, unknown>;
        }
        pending = value;
      }
      const found = node.get(pending);
      if (typeof found === 'number') return found;
      if (found !== undefined) return asJson(representation, next);
      node.set(pending, next);
      return next;
    },
    flat(entity, fields, next) {
      for (const field of fields) {
        const value = entity[field];
        if (value === undefined || typeof value === 'function') return undefined;
        if (typeof value === 'object' && value !== null) return undefined;
      }
      let node = trie;
      const last = fields.length - 1;
      for (let i = 0; i < last; i++) {
        const value = entity[fields[i]!];
        let child = node.get(value);
        if (child === undefined) {
          child = new Map();
          node.set(value, child);
        } else if (!(child instanceof Map)) {
          return undefined;
        }
        node = child as Map<unknown, unknown>;
      }
      const found = node.get(entity[fields[last]!]);
      if (typeof found === 'number') return found;
      if (found !== undefined) return undefined;
      node.set(entity[fields[last]!], next);
      return next;
    },
  };
}

/** A fetch's `requires` when it is one type condition over plain fields, `__typename` among them. */
interface FlatRequires {
  readonly typeCondition: string;
  /** The fields, in selection order, each once. */
  readonly fields: readonly string[];
}

const flatRequiresByFetch = new WeakMap<FetchNode, FlatRequires | null>();

/**
 * The fetch's `requires` as a flat list of fields, when it is that simple (one inline
 * fragment with a type condition, fields without aliases, arguments or selections, no
 * field twice, `__typename` among them, and no input rewrites); null otherwise. Read once
 * per plan node.
 */
function flatRequiresOf(fetch: FetchNode): FlatRequires | null {
  let flat = flatRequiresByFetch.get(fetch);
  if (flat !== undefined) return flat;
  flat = null;
  const [only, ...rest] = fetch.requires ?? [];
  if (
    only?.kind === 'InlineFragment' &&
    only.typeCondition &&
    rest.length === 0 &&
    !fetch.inputRewrites?.length
  ) {
    const fields: string[] = [];
    for (const selection of only.selections) {
      if (selection.kind !== 'Field' || selection.alias || selection.selections) {
        fields.length = 0;
        break;
      }
      if (fields.includes(selection.name)) {
        fields.length = 0;
        break;
      }
      fields.push(selection.name);
    }
    if (fields.includes('__typename')) flat = { typeCondition: only.typeCondition, fields };
  }
  flatRequiresByFetch.set(fetch, flat);
  return flat;
}

/** The representation of an entity a fetch requires (Apollo's `executeSelectionSet`). */
function selectRepresentation(
  schema: GraphQLSchema,
  source: Record<string, unknown> | null,
  selections: readonly QueryPlanSelectionNode[],
): Record<string, unknown> | null {
  if (source === null) return null;
  // The usual `requires`, one fragment on the entity's type: its selection is the whole
  // representation (a fragment that does not apply, or lacks a field, adds nothing).
  if (selections.length === 1) {
    const [only] = selections;
    if (only!.kind === 'InlineFragment') {
      if (!only!.typeCondition || !isObjectOfType(schema, source, only!.typeCondition)) return {};
      return selectRepresentation(schema, source, only!.selections) ?? {};
    }
  }
  // Plain objects (no field is named __proto__: GraphQL reserves names starting with __).
  const result: Record<string, unknown> = {};
  for (const selection of selections) {
    if (selection.kind === 'Field') {
      const responseName = selection.alias ?? selection.name;
      const value = source[responseName];
      // A function is a member of Object.prototype, never a value of JSON: absent.
      if (value === undefined || typeof value === 'function') return null;
      const inner = selection.selections;
      if (Array.isArray(value)) {
        result[responseName] = value.map((element: unknown) =>
          inner
            ? selectRepresentation(schema, element as Record<string, unknown> | null, inner)
            : element,
        );
      } else if (inner) {
        result[responseName] = selectRepresentation(
          schema,
          value as Record<string, unknown> | null,
          inner,
        );
      } else {
        result[responseName] = value;
      }
    } else if (selection.typeCondition && isObjectOfType(schema, source, selection.typeCondition)) {
      mergeInto(result, selectRepresentation(schema, source, selection.selections));
    }
  }
  return result;
}

/**
 * The value at `path` of the result, lists flattened at each `@` (Apollo's rules): the value
 * itself when `path` has no `@`, else one array of everything found.
 */
function flattenResultsAtPath(value: unknown, path: ResponsePath): unknown {
  if (!path.includes('@')) return valueAt(value, path, 0);
  const found: unknown[] = [];
  collect(value, path, 0, found);
  return found;
}

/** Follows the field names of `path` from `start` up to its end or its next `@`. */
function valueAt(value: unknown, path: ResponsePath, start: number, end = path.length): unknown {
  let current = value;
  for (let i = start; i < end; i++) {
    if (current === undefined || current === null) return current;
    const element = path[i]!;
    if (typeof element !== 'string') throw new Error(`Unexpected ${typeof element} found in path`);
    if (Array.isArray(current))
      throw new Error(`Unexpected array in result for path element ${element}`);
    const object = current as Record<string, unknown>;
    current = Object.hasOwn(object, element) ? object[element] : undefined;
  }
  return current;
}

/** Pushes what `path` from `start` reaches into `found`, each `@` spreading a list. */
function collect(value: unknown, path: ResponsePath, start: number, found: unknown[]): void {
  const at = path.indexOf('@', start);
  const end = at === -1 ? path.length : at;
  const reached = valueAt(value, path, start, end);
  if (at === -1) {
    // Apollo's flatMap spreads a list found at the end of the path, and keeps a null.
    if (Array.isArray(reached)) for (const item of reached as unknown[]) found.push(item);
    else found.push(reached);
    return;
  }
  if (reached === undefined || reached === null) {
    found.push(reached);
    return;
  }
  for (const item of reached as unknown[]) collect(item, path, at + 1, found);
}

/**
 * Where a subgraph error lies in the client's answer (computed when first asked): for an
 * error of an entity fetch, the place of every entity its representation answered — as
 * many errors as a plain gateway, which sends each entity's representation, would report.
 */
function lazyErrorPaths(
  fetch: FetchNode,
  cursor: Cursor,
  sentAs: readonly number[] | undefined,
): (path: readonly (string | number)[] | undefined) => ((string | number)[] | undefined)[] {
  let hydrated: (string | number)[][] | undefined;
  return (path) => {
    const index = path?.[1];
    if (fetch.requires && path && typeof index === 'number') {
      if (!hydrated) {
        hydrated = [];
        generateHydratedPaths([], cursor.path, cursor.fullResult, hydrated);
      }
      const places: number[] = [];
      if (sentAs) sentAs.forEach((sent, place) => sent === index && places.push(place));
      else places.push(index);
      return places.map((place) => [...(hydrated![place] ?? []), ...path.slice(2)]);
    }
    return [path ? [...cursor.path, ...path] : undefined];
  };
}

/** A subgraph's error as the client's, with the subgraph named (Apollo's rules and codes). */
function downstreamServiceError(
  original: GraphQLFormattedError,
  serviceName: string,
  path: (string | number)[] | undefined,
): GraphQLError {
  const message = original.message || `Error while fetching subquery from service "${serviceName}"`;
  const extensions = original.extensions;
  const options = {
    originalError: original as Error,
    path,
    extensions: { ...extensions, serviceName },
  };
  const code = errorCodeDef(original);
  if (!code && extensions?.['code']) return new GraphQLError(message, options);
  return (code ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}
