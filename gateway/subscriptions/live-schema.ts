/**
 * What the subgraphs declare about their domain events, read from the composed supergraph:
 * the gateway knows no domain of its own. Subgraphs link the spec
 * `https://eventgraph.dev/live/v0.1` and compose its three directives into the supergraph
 * (`@composeDirective`):
 *
 * - `@lookup` on a `Query` field that returns one entity by its id (one `ID!` argument), e.g.
 *   `parcel(id: ID!): Parcel @lookup`. The gateway resolves an entity through it, with the
 *   caller's identity, so a subscription is authorised exactly like the query.
 * - `@changedBy(topic, events, key, when, set, version)`, repeatable, binds domain events to
 *   entities. `key` is the path in the event's data to the id of the entity it changes
 *   (arrays are walked: `items.parcelId` names every item's parcel); `when` keeps only
 *   events with one of the given values at a path (`changed=weight`); `set` gives the
 *   values the event leaves in the entity's fields (`status=DELIVERED`), which the update
 *   shows even when the entity has moved on since; `version` is the path to the entity's
 *   version after the event. On an entity type it lists every event that changes what a query
 *   of it can return (the response cache invalidates on them); on a `Subscription` field, the
 *   events its subscribers hear.
 * - `@liveEntity(argument, version, everyRequiresScopes)` on a `Subscription` field served from
 *   those events: `argument` names the entity id to follow (omitted by the client: every
 *   entity, which takes the scopes of one of `everyRequiresScopes`' lists), `version` the
 *   entity's field that grows with every change, so an update older than one already sent
 *   is never sent.
 *
 * A declaration the gateway cannot honour (an unknown event type, a subscription without a
 * lookup for its type, a malformed `set`) fails the load of the supergraph, naming where.
 */
import { Kind, getNamedType, isNonNullType, isScalarType, parse } from 'graphql';
import type { ConstDirectiveNode, FieldDefinitionNode, GraphQLSchema } from 'graphql';
import type { EventCatalogue } from '../../shared/events/index.ts';
import { argumentOf, linkedDirectiveNames, listOf } from '../supergraph/links.ts';

/** The spec subgraphs link to declare what their events change. */
export const LIVE_SPEC_URL = 'https://eventgraph.dev/live/v0.1';

/**
 * The spec's directives as a subgraph that links it defines them (a subgraph's SDL must
 * define the directives it composes; live-schema.test.ts holds every subgraph's to this).
 */
export const LIVE_SPEC_DEFINITIONS = `
directive @lookup on FIELD_DEFINITION
directive @changedBy(
  topic: String!
  events: [String!]!
  key: String!
  when: [String!]
  set: [String!]
  version: String
) repeatable on OBJECT | FIELD_DEFINITION
directive @liveEntity(
  argument: String
  version: String
  everyRequiresScopes: [[String!]!]
) on FIELD_DEFINITION
`;

/** A path into an event's data, e.g. `['items', 'productId']`. */
export type DataPath = readonly string[];

/** One `@changedBy`: which events of a topic change which entity, and what they leave in it. */
export interface EventBinding {
  readonly topic: string;
  readonly events: ReadonlySet<string>;
  readonly key: DataPath;
  /** Any one must hold (none: every event of `events`). */
  readonly when: readonly { readonly path: DataPath; readonly value: string }[];
  /** Field name → the value the event leaves there. */
  readonly set: Readonly<Record<string, string>>;
  readonly version: DataPath | null;
}

/** A root `Query` field that returns an entity by id. */
export interface Lookup {
  readonly field: string;
  /** Its one argument, of type `ID!`. */
  readonly idArgument: string;
}

/** An entity type whose changes the gateway hears (the response cache invalidates on them). */
export interface LiveEntity {
  readonly typename: string;
  readonly lookups: readonly Lookup[];
  readonly bindings: readonly EventBinding[];
}

