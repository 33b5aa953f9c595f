/**
 * Which cached entities a query's response depends on: a pure decision over the API schema,
 * the operation and its variables, so the response cache can drop exactly the responses an
 * event makes stale.
 *
 * For each tracked entity type (e.g. `Book`) a response gets
 * - `Book:<id>` when a root field is a lookup by id (`book(id: $id)`): the id comes from
 *   the arguments, so a lookup that found nothing is tagged too;
 * - `Book:*` (the collection) when any other selected root field can reach a `Book`
 *   through the schema (`books`, a shelf's items, ...), and when a lookup's own type can
 *   reach another tracked entity. A list's membership, order and page boundaries change when
 *   any member changes (a rename changes a search; a loan changes `available`).
 *
 * Reachability is over the schema, not the selection: it over-tags (harmless: an extra
 * invalidation) and never misses a dependency. Aliases, fragments and directives on root
 * fields are followed; `@skip`/`@include` are ignored (a skipped field still tags).
 */
import {
  Kind,
  OperationTypeNode,
  getNamedType,
  isCompositeType,
  isAbstractType,
  valueFromASTUntyped,
} from 'graphql';
import type {
  FragmentDefinitionNode,
  GraphQLNamedType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
} from 'graphql';

/** An entity type the change feed reports changes of. */
export interface TrackedEntity {
  /** The GraphQL type, e.g. `Book`. */
  typename: string;
  /** Root query fields that return one entity by id, e.g. `{ field: 'book', idArgument: 'id' }`. */
  lookups: readonly { field: string; idArgument: string }[];
}

/** The tag of one entity, or of every entity of a type (`id` null). */
export function entityTag(typename: string, id: string | null): string {
  return `${typename}:${id ?? '*'}`;
}

/** Type names reachable from each named type through fields (and possible types), memoised per schema. */
const reachableBySchema = new WeakMap<GraphQLSchema, Map<string, ReadonlySet<string>>>();

/** Named types reachable from `type`'s fields (not `type` itself, unless a field leads back). */
function reachableFrom(schema: GraphQLSchema, type: GraphQLNamedType): ReadonlySet<string> {
  let memo = reachableBySchema.get(schema);
  if (!memo) reachableBySchema.set(schema, (memo = new Map<string, ReadonlySet<string>>()));
  const known = memo.get(type.name);
  if (known) return known;
  const seen = new Set<string>();
  const stack: GraphQLNamedType[] = [...childrenOf(schema, type)];
  while (stack.length) {
    const next = stack.pop()!;
    if (seen.has(next.name)) continue;
    seen.add(next.name);
    stack.push(...childrenOf(schema, next));
  }
  memo.set(type.name, seen);
  return seen;
}

function childrenOf(schema: GraphQLSchema, type: GraphQLNamedType): GraphQLNamedType[] {
  if (!isCompositeType(type)) return [];
  if (isAbstractType(type)) return [...schema.getPossibleTypes(type)];
  return Object.values(type.getFields()).map((field) => getNamedType(field.type));
}

/**
 * The tags of a query's response, or null when the operation is not one the cache can track
 * (not a query, a root field the schema does not have, a lookup without a usable id).
 */
export function entityTagsOf(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Readonly<Record<string, FragmentDefinitionNode>>,
  variables: Readonly<Record<string, unknown>>,
  entities: readonly TrackedEntity[],
): string[] | null {
  const queryType = schema.getQueryType();
  if (operation.operation !== OperationTypeNode.QUERY || !queryType) return null;
  const tracked = new Set(entities.map((entity) => entity.typename));
  const tags = new Set<string>();
  const collections = (reachable: Iterable<string>) => {
    for (const name of reachable) if (tracked.has(name)) tags.add(entityTag(name, null));
  };
  const visited = new Set<string>();
  const walk = (selectionSet: SelectionSetNode): boolean => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!walk(selection.selectionSet)) return false;
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments[name];
        if (!fragment) return false;
        if (visited.has(name)) continue;
        visited.add(name);
        if (!walk(fragment.selectionSet)) return false;
        continue;
      }
      const name = selection.name.value;
      if (name.startsWith('__')) continue;
      const field = queryType.getFields()[name];
      if (!field) return false;
      const type = getNamedType(field.type);
      const entity = entities.find(
        (candidate) =>
          candidate.typename === type.name &&
          candidate.lookups.some((lookup) => lookup.field === name),
      );
      if (entity) {
        const { idArgument } = entity.lookups.find((lookup) => lookup.field === name)!;
        const argument = selection.arguments?.find((arg) => arg.name.value === idArgument);
        if (!argument) return false;
        const id = valueFromASTUntyped(argument.value, variables);
        if (typeof id !== 'string' && typeof id !== 'number') return false;
        tags.add(entityTag(entity.typename, String(id)));
      } else {
        collections([type.name]);
      }
      collections(reachableFrom(schema, type));
    }
    return true;
  };
  return walk(operation.selectionSet) ? [...tags].sort() : null;
}
