/**
 * The gateway's access policy: who may read what under the federation authorization
 * directives `@authenticated` and `@requiresScopes(scopes: [[...]])`, which @apollo/gateway
 * composes into the supergraph but never checks.
 *
 * `createAccessPolicy` reads the requirements from the composed supergraph SDL, under the
 * names the supergraph's own `@link` declarations give the two specs (so a subgraph that
 * imports `{ name: "@authenticated", as: "@auth" }` is still enforced). `policy.check` is a
 * pure decision over one operation; `authorizationPlugin` (authorization.plugin.ts) runs it
 * on every request and rejects the whole operation when anything fails.
 *
 * Guarantees:
 * - A selected field requires what its definition requires plus what its return type
 *   requires (object, interface, scalar, enum). Read through an interface, it also requires
 *   what every implementation's field of that name (and that field's return type) requires.
 *   Inside a fragment narrowing to a type other than the one the enclosing field returns, the
 *   fields also require that type's own requirements (a union member, or an implementation).
 *   Composition already copies implementations' requirements onto interfaces; the check does
 *   not rely on it.
 * - `@requiresScopes(scopes: [["a", "b"], ["c"]])` is met by holding every scope of at least
 *   one inner list. An anonymous caller fails every requirement with UNAUTHENTICATED; a
 *   signed-in caller missing scopes fails with FORBIDDEN.
 * - Only the operation that will run is checked (`@skip`/`@include` evaluated with the
 *   request's variables); `__typename` and introspection meta-fields are not checked.
 * - One violation per field and response path (aliases included, list indices not), in
 *   document order. The walk is iterative and expands each selection set once per context,
 *   so deep nesting, repeated spreads and (invalid) fragment cycles all terminate.
 */
import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  OperationTypeNode,
  getDirectiveValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isAbstractType,
  isCompositeType,
  isUnionType,
  parse,
} from 'graphql';
import type {
  ConstDirectiveNode,
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  FragmentSpreadNode,
  GraphQLCompositeType,
  GraphQLField,
  GraphQLSchema,
  InlineFragmentNode,
  SelectionNode,
  SelectionSetNode,
} from 'graphql';
import type { ErrorCode } from '../../shared/errors/index.ts';
import { argumentOf, linkedDirectiveNames, listOf } from '../supergraph/links.ts';

/** A field the caller may not read, as `check` reports it. */
export interface AccessViolation {
  /** Response path of the field, using aliases; list indices are not part of it. */
  path: string[];
  /** Schema coordinate of the field as selected, e.g. `Query.user` or `Node.id`. */
  coordinate: string;
  /** UNAUTHENTICATED for an anonymous caller, FORBIDDEN for a signed-in one lacking scopes. */
  code: Extract<ErrorCode, 'UNAUTHENTICATED' | 'FORBIDDEN'>;
  /** Client-facing, e.g. "You must be signed in to read Query.user". */
  message: string;
}

export interface AccessCheckInput {
  /** The API schema the operation was validated against (not the supergraph). */
  schema: GraphQLSchema;
  /** A validated document. */
  document: DocumentNode;
  /** Selects the operation to check; null or absent when the document holds exactly one. */
  operationName?: string | null;
  /** The request's raw variables, used to evaluate `@skip` and `@include`. */
  variables?: Readonly<Record<string, unknown>> | null;
  /** The caller's scopes: null for an anonymous caller, `[]` for one signed in without scopes. */
  scopes: readonly string[] | null;
}

export interface AccessPolicy {
  /** The violations of the selected operation for this caller; empty when it may run. */
  check(input: AccessCheckInput): AccessViolation[];
}

/** One `@requiresScopes` argument: met by holding every scope of any one inner list. */
type ScopeAlternatives = readonly (readonly string[])[];

/** What reading one schema element takes. Every entry of `scopes` must be met. */
interface Requirement {
  authenticated: boolean;
  /** Keyed by the entry's JSON, so the same argument counts once. */
  scopes: Map<string, ScopeAlternatives>;
}

const SPEC_URL = /^https:\/\/specs\.apollo\.dev\/(authenticated|requiresScopes)\/v(\d+)\.\d+\/?$/;