/** A subscription field the gateway serves from events. */
export interface LiveSubscription {
  readonly field: string;
  /** The entity type it returns. */
  readonly typename: string;
  /** Resolves the client's selection. */
  readonly lookup: Lookup;
  /** The field argument naming the entity followed; null when it has none (always every one). */
  readonly argument: string | null;
  /** The entity's version field. */
  readonly version: string | null;
  /** Following every entity takes every scope of one of these lists; null: anyone may. */
  readonly everyRequiresScopes: readonly (readonly string[])[] | null;
  readonly bindings: readonly EventBinding[];
}

export interface LiveSchema {
  readonly subscriptions: ReadonlyMap<string, LiveSubscription>;
  readonly entities: readonly LiveEntity[];
  /** Every topic a binding names. */
  /** Every topic a binding names, with the event types bound on it. */
  readonly events: ReadonlyMap<string, ReadonlySet<string>>;
}

export const EMPTY_LIVE_SCHEMA: LiveSchema = {
  subscriptions: new Map(),
  entities: [],
  events: new Map(),
};

/** Reads the declarations of a supergraph; `apiSchema` is the schema clients see. */
export function readLiveSchema(
  supergraphSdl: string,
  apiSchema: GraphQLSchema,
  catalogue: EventCatalogue,
): LiveSchema {
  const supergraph = parse(supergraphSdl, { noLocation: true });
  const names = linkedDirectiveNames(
    supergraph,
    { name: 'live', isSpec: (url) => url.replace(/\/$/, '') === LIVE_SPEC_URL },
    ['lookup', 'changedBy', 'liveEntity'] as const,
  );
  if (!names) return EMPTY_LIVE_SCHEMA;
  const is = (directive: ConstDirectiveNode, name: 'lookup' | 'changedBy' | 'liveEntity') =>
    names.get(name)!.has(directive.name.value);

  const lookups = new Map<string, Lookup[]>();
  const entityBindings = new Map<string, EventBinding[]>();
  const subscriptionFields: { node: FieldDefinitionNode; live: ConstDirectiveNode | undefined }[] =
    [];

  for (const definition of supergraph.definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.OBJECT_TYPE_EXTENSION
    ) {
      continue;
    }
    const typename = definition.name.value;
    const bindings = (definition.directives ?? []).filter((d) => is(d, 'changedBy'));
    if (bindings.length > 0) {
      const list = entityBindings.get(typename) ?? [];
      list.push(...bindings.map((d) => binding(d, typename, catalogue)));
      entityBindings.set(typename, list);
    }
    for (const field of definition.fields ?? []) {
      const where = `${typename}.${field.name.value}`;
      const directives = field.directives ?? [];
      if (typename === 'Query' && directives.some((d) => is(d, 'lookup'))) {
        const lookup = lookupOf(apiSchema, field.name.value, where);
        const list = lookups.get(lookup.typename) ?? [];
        list.push({ field: field.name.value, idArgument: lookup.argument });
        lookups.set(lookup.typename, list);
      }
      const live = directives.find((d) => is(d, 'liveEntity'));
      if (live || directives.some((d) => is(d, 'changedBy'))) {
        if (typename !== 'Subscription') {
          throw new Error(
            `live schema: ${where}: @changedBy and @liveEntity go on Subscription fields or entity types`,
          );
        }
        subscriptionFields.push({ node: field, live });
      }
    }
  }

  const subscriptions = new Map<string, LiveSubscription>();
  for (const { node, live } of subscriptionFields) {
    const field = node.name.value;
    const where = `Subscription.${field}`;
    const definition = apiSchema.getSubscriptionType()?.getFields()[field];
    if (!definition) continue; // @inaccessible: clients cannot subscribe to it.
    const typename = getNamedType(definition.type).name;
    const [lookup, ...others] = lookups.get(typename) ?? [];
    if (!lookup || others.length > 0) {
      throw new Error(
        `live schema: ${where} returns ${typename}, which needs exactly one @lookup Query field (found ${others.length + (lookup ? 1 : 0)})`,
      );
    }
    const argument = live ? stringArgument(live, 'argument', where) : null;
    if (argument !== null && !definition.args.some((arg) => arg.name === argument)) {
      throw new Error(`live schema: ${where} has no argument ${argument}`);
    }
    const version = live ? stringArgument(live, 'version', where) : null;
    subscriptions.set(field, {
      field,
      typename,
      lookup,
      argument,
      version,
      everyRequiresScopes: live ? scopesArgument(live, where) : null,
      bindings: (node.directives ?? [])
        .filter((d) => is(d, 'changedBy'))
        .map((d) => binding(d, where, catalogue)),
    });
  }

  const entities = [...entityBindings].map(([typename, bindings]) => ({
    typename,
    lookups: lookups.get(typename) ?? [],
    bindings,
  }));
  const events = new Map<string, Set<string>>();
  for (const { bindings } of [...entities, ...subscriptions.values()]) {
    for (const binding of bindings) {
      const types = events.get(binding.topic) ?? new Set<string>();
      events.set(binding.topic, new Set([...types, ...binding.events]));
    }
  }
  return { subscriptions, entities, events };
}

