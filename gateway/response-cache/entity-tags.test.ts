/**
 * Which entities a query's response depends on: a book lookup by id is tagged with that
 * book (from a literal or a variable, found or not), any other way to reach books is
 * tagged with the whole collection, and what the cache cannot track is not cacheable.
 */
import { Kind, buildSchema, getOperationAST, parse } from 'graphql';
import type { FragmentDefinitionNode } from 'graphql';
import { entityTagsOf } from './entity-tags.ts';

const schema = buildSchema(`
  type Query { book(id: ID!): Book, books: [Book!]!, shelf(id: ID!): Shelf, me: User }
  type Mutation { touch: Boolean }
  type Book { id: ID! name: String! }
  type Shelf { items: [Item!]! }
  type Item { book: Book! }
  type User { name: String! }
`);
const ENTITIES = [{ typename: 'Book', lookups: [{ field: 'book', idArgument: 'id' }] }];

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
  it('tags a lookup with the book its id names, from a variable or a literal', () => {
    expect(tagsOf('query ($id: ID!) { book(id: $id) { name } }', { id: 'p1' })).toEqual([
      'Book:p1',
    ]);
    expect(tagsOf('{ a: book(id: "p1") { id } b: book(id: "p2") { id } }')).toEqual([
      'Book:p1',
      'Book:p2',
    ]);
  });

  it('tags every other way to reach a book with the collection', () => {
    expect(tagsOf('{ books { id } }')).toEqual(['Book:*']);
    expect(tagsOf('{ shelf(id: "o") { items { book { id } } } }')).toEqual(['Book:*']);
    expect(tagsOf('{ ...F } fragment F on Query { books { id } }')).toEqual(['Book:*']);
  });

  it('tags nothing for data without tracked entities', () => {
    expect(tagsOf('{ me { name } __typename }')).toEqual([]);
  });

  it('refuses mutations and lookups without a usable id', () => {
    expect(tagsOf('mutation { touch }')).toBeNull();
    expect(tagsOf('query ($id: ID) { book(id: $id) { id } }', {})).toBeNull();
  });
});
