/**
 * Client-facing changes between two API schemas, each named by its schema coordinate, and
 * the acknowledgement file: pure functions, given two SDL texts.
 */
import { buildSchema } from 'graphql';
import { findApiChanges, parseAcknowledgements } from './breaking-changes.ts';

const BASE = `
  directive @cached(ttl: Int, scope: String) repeatable on FIELD_DEFINITION | OBJECT
  interface Node { id: ID! }
  union SearchResult = User | Post
  enum Role { USER ADMIN }
  input NewPost { title: String! body: String }
  type User implements Node { id: ID! name: String! age: Int }
  type Post { id: ID! title: String! }
  type Audit { at: String }
  type Query {
    user(id: ID!, withDeleted: Boolean = false): User
    search(text: String!): [SearchResult!]!
    posts(first: Int): [Post!]!
    role: Role
    legacy: String
  }
  type Mutation { post(input: NewPost!): Post! }
`;

function changesFrom(edit: (sdl: string) => string) {
  return findApiChanges(buildSchema(BASE), buildSchema(edit(BASE))).map(
    ({ severity, code, coordinate }) => ({ severity, code, coordinate }),
  );
}

describe('API changes between two schemas', () => {
  it.each([
    [
      'a field removed',
      (s: string) => s.replace('legacy: String', ''),
      'FIELD_REMOVED',
      'Query.legacy',
    ],
    [
      'a type removed',
      (s: string) => s.replace('type Audit { at: String }', ''),
      'TYPE_REMOVED',
      'Audit',
    ],
    [
      'a field type changed',
      (s: string) => s.replace('age: Int', 'age: String'),
      'FIELD_CHANGED_KIND',
      'User.age',
    ],
    [
      'an argument removed',
      (s: string) => s.replace('posts(first: Int)', 'posts'),
      'ARG_REMOVED',
      'Query.posts(first:)',
    ],
    [
      'an argument made required',
      (s: string) => s.replace('posts(first: Int)', 'posts(first: Int!)'),
      'ARG_CHANGED_KIND',
      'Query.posts(first:)',
    ],
    [
      'a required argument added',
      (s: string) => s.replace('posts(first: Int)', 'posts(first: Int, after: String!)'),
      'REQUIRED_ARG_ADDED',
      'Query.posts(after:)',
    ],
    [
      'an enum value removed',
      (s: string) => s.replace('enum Role { USER ADMIN }', 'enum Role { USER }'),
      'VALUE_REMOVED_FROM_ENUM',
      'Role.ADMIN',
    ],
    [
      'a union member removed',
      (s: string) => s.replace('= User | Post', '= User'),
      'TYPE_REMOVED_FROM_UNION',
      'SearchResult',
    ],
    [
      'a required input field added',
      (s: string) => s.replace('body: String }', 'body: String tags: [String!]! }'),
      'REQUIRED_INPUT_FIELD_ADDED',
      'NewPost.tags',
    ],
    [
      'an interface dropped',
      (s: string) => s.replace('type User implements Node', 'type User'),
      'IMPLEMENTED_INTERFACE_REMOVED',
      'User',
    ],
    [
      'a type changed kind',
      (s: string) => s.replace('enum Role { USER ADMIN }', 'scalar Role'),
      'TYPE_CHANGED_KIND',
      'Role',
    ],
    [
      'a directive argument removed',
      (s: string) => s.replace('(ttl: Int, scope: String)', '(ttl: Int)'),
      'DIRECTIVE_ARG_REMOVED',
      '@cached(scope:)',
    ],
    [
      'a directive location removed',
      (s: string) => s.replace('FIELD_DEFINITION | OBJECT', 'FIELD_DEFINITION'),
      'DIRECTIVE_LOCATION_REMOVED',
      '@cached',
    ],
    [
      'a directive no longer repeatable',
      (s: string) => s.replace(' repeatable ', ' '),
      'DIRECTIVE_REPEATABLE_REMOVED',
      '@cached',
    ],
    [
      'a directive removed',
      (s: string) => s.replace(/directive @cached.*\n/, ''),
      'DIRECTIVE_REMOVED',
      '@cached',
    ],
  ])('%s is breaking, named by its coordinate', (_what, edit, code, coordinate) => {
    expect(changesFrom(edit)).toContainEqual({ severity: 'breaking', code, coordinate });
  });

  it.each([
    [
      'an enum value added',
      (s: string) => s.replace('USER ADMIN', 'USER ADMIN GUEST'),
      'VALUE_ADDED_TO_ENUM',
      'Role.GUEST',
    ],
    [
      'a union member added',
      (s: string) => s.replace('= User | Post', '= User | Post | Audit'),
      'TYPE_ADDED_TO_UNION',
      'SearchResult',
    ],
    [
      'an optional argument added',
      (s: string) => s.replace('posts(first: Int)', 'posts(first: Int, after: String)'),
      'OPTIONAL_ARG_ADDED',
      'Query.posts(after:)',
    ],
    [
      'an optional input field added',
      (s: string) => s.replace('body: String }', 'body: String draft: Boolean }'),
      'OPTIONAL_INPUT_FIELD_ADDED',
      'NewPost.draft',
    ],
    [
      'an interface added',
      (s: string) => s.replace('type Post {', 'type Post implements Node {'),
      'IMPLEMENTED_INTERFACE_ADDED',
      'Post',
    ],
    [
      'an argument default changed',
      (s: string) => s.replace('withDeleted: Boolean = false', 'withDeleted: Boolean = true'),
      'ARG_DEFAULT_VALUE_CHANGE',
      'Query.user(withDeleted:)',
    ],
  ])('%s is dangerous, named by its coordinate', (_what, edit, code, coordinate) => {
    expect(changesFrom(edit)).toContainEqual({ severity: 'dangerous', code, coordinate });
  });

  it('finds nothing when only descriptions and order change', () => {
    expect(
      changesFrom((s) =>
        s.replace(
          'type Post { id: ID! title: String! }',
          '"A post" type Post { title: String! id: ID! }',
        ),
      ),
    ).toEqual([]);
  });
});

