/**
 * The last step of the gateway's own executor: the subgraphs' data, merged by the query
 * plan, shaped into the client's answer — only the fields the operation asked for, in its
 * order, under its aliases, with `@skip`/`@include` applied, `__typename` filled in, leaf
 * values checked against their types and nulls propagated to the nearest nullable parent.
 *
 * The rules are @apollo/gateway's `computeResponse`, rule for rule, so an answer equals a
 * plain @apollo/gateway's (the conformance suite and this module's tests compare the two);
 * the difference is when the work is done. Apollo walks the operation's federation model on
 * every request, asking each element for its directives and its definition's type; here the
 * operation is compiled once (`compileResponseShape`, cached beside the query plan) into
 * steps that already know their response name, type, leaf check and whether they are
 * conditional, and each selection set's steps into one generated function
 * (`compileSteps`). Answers are built as plain objects whose keys are added in one order,
 * which V8 keeps in fast mode and serializes fast.
 *
 * What the compiler refuses (`UnsupportedOperation`, so the executor falls back to Apollo's):
 * introspection fields, which Apollo answers from its own schema, and a response name
 * `__proto__`.
 */
import { ERRORS } from '@apollo/federation-internals';
import {
  Kind,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  valueFromASTUntyped,
} from 'graphql';
import type {
  DirectiveNode,
  GraphQLError,
  DocumentNode,
  FragmentDefinitionNode,
  GraphQLCompositeType,
  GraphQLNamedType,
  GraphQLOutputType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
} from 'graphql';

/** An operation the compiled shape does not cover: the executor leaves it to Apollo's. */
export class UnsupportedOperation extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'UnsupportedOperation';
    this.reason = reason;
  }
}

/**
 * Data a subgraph sent that no answer can be made of (a list where an object belongs, a
 * `__typename` that is not a string): the whole request fails, as Apollo's assertions make it.
 */
export class MalformedSubgraphData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedSubgraphData';
  }
}

export interface ShapedResponse {
  /** Null when a null reached the root through non-null fields. */
  readonly data: Record<string, unknown> | null;
  /** Values that did not fit the schema (INVALID_GRAPHQL), each with its path. */
  readonly errors: GraphQLError[];
}

export interface ResponseShape {
  /** The default value of each of the operation's variables that has one. */
  readonly defaults: ReadonlyMap<string, unknown>;
  /**
   * The answer to the operation from the plan's merged data. Throws MalformedSubgraphData
   * when the data cannot be shaped at all.
   */
  shape(
    input: Record<string, unknown>,
    variables: Readonly<Record<string, unknown>>,
  ): ShapedResponse;
}

/** `@skip`/`@include` of one selection: a literal, or the variable holding it. */
type Condition = boolean | { readonly variable: string };

interface Conditions {
  readonly skip?: Condition;
  readonly include?: Condition;
}

type Step =
  | {
      readonly kind: 'field';
      readonly responseName: string;
      /** The name is also a property of Object.prototype: read own properties only. */
      readonly ownOnly: boolean;
      readonly value: ValueShape;
      readonly conditions: Conditions | null;
    }
  | {
      readonly kind: 'typename';
      readonly responseName: string;
      readonly ownOnly: boolean;
      readonly conditions: Conditions | null;
    }
  | {
      readonly kind: 'fragment';
      /** Null for a fragment without a type condition. */
      readonly typeCondition: string | null;
      /** Whether the fragment applies to an object of a type, by type name (memoized). */
      readonly appliesTo: (typeName: string) => boolean;
      readonly steps: readonly Step[];
      /** `steps`, compiled. */
      readonly apply: StepsFunction;
      readonly conditions: Conditions | null;
    };