/**
 * Builds the policy from a composed supergraph SDL. Throws when the SDL does not parse, links
 * a major version of a spec this code does not know, or has a `scopes` argument that is not a
 * list of lists of strings: better to fail at startup than to enforce something else.
 */
export function createAccessPolicy(supergraphSdl: string): AccessPolicy {
  const supergraph = parse(supergraphSdl, { noLocation: true });
  const names = directiveNamesOf(supergraph);
  const types = new Map<string, Requirement>();
  const fields = new Map<string, Requirement>();

  for (const definition of supergraph.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.SCALAR_TYPE_EXTENSION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_EXTENSION: {
        const typeName = definition.name.value;
        collect(types, typeName, definition.directives, names);
        const fieldDefinitions = 'fields' in definition ? definition.fields : undefined;
        for (const field of fieldDefinitions ?? []) {
          collect(fields, `${typeName}.${field.name.value}`, field.directives, names);
        }
        break;
      }
      default:
        break;
    }
  }

  return {
    check(input) {
      if (types.size === 0 && fields.size === 0) return [];
      return checkOperation(input, types, fields);
    },
  };
}

/** How the supergraph spells the two directives: every name that refers to each. */
interface DirectiveNames {
  authenticated: Set<string>;
  requiresScopes: Set<string>;
}

/**
 * Resolves directive names from the schema's `@link` declarations of the two specs (see
 * supergraph/links.ts). Without a link the directives are not part of the supergraph, so
 * nothing is enforced; a major version this code does not know fails.
 */
function directiveNamesOf(supergraph: DocumentNode): DirectiveNames {
  const namesOf = (spec: keyof DirectiveNames) =>
    linkedDirectiveNames(
      supergraph,
      {
        name: spec,
        isSpec: (url) => {
          const match = SPEC_URL.exec(url);
          if (match?.[1] !== spec) return false;
          if (match[2] !== '0') {
            throw new Error(`authorization: unsupported spec version in @link(url: "${url}")`);
          }
          return true;
        },
      },
      [spec],
    )?.get(spec) ?? new Set<string>();
  return { authenticated: namesOf('authenticated'), requiresScopes: namesOf('requiresScopes') };
}

function collect(
  into: Map<string, Requirement>,
  key: string,
  directives: readonly ConstDirectiveNode[] | undefined,
  names: DirectiveNames,
): void {
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (names.authenticated.has(name)) {
      requirementAt(into, key).authenticated = true;
    } else if (names.requiresScopes.has(name)) {
      const alternatives = scopesArgument(directive, key);
      requirementAt(into, key).scopes.set(JSON.stringify(alternatives), alternatives);
    }
  }
}

function requirementAt(into: Map<string, Requirement>, key: string): Requirement {
  let requirement = into.get(key);
  if (!requirement) {
    requirement = { authenticated: false, scopes: new Map() };
    into.set(key, requirement);
  }
  return requirement;
}

/** `scopes: [[Scope!]!]!` with GraphQL's list input coercion (`"a"` means `[["a"]]`). */
function scopesArgument(directive: ConstDirectiveNode, where: string): ScopeAlternatives {
  const value = argumentOf(directive, 'scopes');
  const invalid = () =>
    new Error(`authorization: @${directive.name.value} on ${where} needs scopes: [[String!]!]!`);
  if (!value) throw invalid();
  return listOf(value).map((inner) =>
    listOf(inner).map((scope) => {
      if (scope.kind !== Kind.STRING) throw invalid();
      return scope.value;
    }),
  );
}

/** A response path, interned so that equal paths share one node (and one id). */
interface PathNode {
  readonly id: number;
  readonly parent: PathNode | null;
  readonly key: string;
}

/** Where a selection is read: what the walk knows when it reaches it. */
interface Scope {
  /** The type the selections are read on (a fragment's type condition narrows it). */
  readonly parentType: GraphQLCompositeType;
  /** The named type the enclosing field returns, or the root type. */
  readonly fieldType: string;
  /** Types narrowed to by fragments whose own requirements apply to every field read here. */
  readonly narrowedTo: readonly string[];
  readonly path: PathNode | null;
  /** Fragments being expanded, innermost first, to stop on (invalid) cycles. */
  readonly fragments: FragmentTrail | null;
}

interface FragmentTrail {
  readonly name: string;
  readonly outer: FragmentTrail | null;
}