describe('the acknowledgement file', () => {
  it('lists each acknowledged change with its reason', () => {
    const text = JSON.stringify([
      {
        code: 'FIELD_REMOVED',
        coordinate: 'Query.legacy',
        reason: 'no client has used it since v2',
      },
    ]);
    expect(parseAcknowledgements(text)).toEqual({
      entries: [
        {
          code: 'FIELD_REMOVED',
          coordinate: 'Query.legacy',
          reason: 'no client has used it since v2',
        },
      ],
      problems: [],
    });
  });

  it('refuses an entry without a reason, naming the entry', () => {
    const text = JSON.stringify([
      { code: 'FIELD_REMOVED', coordinate: 'Query.legacy', reason: '  ' },
      { code: 'FIELD_REMOVED', coordinate: 'User.age' },
    ]);
    expect(parseAcknowledgements(text).problems).toEqual([
      'entry 1 (FIELD_REMOVED Query.legacy): reason: expected a reason: why clients can live with this change',
      'entry 2 (FIELD_REMOVED User.age): reason: expected a reason: why clients can live with this change',
    ]);
  });

  it('refuses an unknown change code and text that is not JSON', () => {
    expect(
      parseAcknowledgements(
        JSON.stringify([{ code: 'FIELD_GONE', coordinate: 'A.b', reason: 'r' }]),
      ).problems,
    ).toEqual([
      expect.stringMatching(/^entry 1 \(FIELD_GONE A\.b\): code: expected a breaking change code/),
    ]);
    expect(parseAcknowledgements('{ nope').problems).toEqual([
      expect.stringMatching(/^not valid JSON: /),
    ]);
  });
});