type ValueShape =
  | {
      readonly kind: 'nonNull';
      readonly of: ValueShape;
      readonly ofTypeName: string;
      readonly composite: boolean;
    }
  | {
      readonly kind: 'list';
      readonly of: ValueShape;
      readonly typeName: string;
      readonly composite: boolean;
    }
  | {
      readonly kind: 'composite';
      readonly typeName: string;
      readonly steps: readonly Step[];
      /** `steps`, compiled. */
      readonly apply: StepsFunction;
      /** No response name of `steps` (fragments included) is a property of Object.prototype. */
      readonly plainObjects: boolean;
      readonly composite: true;
    }
  | {
      readonly kind: 'leaf';
      readonly typeName: string;
      readonly valid: (value: unknown) => boolean;
      readonly composite: false;
    };

/**
 * Compiles `operation` of `document` against the API schema the client's document was
 * validated with. Throws UnsupportedOperation for what only Apollo's executor answers.
 */
export function compileResponseShape(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): ResponseShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION)
      fragments.set(definition.name.value, definition);
  }
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) {
    throw new UnsupportedOperation('no-root-type', `the schema has no ${operation.operation} type`);
  }
  const compiler = new Compiler(schema, fragments);
  const rootSteps = compiler.selectionSet(operation.selectionSet, rootType);
  const rootPlain = plainObjectsFor(rootSteps);
  const applyRoot = compileSteps(rootSteps);
  const defaults = new Map<string, unknown>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) {
      defaults.set(definition.variable.name.value, valueFromASTUntyped(definition.defaultValue));
    }
  }
  const conditional = compiler.conditional;
  const rootTypeName = rootType.name;

  return {
    defaults,
    shape(input, variables) {
      const state: ShapeState = {
        schema,
        variables: conditional ? withDefaults(defaults, variables) : variables,
        errors: [],
        path: [],
        invalid: false,
        hasErrors: false,
      };
      const data = newObject(rootPlain);
      const bubbled = applyRoot(input, data, rootTypeName, state);
      return { data: bubbled ? null : data, errors: state.errors };
    },
  };
}

class Compiler {
  /** Whether any selection has `@skip` or `@include`. */
  conditional = false;
  private readonly schema: GraphQLSchema;
  private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>;

  constructor(schema: GraphQLSchema, fragments: ReadonlyMap<string, FragmentDefinitionNode>) {
    this.schema = schema;
    this.fragments = fragments;
  }

  selectionSet(selectionSet: SelectionSetNode, parentType: GraphQLCompositeType): Step[] {
    const steps: Step[] = [];
    for (const selection of selectionSet.selections) {
      const conditions = this.conditionsOf(selection.directives);
      switch (selection.kind) {
        case Kind.FIELD: {
          const name = selection.name.value;
          const responseName = selection.alias?.value ?? name;
          if (responseName === '__proto__') {
            throw new UnsupportedOperation('response-name', 'a response name is __proto__');
          }
          const ownOnly = responseName in Object.prototype;
          if (name === '__typename') {
            steps.push({ kind: 'typename', responseName, ownOnly, conditions });
            break;
          }
          if (name === '__schema' || name === '__type') {
            throw new UnsupportedOperation('introspection', `the operation selects ${name}`);
          }
          const definition =
            isObjectType(parentType) || isInterfaceType(parentType)
              ? parentType.getFields()[name]
              : undefined;
          if (!definition) {
            throw new UnsupportedOperation(
              'unknown-field',
              `${parentType.name} has no field ${name}`,
            );
          }
          const value = this.value(definition.type, selection.selectionSet);
          steps.push({ kind: 'field', responseName, ownOnly, value, conditions });
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const typeCondition = selection.typeCondition?.name.value ?? null;
          steps.push(this.fragment(typeCondition, selection.selectionSet, parentType, conditions));
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const fragment = this.fragments.get(selection.name.value);
          if (!fragment) {
            throw new UnsupportedOperation(
              'unknown-fragment',
              `no fragment ${selection.name.value}`,
            );
          }
          const typeCondition = fragment.typeCondition.name.value;
          steps.push(this.fragment(typeCondition, fragment.selectionSet, parentType, conditions));
          break;
        }
      }
    }
    return steps;
  }

