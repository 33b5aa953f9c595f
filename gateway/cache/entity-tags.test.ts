/**
 * Which entities a query's response depends on: a product lookup by id is tagged with that
 * product (from a literal or a variable, found or not), any other way to reach products is
 * tagged with the whole collection, and what the cache cannot track is not cacheable.
 */
import { Kind, buildSchema, getOperationAST, parse } from 'graphql';
import type { FragmentDefinitionNode } from 'graphql';
import { entityTagsOf } from './entity-tags.ts';

const schema = buildSchema(`
  type Query { product(id: ID!): Product, products: [Product!]!, order(id: ID!): Order, me: User }
  type Mutation { touch: Boolean }
  type Product { id: ID! name: String! }
  type Order { items: [Item!]! }
  type Item { product: Product! }
  type User { name: String! }
`);
const ENTITIES = [{ typename: 'Product', lookups: [{ field: 'product', idArgument: 'id' }] }];

function tagsOf(query: string, variables: Record<string, unknown> = {}) {
  const document = parse(query);
  const fragments = Object.fromEntries(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((d) => [d.name.value, d]),
  );
  return entityTagsOf(schema, getOperationAST(document)!, fragments, variables, ENTITIES);
}

describe('entityTagsOf', () => {
  it('tags a lookup with the product its id names, from a variable or a literal', () => {
    expect(tagsOf('query ($id: ID!) { product(id: $id) { name } }', { id: 'p1' })).toEqual([
      'Product:p1',
    ]);
    expect(tagsOf('{ a: product(id: "p1") { id } b: product(id: "p2") { id } }')).toEqual([
      'Product:p1',
      'Product:p2',
    ]);
  });

  it('tags every other way to reach a product with the collection', () => {
    expect(tagsOf('{ products { id } }')).toEqual(['Product:*']);
    expect(tagsOf('{ order(id: "o") { items { product { id } } } }')).toEqual(['Product:*']);
    expect(tagsOf('{ ...F } fragment F on Query { products { id } }')).toEqual(['Product:*']);
  });

  it('tags nothing for data without tracked entities', () => {
    expect(tagsOf('{ me { name } __typename }')).toEqual([]);
  });

  it('refuses mutations and lookups without a usable id', () => {
    expect(tagsOf('mutation { touch }')).toBeNull();
    expect(tagsOf('query ($id: ID) { product(id: $id) { id } }', {})).toBeNull();
  });
});