/** A field at a response path and everything reading it requires, merged across selections. */
interface Reached {
  readonly path: PathNode;
  readonly coordinate: string;
  readonly rootMutation: boolean;
  readonly requirement: Requirement;
}

function checkOperation(
  input: AccessCheckInput,
  types: ReadonlyMap<string, Requirement>,
  fields: ReadonlyMap<string, Requirement>,
): AccessViolation[] {
  const { schema, document } = input;
  const operation = getOperationAST(document, input.operationName ?? undefined);
  // Apollo Server rejects an operation it cannot resolve before this runs.
  if (!operation) return [];
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return [];

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const coercion = getVariableValues(
    schema,
    operation.variableDefinitions ?? [],
    input.variables ?? {},
  );
  // Variables that do not coerce fail execution anyway; meanwhile check every branch.
  const variables = coercion.coerced ?? {};

  const paths = new Map<string, PathNode>();
  const pathTo = (parent: PathNode | null, key: string): PathNode => {
    const internKey = `${parent?.id ?? 0}\u0000${key}`;
    let node = paths.get(internKey);
    if (!node) {
      node = { id: paths.size + 1, parent, key };
      paths.set(internKey, node);
    }
    return node;
  };

  const reached = new Map<string, Reached>();
  const expanded = new Map<SelectionSetNode, Set<string>>();
  // Depth-first in document order: selections are pushed in reverse.
  const stack: { selection: SelectionNode; scope: Scope }[] = [];
  const expand = (selectionSet: SelectionSetNode, scope: Scope): void => {
    const key = [
      scope.parentType.name,
      scope.fieldType,
      scope.narrowedTo.join(','),
      scope.path?.id ?? 0,
    ].join('|');
    let seen = expanded.get(selectionSet);
    if (!seen) expanded.set(selectionSet, (seen = new Set()));
    if (seen.has(key)) return;
    seen.add(key);
    for (let i = selectionSet.selections.length - 1; i >= 0; i--) {
      stack.push({ selection: selectionSet.selections[i]!, scope });
    }
  };
  const narrow = (
    scope: Scope,
    typeCondition: string | undefined,
    selectionSet: SelectionSetNode,
    fragment: FragmentTrail | null,
  ): void => {
    const type = typeCondition ? schema.getType(typeCondition) : scope.parentType;
    if (!isCompositeType(type)) return;
    const applies =
      type.name !== scope.fieldType &&
      types.has(type.name) &&
      !scope.narrowedTo.includes(type.name);
    expand(selectionSet, {
      ...scope,
      parentType: type,
      narrowedTo: applies ? [...scope.narrowedTo, type.name] : scope.narrowedTo,
      fragments: fragment ?? scope.fragments,
    });
  };

  expand(operation.selectionSet, {
    parentType: rootType,
    fieldType: rootType.name,
    narrowedTo: types.has(rootType.name) ? [rootType.name] : [],
    path: null,
    fragments: null,
  });
  while (stack.length > 0) {
    const { selection, scope } = stack.pop()!;
    if (!isIncluded(selection, variables)) continue;
    switch (selection.kind) {
      case Kind.FIELD: {
        const field = fieldRead(scope.parentType, selection);
        if (!field) break;
        const path = pathTo(scope.path, selection.alias?.value ?? selection.name.value);
        const requirement = requirementOf(schema, types, fields, scope, field);
        if (requirement.authenticated || requirement.scopes.size > 0) {
          const coordinate = `${scope.parentType.name}.${field.name}`;
          const key = `${path.id}|${coordinate}`;
          const earlier = reached.get(key);
          if (earlier) {
            merge(earlier.requirement, requirement);
          } else {
            reached.set(key, {
              path,
              coordinate,
              rootMutation:
                scope.path === null && operation.operation === OperationTypeNode.MUTATION,
              requirement,
            });
          }
        }
        const returnType = getNamedType(field.type);
        if (selection.selectionSet && isCompositeType(returnType)) {
          expand(selection.selectionSet, {
            parentType: returnType,
            fieldType: returnType.name,
            narrowedTo: [],
            path,
            fragments: scope.fragments,
          });
        }
        break;
      }
      case Kind.INLINE_FRAGMENT:
        narrow(scope, selection.typeCondition?.name.value, selection.selectionSet, null);
        break;
      case Kind.FRAGMENT_SPREAD: {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || isExpanding(scope.fragments, name)) break;
        narrow(scope, fragment.typeCondition.name.value, fragment.selectionSet, {
          name,
          outer: scope.fragments,
        });
        break;
      }
    }
  }

  const violations: AccessViolation[] = [];
  for (const field of reached.values()) {
    const violation = judge(field, input.scopes);
    if (violation) violations.push(violation);
  }
  return violations;
}