  private fragment(
    typeCondition: string | null,
    selectionSet: SelectionSetNode,
    parentType: GraphQLCompositeType,
    conditions: Conditions | null,
  ): Step {
    const conditionType = typeCondition === null ? parentType : this.schema.getType(typeCondition);
    if (!conditionType || !isCompositeType(conditionType)) {
      throw new UnsupportedOperation('unknown-type', `no composite type ${typeCondition}`);
    }
    const steps = this.selectionSet(selectionSet, conditionType);
    return {
      kind: 'fragment',
      typeCondition,
      appliesTo: typeCondition === null ? () => true : subtypeTest(this.schema, conditionType),
      steps,
      apply: compileSteps(steps),
      conditions,
    };
  }

  private value(type: GraphQLOutputType, selectionSet: SelectionSetNode | undefined): ValueShape {
    if (isNonNullType(type)) {
      const of = this.value(type.ofType, selectionSet);
      return { kind: 'nonNull', of, ofTypeName: String(type.ofType), composite: of.composite };
    }
    if (isListType(type)) {
      const of = this.value(type.ofType, selectionSet);
      return { kind: 'list', of, typeName: String(type), composite: of.composite };
    }
    if (isCompositeType(type)) {
      if (!selectionSet) {
        throw new UnsupportedOperation('no-selection', `${type.name} is selected without fields`);
      }
      const steps = this.selectionSet(selectionSet, type);
      return {
        kind: 'composite',
        typeName: type.name,
        steps,
        apply: compileSteps(steps),
        plainObjects: plainObjectsFor(steps),
        composite: true,
      };
    }
    return {
      kind: 'leaf',
      typeName: type.name,
      valid: leafCheck(this.schema, type),
      composite: false,
    };
  }

  private conditionsOf(directives: readonly DirectiveNode[] | undefined): Conditions | null {
    if (!directives || directives.length === 0) return null;
    let skip: Condition | undefined;
    let include: Condition | undefined;
    for (const directive of directives) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      // Apollo reads the first of each.
      if ((name === 'skip' ? skip : include) !== undefined) continue;
      const argument = directive.arguments?.find((a) => a.name.value === 'if')?.value;
      let condition: Condition;
      if (argument?.kind === Kind.VARIABLE) condition = { variable: argument.name.value };
      else if (argument?.kind === Kind.BOOLEAN) condition = argument.value;
      else throw new UnsupportedOperation('condition', `@${name} without a Boolean "if"`);
      if (name === 'skip') skip = condition;
      else include = condition;
    }
    if (skip === undefined && include === undefined) return null;
    this.conditional = true;
    return {
      ...(skip !== undefined ? { skip } : {}),
      ...(include !== undefined ? { include } : {}),
    };
  }
}

/**
 * Federation's subtyping of a fragment's type condition by an object's type name: the same
 * type, a member of the union, or an implementation (object or interface) of the interface.
 */
function subtypeTest(
  schema: GraphQLSchema,
  condition: GraphQLCompositeType,
): (typeName: string) => boolean {
  const known = new Map<string, boolean>();
  return (typeName) => {
    let applies = known.get(typeName);
    if (applies === undefined) {
      const type = schema.getType(typeName);
      applies =
        typeName === condition.name ||
        (type !== undefined &&
          isAbstractType(condition) &&
          (isObjectType(type) || isInterfaceType(type)) &&
          schema.isSubType(condition, type));
      known.set(typeName, applies);
    }
    return applies;
  };
}

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const BUILT_IN_SCALARS = new Set(['Int', 'Float', 'String', 'Boolean', 'ID']);

