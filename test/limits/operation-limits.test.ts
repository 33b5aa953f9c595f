/**
 * The gateway's operation-shape limits against this platform's client-facing API schema: what a document measures
 * (depth, aliases, cost under the documented model), which limits it exceeds, and the
 * validation rule's errors. Every checked-in client operation and the introspection query
 * Sandbox sends stay within the default limits.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import {
  DEFAULT_OPERATION_LIMITS,
  limitsValidationRule,
  measureDocument,
  violations,
} from '../../gateway/limits/operation-limits.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const schema = buildSchema(readFileSync(path.join(ROOT, 'schema/api.graphql'), 'utf8'));
const measure = (query: string) => measureDocument(schema, parse(query));

/** `{ me { orders { edges { node { user { orders { … } } } } } } }` nested `levels` times. */
function nestedOrders(levels: number): string {
  let selection = 'id';
  for (let i = 0; i < levels; i++)
    selection = `orders(first: 1) { edges { node { user { ${selection} } } } }`;
  return `{ me { ${selection} } }`;
}

describe('measuring a document', () => {
  it('counts depth as nested fields, a top-level field being 1', () => {
    expect(measure('{ me { id } }').depth).toBe(2);
    // me, then 4 fields per level (orders, edges, node, user), then id.
    expect(measure(nestedOrders(3)).depth).toBe(1 + 4 * 3 + 1);
  });

  it('expands fragments where they are spread, inline or named', () => {
    const query = `
      query { me { ...Profile } }
      fragment Profile on User { id ... on User { orders(first: 2) { edges { node { id } } } } }
    `;
    expect(measure(query)).toEqual({ depth: 5, aliases: 0, cost: 1 + (1 + 1 + 2 * (1 + 2)) });
  });

  it('counts aliases as written, in operations and fragments', () => {
    const query = `
      query { a: me { id } b: me { ...F } }
      fragment F on User { x: id y: name }
    `;
    expect(measure(query).aliases).toBe(4);
  });

  it('multiplies a selection by first/limit, the page maximum for a variable, the default when absent', () => {
    // products: 1 + first × (edges 1 + (node 1 + name 1)); edges count once under `first`.
    expect(measure('{ products(first: 50) { edges { node { name } } } }').cost).toBe(1 + 50 * 3);
    expect(
      measure('query ($n: Int) { products(first: $n) { edges { node { name } } } }').cost,
    ).toBe(1 + 100 * 3);
    expect(measure('{ products { edges { node { name } } } }').cost).toBe(1 + 20 * 3);
    // topProducts(limit: Int = 10): the schema's default.
    expect(measure('{ topProducts { unitsSold } }').cost).toBe(1 + 10 * 1);
  });

  it('multiplies any other list field by 10', () => {
    // order: 1 + items (1 + 10 × (quantity 1 + product (1 + name 1))).
    expect(measure('{ order(id: "1") { items { quantity product { name } } } }').cost).toBe(
      1 + (1 + 10 * (1 + 2)),
    );
  });

  it('leaves out __typename and introspection fields', () => {
    expect(measure('{ __typename me { __typename id } }')).toEqual({
      depth: 2,
      aliases: 0,
      cost: 2,
    });
    expect(measure(getIntrospectionQuery({ descriptions: true })).cost).toBe(0);
  });

  it('takes the largest depth and cost over the operations of a document', () => {
    const query = `query A { me { id } } query B { products(first: 5) { edges { node { id } } } }`;
    expect(measure(query)).toEqual({ depth: 4, aliases: 0, cost: 1 + 5 * 3 });
  });

  it('terminates on fragment cycles and unknown fields', () => {
    const query = `
      query { me { ...A } nope { deeper } }
      fragment A on User { id ...B }
      fragment B on User { name ...A }
    `;
    expect(measure(query)).toEqual({ depth: 2, aliases: 0, cost: 1 + 2 + 2 });
  });

  it('stays linear on a document that spreads fragments exponentially', () => {
    const levels = 40;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on User { ...F${i + 1} ...F${i + 1} }`,
    ).join('\n');
    const query = `query { me { ...F0 } }\n${fragments}\nfragment F${levels} on User { id }`;
    const started = Date.now();
    const measured = measure(query);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(measured.cost).toBe(1 + 2 ** levels);
  });
});

describe('the limits a document exceeds', () => {
  it('names each limit with its maximum and the actual value', () => {
    expect(violations({ depth: 14, aliases: 31, cost: 20001 }, DEFAULT_OPERATION_LIMITS)).toEqual([
      {
        name: 'depth',
        maximum: 12,
        actual: 14,
        message: 'Query depth 14 exceeds the limit of 12',
      },
      {
        name: 'aliases',
        maximum: 30,
        actual: 31,
        message: 'Query uses 31 aliases, over the limit of 30',
      },
      {
        name: 'cost',
        maximum: 20000,
        actual: 20001,
        message: 'Query cost 20001 exceeds the limit of 20000',
      },
    ]);
  });

  it('allows a document exactly at every limit', () => {
    expect(violations({ depth: 12, aliases: 30, cost: 20000 }, DEFAULT_OPERATION_LIMITS)).toEqual(
      [],
    );
  });
});

describe('the validation rule', () => {
  const rules = [...specifiedRules, limitsValidationRule(DEFAULT_OPERATION_LIMITS)];

  it('reports one error per exceeded limit, with extensions.limit', () => {
    const errors = validate(schema, parse(nestedOrders(3)), rules);
    expect(errors.map((e) => [e.message, e.extensions])).toEqual([
      [
        'Query depth 14 exceeds the limit of 12',
        { limit: { name: 'depth', maximum: 12, actual: 14 } },
      ],
    ]);
  });

  it('accepts every checked-in client operation and the introspection query', () => {
    const operationsDir = path.join(ROOT, 'schema/operations');
    const files = readdirSync(operationsDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.graphql'),
    );
    expect(files.length).toBeGreaterThan(5);
    const refused = files.flatMap((file) =>
      validate(schema, parse(readFileSync(path.join(operationsDir, file), 'utf8')), rules).map(
        (error) => `${file}: ${error.message}`,
      ),
    );
    expect(refused).toEqual([]);
    expect(validate(schema, parse(getIntrospectionQuery()), rules)).toEqual([]);
  });
});