/** The field definition a selection reads, or undefined for `__typename` and meta-fields. */
function fieldRead(
  parentType: GraphQLCompositeType,
  selection: FieldNode,
): GraphQLField<unknown, unknown> | undefined {
  const name = selection.name.value;
  if (name.startsWith('__') || isUnionType(parentType)) return undefined;
  return parentType.getFields()[name];
}

function requirementOf(
  schema: GraphQLSchema,
  types: ReadonlyMap<string, Requirement>,
  fields: ReadonlyMap<string, Requirement>,
  scope: Scope,
  field: GraphQLField<unknown, unknown>,
): Requirement {
  const requirement: Requirement = { authenticated: false, scopes: new Map() };
  const add = (more: Requirement | undefined) => {
    if (more) merge(requirement, more);
  };
  for (const typeName of scope.narrowedTo) add(types.get(typeName));
  add(fields.get(`${scope.parentType.name}.${field.name}`));
  add(types.get(getNamedType(field.type).name));
  if (isAbstractType(scope.parentType)) {
    // Any implementation may be the one returned; its field may require more (and return a
    // narrower type that does).
    for (const implementation of schema.getPossibleTypes(scope.parentType)) {
      const implemented = implementation.getFields()[field.name];
      if (!implemented) continue;
      add(fields.get(`${implementation.name}.${field.name}`));
      add(types.get(getNamedType(implemented.type).name));
    }
  }
  return requirement;
}

function merge(into: Requirement, more: Requirement): void {
  into.authenticated ||= more.authenticated;
  for (const [key, alternatives] of more.scopes) into.scopes.set(key, alternatives);
}

function isExpanding(trail: FragmentTrail | null, name: string): boolean {
  for (let at = trail; at; at = at.outer) if (at.name === name) return true;
  return false;
}

function isIncluded(
  selection: FieldNode | InlineFragmentNode | FragmentSpreadNode,
  variables: Record<string, unknown>,
): boolean {
  if (!selection.directives?.length) return true;
  try {
    if (getDirectiveValues(GraphQLSkipDirective, selection, variables)?.['if'] === true) {
      return false;
    }
    return getDirectiveValues(GraphQLIncludeDirective, selection, variables)?.['if'] !== false;
  } catch {
    // A condition that cannot be evaluated fails execution; check the branch meanwhile.
    return true;
  }
}

function judge(field: Reached, scopes: readonly string[] | null): AccessViolation | null {
  const path: string[] = [];
  for (let at: PathNode | null = field.path; at; at = at.parent) path.unshift(at.key);
  const action = `${field.rootMutation ? 'call' : 'read'} ${field.coordinate}`;
  if (scopes === null) {
    return {
      path,
      coordinate: field.coordinate,
      code: 'UNAUTHENTICATED',
      message: `You must be signed in to ${action}`,
    };
  }
  const held = new Set(scopes);
  const unmet = [...field.requirement.scopes.values()].filter(
    (alternatives) => !alternatives.some((all) => all.every((scope) => held.has(scope))),
  );
  if (unmet.length === 0) return null;
  const needs = unmet.map(describeAlternatives).join(', plus ');
  return {
    path,
    coordinate: field.coordinate,
    code: 'FORBIDDEN',
    message: `You need ${needs}${needs.includes(', or ') ? ', ' : ' '}to ${action}`,
  };
}

function describeAlternatives(alternatives: ScopeAlternatives): string {
  // `scopes: []` offers no way in at all.
  if (alternatives.length === 0) return 'a scope no caller can hold';
  return alternatives
    .map((all) => (all.length === 1 ? `scope ${all[0]}` : `scopes ${all.join(' and ')}`))
    .join(', or ');
}
