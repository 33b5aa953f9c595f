/**
 * Limits on the shape of an operation — depth, aliases and cost — checked at the gateway
 * before anything is planned or sent to a subgraph. `measureDocument` is the pure measure;
 * `limitsValidationRule` reports what exceeds the limits as validation errors.
 *
 * A validation rule rather than a request hook: Apollo Server validates a document once and
 * keeps it in its document cache, so the measure runs once per distinct document, not per
 * request, and a refusal is an ordinary `GRAPHQL_VALIDATION_FAILED` (HTTP 400). The rule
 * measures every operation of the document and refuses the document when any exceeds a
 * limit; the message names the limit and the value ("Query depth 14 exceeds the limit of
 * 12"), and `extensions.limit` says the same as data: `{ name, maximum, actual }`.
 *
 * The cost model (documented in README, "Limits"), chosen to be simple and predictable:
 * - every field selected costs 1; `__typename` and introspection fields cost nothing and add
 *   no depth (introspection has its own switch, GATEWAY_INTROSPECTION);
 * - a field that takes `first` or `limit` multiplies the cost of its selection by that
 *   argument: the literal value; `PAGE_SIZE_MAX` (100) when it comes from a variable (the
 *   value is not known when the document is validated); the argument's default, or
 *   `PAGE_SIZE_DEFAULT` (20), when it is absent. Its list-typed children (a connection's
 *   `edges`) then count once;
 * - any other list field multiplies the cost of its selection by `DEFAULT_LIST_SIZE` (10).
 * Fragments are expanded where they are spread; depth counts nested fields (a top-level
 * field is depth 1). Aliases are counted as written in the document.
 *
 * The walk is memoised per fragment and guards against (invalid) fragment cycles, so it is
 * linear in the document and terminates on anything the parser accepts.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind, getNamedType, getNullableType, isListType } from 'graphql';
import type {
  ASTVisitor,
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql';
import { clientError } from '../../shared/errors/index.ts';
import { PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX } from '../../shared/server/index.ts';

/** How much a list field without a `first`/`limit` argument multiplies its selection by. */
export const DEFAULT_LIST_SIZE = 10;

/** Arguments that size the list a field returns. */
const SIZE_ARGUMENTS = ['first', 'limit'];

export interface OperationLimits {
  /** Deepest field nesting allowed (GATEWAY_MAX_DEPTH). @default 12 */
  maxDepth: number;
  /** Aliases allowed in one document (GATEWAY_MAX_ALIASES). @default 30 */
  maxAliases: number;
  /**
   * Highest cost allowed under the cost model above (GATEWAY_MAX_COST): a full page (100) of
   * entities, each with a list of 10 items of two fields, costs a few thousand. @default 20000
   */
  maxCost: number;
}

export const DEFAULT_OPERATION_LIMITS: OperationLimits = {
  maxDepth: 12,
  maxAliases: 30,
  maxCost: 20000,
};

/** The measure of a document: the largest depth and cost of its operations, and its aliases. */
export interface DocumentMeasure {
  readonly depth: number;
  readonly aliases: number;
  readonly cost: number;
}

/** One limit a document exceeds. */
export interface LimitViolation {
  name: 'depth' | 'aliases' | 'cost';
  maximum: number;
  actual: number;
  message: string;
}

interface Measured {
  depth: number;
  cost: number;
}

/** Measures already taken, by document (a parsed document is immutable; Apollo Server keeps one per text). */
const measured = new WeakMap<DocumentNode, { schema: GraphQLSchema; measure: DocumentMeasure }>();

/**
 * Measures a parsed document against `schema` (fields the schema lacks count as scalars),
 * once per document and schema.
 */
export function measureDocument(schema: GraphQLSchema, document: DocumentNode): DocumentMeasure {
  const known = measured.get(document);
  if (known?.schema === schema) return known.measure;
  const measure = Object.freeze(measureAnew(schema, document));
  measured.set(document, { schema, measure });
  return measure;
}