/** Federation's `isValidLeafValue` for one type, decided once. */
function leafCheck(schema: GraphQLSchema, type: GraphQLNamedType): (value: unknown) => boolean {
  if (isEnumType(type)) {
    const values = new Set(type.getValues().map((v) => v.name));
    return (value) => typeof value === 'string' && values.has(value);
  }
  if (!BUILT_IN_SCALARS.has(type.name) || schema.getType(type.name) !== type) return () => true;
  switch (type.name) {
    case 'Boolean':
      return (value) => typeof value === 'boolean';
    case 'Int':
      return (value) =>
        typeof value === 'number' && Number.isFinite(value) && INTEGER.test(String(value));
    case 'ID':
      return (value) =>
        typeof value === 'string' ||
        (typeof value === 'number' && Number.isFinite(value) && INTEGER.test(String(value)));
    case 'Float':
      return (value) => typeof value === 'number' && Number.isFinite(value);
    default:
      return (value) => typeof value === 'string';
  }
}

/** True when no response name of `steps`, through its fragments, is on Object.prototype. */
function plainObjectsFor(steps: readonly Step[]): boolean {
  return steps.every((step) =>
    step.kind === 'fragment' ? plainObjectsFor(step.steps) : !step.ownOnly,
  );
}

function newObject(plain: boolean): Record<string, unknown> {
  return plain ? {} : (Object.create(null) as Record<string, unknown>);
}

function withDefaults(
  defaults: ReadonlyMap<string, unknown>,
  variables: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  if (defaults.size === 0) return variables;
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of defaults) merged[name] = value;
  return Object.assign(merged, variables);
}

interface ShapeState {
  readonly schema: GraphQLSchema;
  readonly variables: Readonly<Record<string, unknown>>;
  readonly errors: GraphQLError[];
  readonly path: (string | number)[];
  /** Set by `complete`: the value is null where null is not allowed (bubble up). */
  invalid: boolean;
  /** Set by `complete`: an error was reported at or below the value. */
  hasErrors: boolean;
}

function read(object: Record<string, unknown>, name: string, ownOnly: boolean): unknown {
  return ownOnly ? (Object.hasOwn(object, name) ? object[name] : undefined) : object[name];
}

function skipped(conditions: Conditions, variables: Readonly<Record<string, unknown>>): boolean {
  return (
    (conditions.skip !== undefined && valueOf(conditions.skip, variables)) ||
    (conditions.include !== undefined && !valueOf(conditions.include, variables))
  );
}

function valueOf(condition: Condition, variables: Readonly<Record<string, unknown>>): boolean {
  if (typeof condition === 'boolean') return condition;
  const value = variables[condition.variable];
  if (typeof value !== 'boolean') {
    throw new MalformedSubgraphData(
      `Unexpected value ${String(value)} for variable $${condition.variable}`,
    );
  }
  return value;
}

/**
 * A selection set's steps applied to one object: fills `output` from `input`; true when a
 * null must bubble up to the parent.
 */
type StepsFunction = (
  input: Record<string, unknown>,
  output: Record<string, unknown>,
  parentTypeName: string,
  state: ShapeState,
) => boolean;

/**
 * Compiles a selection set's steps into one function (the graphql-jit idea), made once per
 * operation. Each field reads and writes its response name as a literal property name, so
 * every place in the generated code keeps its own inline cache, where one loop over all
 * steps made every read and write go through V8's generic keyed lookup; a leaf that fits
 * is written at once, and everything else goes to the same helpers (`complete`,
 * `applyStep`) an interpreter would call. Response names are GraphQL names, which the
 * parser allowed, and are written into the code as JSON string literals.
 */