function binding(
  directive: ConstDirectiveNode,
  where: string,
  catalogue: EventCatalogue,
): EventBinding {
  const at = `@changedBy on ${where}`;
  const topic = stringArgument(directive, 'topic', at);
  const key = stringArgument(directive, 'key', at);
  if (!topic || !key) throw new Error(`live schema: ${at} needs a topic and a key`);
  const events = stringList(directive, 'events', at);
  if (events.length === 0) throw new Error(`live schema: ${at} names no events`);
  for (const type of events) {
    if (!catalogue.latest(type)) {
      throw new Error(`live schema: ${at} names ${type}, which the event catalogue does not hold`);
    }
  }
  const pairs = (name: string) =>
    stringList(directive, name, at).map((entry) => {
      const separator = entry.indexOf('=');
      if (separator <= 0)
        throw new Error(`live schema: ${at}: ${name} entry "${entry}" is not path=value`);
      return { path: entry.slice(0, separator), value: entry.slice(separator + 1) };
    });
  const version = stringArgument(directive, 'version', at);
  return {
    topic,
    events: new Set(events),
    key: pathOf(key),
    when: pairs('when').map(({ path, value }) => ({ path: pathOf(path), value })),
    set: Object.fromEntries(pairs('set').map(({ path, value }) => [path, value])),
    version: version ? pathOf(version) : null,
  };
}

function lookupOf(
  apiSchema: GraphQLSchema,
  field: string,
  where: string,
): { typename: string; argument: string } {
  const definition = apiSchema.getQueryType()?.getFields()[field];
  const [argument, ...more] = definition?.args ?? [];
  const idType = argument && isNonNullType(argument.type) ? argument.type.ofType : undefined;
  if (
    !definition ||
    !argument ||
    more.length > 0 ||
    !isScalarType(idType) ||
    idType.name !== 'ID'
  ) {
    throw new Error(`live schema: @lookup ${where} must take exactly one argument, of type ID!`);
  }
  return { typename: getNamedType(definition.type).name, argument: argument.name };
}

const pathOf = (text: string): DataPath => text.split('.');

function stringArgument(directive: ConstDirectiveNode, name: string, where: string): string | null {
  const value = argumentOf(directive, name);
  if (value === undefined || value.kind === Kind.NULL) return null;
  if (value.kind !== Kind.STRING)
    throw new Error(`live schema: ${where}: ${name} must be a string`);
  return value.value;
}

function stringList(directive: ConstDirectiveNode, name: string, where: string): string[] {
  const value = argumentOf(directive, name);
  if (value === undefined || value.kind === Kind.NULL) return [];
  return listOf(value).map((entry) => {
    if (entry.kind !== Kind.STRING)
      throw new Error(`live schema: ${where}: ${name} must be strings`);
    return entry.value;
  });
}

function scopesArgument(directive: ConstDirectiveNode, where: string): string[][] | null {
  const value = argumentOf(directive, 'everyRequiresScopes');
  if (value === undefined || value.kind === Kind.NULL) return null;
  return listOf(value).map((inner) =>
    listOf(inner).map((scope) => {
      if (scope.kind !== Kind.STRING) {
        throw new Error(`live schema: ${where}: everyRequiresScopes must be [[String!]!]`);
      }
      return scope.value;
    }),
  );
}