function measureAnew(schema: GraphQLSchema, document: DocumentNode): DocumentMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let aliases = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const countAliases = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD && selection.alias) aliases++;
      if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet) {
        countAliases(selection.selectionSet);
      }
    }
  };

  const memo = new Map<string, Measured>();
  const expanding = new Set<string>();

  /** `sized`: the enclosing field took `first`/`limit`, so list children count once. */
  const measureSet = (
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType | undefined,
    sized: boolean,
  ): Measured => {
    let depth = 0;
    let cost = 0;
    for (const selection of selectionSet.selections) {
      let inner: Measured;
      switch (selection.kind) {
        case Kind.FIELD:
          inner = measureField(selection, parentType, sized);
          break;
        case Kind.INLINE_FRAGMENT: {
          const condition = selection.typeCondition?.name.value;
          inner = measureSet(
            selection.selectionSet,
            condition ? schema.getType(condition) : parentType,
            sized,
          );
          break;
        }
        case Kind.FRAGMENT_SPREAD:
          inner = measureFragment(selection.name.value, sized);
          break;
      }
      depth = Math.max(depth, inner.depth);
      cost += inner.cost;
    }
    return { depth, cost };
  };

  const measureFragment = (name: string, sized: boolean): Measured => {
    const key = `${name}|${sized}`;
    const known = memo.get(key);
    if (known) return known;
    const fragment = fragments.get(name);
    // Unknown fragments and cycles are validation errors of their own; they add nothing here.
    if (!fragment || expanding.has(key)) return { depth: 0, cost: 0 };
    expanding.add(key);
    const measured = measureSet(
      fragment.selectionSet,
      schema.getType(fragment.typeCondition.name.value),
      sized,
    );
    expanding.delete(key);
    memo.set(key, measured);
    return measured;
  };

  const measureField = (
    node: FieldNode,
    parentType: GraphQLNamedType | undefined,
    sized: boolean,
  ): Measured => {
    if (node.name.value.startsWith('__')) return { depth: 0, cost: 0 };
    const field = fieldOf(parentType, node.name.value);
    let multiplier = 1;
    let sizesChildren = false;
    const sizeArgument = field?.args.find((arg) => SIZE_ARGUMENTS.includes(arg.name));
    if (sizeArgument) {
      multiplier = listSize(node, sizeArgument.name, sizeArgument.defaultValue);
      sizesChildren = true;
    } else if (field && isListType(getNullableType(field.type)) && !sized) {
      multiplier = DEFAULT_LIST_SIZE;
    }
    if (!node.selectionSet) return { depth: 1, cost: 1 };
    const inner = measureSet(
      node.selectionSet,
      field ? getNamedType(field.type) : undefined,
      sizesChildren,
    );
    return { depth: 1 + inner.depth, cost: 1 + multiplier * inner.cost };
  };

  let depth = 0;
  let cost = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      countAliases(definition.selectionSet);
    } else if (definition.kind === Kind.OPERATION_DEFINITION) {
      countAliases(definition.selectionSet);
      const measured = measureSet(
        definition.selectionSet,
        schema.getRootType(definition.operation) ?? undefined,
        false,
      );
      depth = Math.max(depth, measured.depth);
      cost = Math.max(cost, measured.cost);
    }
  }
  return { depth, aliases, cost };
}

function fieldOf(
  parentType: GraphQLNamedType | undefined,
  name: string,
): GraphQLField<unknown, unknown> | undefined {
  if (!parentType || !('getFields' in parentType)) return undefined;
  return (parentType.getFields() as Record<string, GraphQLField<unknown, unknown>>)[name];
}

/** What a `first`/`limit` argument counts as: literal, page maximum for a variable, default. */
function listSize(node: FieldNode, argumentName: string, schemaDefault: unknown): number {
  const value = node.arguments?.find((arg) => arg.name.value === argumentName)?.value;
  if (!value || value.kind === Kind.NULL) {
    return typeof schemaDefault === 'number' ? schemaDefault : PAGE_SIZE_DEFAULT;
  }
  if (value.kind === Kind.INT) return Math.max(0, Number(value.value));
  return PAGE_SIZE_MAX;
}

/** The limits `measure` exceeds, in the order depth, aliases, cost. */
export function violations(measure: DocumentMeasure, limits: OperationLimits): LimitViolation[] {
  const found: LimitViolation[] = [];
  if (measure.depth > limits.maxDepth) {
    found.push({
      name: 'depth',
      maximum: limits.maxDepth,
      actual: measure.depth,
      message: `Query depth ${measure.depth} exceeds the limit of ${limits.maxDepth}`,
    });
  }
  if (measure.aliases > limits.maxAliases) {
    found.push({
      name: 'aliases',
      maximum: limits.maxAliases,
      actual: measure.aliases,
      message: `Query uses ${measure.aliases} aliases, over the limit of ${limits.maxAliases}`,
    });
  }
  if (measure.cost > limits.maxCost) {
    const shown = Number.isFinite(measure.cost) ? String(measure.cost) : 'beyond counting';
    found.push({
      name: 'cost',
      maximum: limits.maxCost,
      actual: Number.isFinite(measure.cost) ? measure.cost : Number.MAX_SAFE_INTEGER,
      message: `Query cost ${shown} exceeds the limit of ${limits.maxCost}`,
    });
  }
  return found;
}

/**
 * A validation rule (Apollo Server's `validationRules`, or graphql-js `validate`) that
 * reports each limit the document exceeds as one error with `extensions.limit`.
 */
export function limitsValidationRule(limits: OperationLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    Document: {
      leave(document) {
        const measure = measureDocument(context.getSchema(), document);
        for (const violation of violations(measure, limits)) {
          context.reportError(
            new GraphQLError(violation.message, {
              extensions: {
                limit: {
                  name: violation.name,
                  maximum: violation.maximum,
                  actual: violation.actual,
                },
              },
            }),
          );
        }
      },
    },
  });
}

/**
 * Holds a batch to the cost ceiling of one operation: every operation of an HTTP request
 * (its context's `spent`) adds its cost, and those past `maxCost` in all are refused, as an
 * operation that alone exceeded it would be (its own check is the validation rule).
 */
export function batchCostPlugin<TContext extends BaseContext & { spent?: { cost: number } }>(
  limits: Pick<OperationLimits, 'maxCost'>,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, schema, contextValue }) {
          const { spent } = contextValue;
          if (!spent) return;
          spent.cost += measureDocument(schema, document).cost;
          if (spent.cost <= limits.maxCost) return;
          const shown = Number.isFinite(spent.cost) ? String(spent.cost) : 'beyond counting';
          throw clientError(
            `The batch's total cost ${shown} exceeds the limit of ${limits.maxCost}`,
            'GRAPHQL_VALIDATION_FAILED',
            {
              extensions: {
                limit: {
                  name: 'batchCost',
                  maximum: limits.maxCost,
                  actual: Number.isFinite(spent.cost) ? spent.cost : Number.MAX_SAFE_INTEGER,
                },
                http: { status: 400 },
              },
            },
          );
        },
      };
    },
  };
}