function compileSteps(steps: readonly Step[]): StepsFunction {
  const lines: string[] = ['let v, p;'];
  steps.forEach((step, i) => {
    const body: string[] = [];
    if (step.kind === 'field' && !step.ownOnly) {
      const name = JSON.stringify(step.responseName);
      const shape = step.value;
      const fits =
        shape.kind === 'leaf'
          ? `(v === null || S[${i}].value.valid(v))`
          : shape.kind === 'nonNull' && shape.of.kind === 'leaf'
            ? `(v !== null && S[${i}].value.of.valid(v))`
            : 'false';
      body.push(
        `v = input[${name}]; if (v === undefined) v = null;`,
        `p = output[${name}];`,
        `if (p === undefined && ${fits}) output[${name}] = v;`,
        `else {`,
        `  state.path.push(${name});`,
        `  output[${name}] = h.complete(p, S[${i}].value, v, parentTypeName, state);`,
        `  state.path.pop();`,
        `  if (state.invalid) return true;`,
        `}`,
      );
    } else if (step.kind === 'fragment') {
      const applies =
        step.typeCondition === null ? 'true' : `S[${i}].appliesTo(v || parentTypeName)`;
      const typeName =
        step.typeCondition === null ? 'parentTypeName' : JSON.stringify(step.typeCondition);
      body.push(
        `v = input.__typename;`,
        `if (v && typeof v !== 'string') h.badTypename(v);`,
        `if (${applies} && S[${i}].apply(input, output, ${typeName}, state)) return true;`,
      );
    } else {
      body.push(`if (h.applyStep(S[${i}], input, output, parentTypeName, state)) return true;`);
    }
    if (step.conditions) {
      lines.push(`if (!h.skipped(S[${i}].conditions, state.variables)) {`, ...body, `}`);
    } else {
      lines.push(...body);
    }
  });
  lines.push('return false;');
  const helpers = { complete, applyStep, skipped, badTypename };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the operation's own names, see above
  const make = new Function(
    'S',
    'h',
    `"use strict"; return function shapeSteps(input, output, parentTypeName, state) {\n${lines.join('\n')}\n};`,
  ) as (stepsIn: readonly Step[], helpersIn: typeof helpers) => StepsFunction;
  return make(steps, helpers);
}

function badTypename(value: unknown): never {
  throw new MalformedSubgraphData(`Got unexpected value for __typename: ${shown(value)}`);
}

/**
 * One step the generated code does not write inline (`__typename`, a field whose name is
 * also a property of Object.prototype, which is read as an own property only); its
 * conditions are checked by the caller. True when a null must bubble up to the parent.
 */
function applyStep(
  step: Step,
  input: Record<string, unknown>,
  output: Record<string, unknown>,
  parentTypeName: string,
  state: ShapeState,
): boolean {
  switch (step.kind) {
    case 'typename': {
      if (read(output, step.responseName, step.ownOnly) !== undefined) return false;
      let value = read(input, step.responseName, step.ownOnly) ?? null;
      if (value === null && step.responseName !== '__typename') value = input['__typename'] ?? null;
      const typeName =
        typeof value === 'string' && state.schema.getType(value) !== undefined
          ? value
          : parentTypeName;
      if (!isObjectType(state.schema.getType(typeName))) return true;
      output[step.responseName] = typeName;
      return false;
    }
    case 'field': {
      const { responseName, value: shape } = step;
      const inputValue = read(input, responseName, step.ownOnly) ?? null;
      const previous = read(output, responseName, step.ownOnly);
      state.path.push(responseName);
      output[responseName] = complete(previous, shape, inputValue, parentTypeName, state);
      state.path.pop();
      return state.invalid;
    }
    case 'fragment': {
      const typeName = input['__typename'];
      if (typeName && typeof typeName !== 'string') badTypename(typeName);
      const applies =
        step.typeCondition === null || step.appliesTo((typeName as string) || parentTypeName);
      return applies && step.apply(input, output, step.typeCondition ?? parentTypeName, state);
    }
  }
}

/**
 * A field's answer from its input value and what an earlier selection of the same response
 * name already made of it (`output`). Sets `state.invalid` and `state.hasErrors`.
 */
function complete(
  output: unknown,
  shape: ValueShape,
  input: unknown,
  parentTypeName: string,
  state: ShapeState,
): unknown {
  if (output === null || (output !== undefined && !shape.composite)) {
    state.invalid = false;
    state.hasErrors = false;
    return output;
  }
  if (shape.kind === 'nonNull') {
    const updated = complete(output, shape.of, input, parentTypeName, state);
    if (updated === null) {
      if (!state.hasErrors) {
        state.errors.push(
          invalid(
            `Cannot return null for non-nullable ${describe(state.path, shape.ofTypeName, parentTypeName)}.`,
            state.path,
          ),
        );
      }
      state.invalid = true;
      state.hasErrors = true;
      return null;
    }
    state.invalid = false;
    state.hasErrors = false;
    return updated;
  }
  if (input === null) {
    state.invalid = false;
    state.hasErrors = false;
    return null;
  }
  switch (shape.kind) {
    case 'list': {
      if (!Array.isArray(input)) {
        throw new MalformedSubgraphData(
          `Invalid non-list value ${shown(input)} returned by subgraph for list type ${shape.typeName}`,
        );
      }
      const previous = output as unknown[] | undefined;
      if (
        previous !== undefined &&
        (!Array.isArray(previous) || previous.length !== input.length)
      ) {
        throw new MalformedSubgraphData(
          `Invalid list value merged for list type ${shape.typeName}`,
        );
      }
      // Pushed, not preallocated: a packed array, not a holey one, is faster to serialize.
      const updated: unknown[] = [];
      let nullify = false;
      let hasErrors = false;
      for (let i = 0; i < input.length; i++) {
        state.path.push(i);
        updated.push(complete(previous?.[i], shape.of, input[i] as unknown, parentTypeName, state));
        state.path.pop();
        nullify ||= state.invalid;
        hasErrors ||= state.hasErrors;
      }
      state.invalid = false;
      state.hasErrors = hasErrors;
      return nullify ? null : updated;
    }
    case 'composite': {
      if (typeof input !== 'object') {
        throw new MalformedSubgraphData(
          `Invalid non-object value ${shown(input)} returned by subgraph for composite type ${shape.typeName}`,
        );
      }
      const object = input as Record<string, unknown>;
      const typeName = object['__typename'];
      if (typeName !== undefined && typeof typeName !== 'string') {
        throw new MalformedSubgraphData(
          `Invalid non-string value ${shown(typeName)} for __typename at ${state.path.join(',')}`,
        );
      }
      let objectTypeName = shape.typeName;
      if (typeName) {
        if (!isCompositeType(state.schema.getType(typeName))) {
          state.errors.push(
            invalid(
              `Invalid __typename found for object at ${describe(state.path, shape.typeName, parentTypeName)}.`,
              state.path,
            ),
          );
          state.invalid = false;
          state.hasErrors = true;
          return null;
        }
        objectTypeName = typeName;
      }
      const answer =
        output === undefined ? newObject(shape.plainObjects) : (output as Record<string, unknown>);
      const bubbled = shape.apply(object, answer, objectTypeName, state);
      state.invalid = false;
      state.hasErrors = bubbled;
      return bubbled ? null : answer;
    }
    case 'leaf': {
      const valid = shape.valid(input);
      if (!valid) {
        state.errors.push(
          invalid(
            `Invalid value found for ${describe(state.path, shape.typeName, parentTypeName)}.`,
            state.path,
          ),
        );
      }
      state.invalid = false;
      state.hasErrors = !valid;
      return valid ? input : null;
    }
  }
}

/** A value a subgraph sent, for a message. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
}

/** Apollo's words for where a value is: a field of its parent type, or a list element. */
function describe(
  path: readonly (string | number)[],
  typeName: string,
  parentTypeName: string,
): string {
  const element = path[path.length - 1];
  return typeof element === 'string'
    ? `field ${parentTypeName}.${element}`
    : `array element of type ${typeName} at index ${String(element)}`;
}

/** A value that does not fit the schema, as federation reports it (INVALID_GRAPHQL). */
function invalid(message: string, path: readonly (string | number)[]): GraphQLError {
  return ERRORS.INVALID_GRAPHQL.err(message, { path: [...path] });
}
