/**
 * The compiled response shape answers exactly as @apollo/gateway's `computeResponse` does:
 * the same data (keys in the same order), the same errors with the same paths, the same
 * refusals. Each case runs both on the same merged input; a seeded fuzzer then corrupts
 * valid inputs (nulls where none may be, values of the wrong type, unknown or missing
 * `__typename`s) and compares again.
 */
import { buildSchema, operationFromDocument } from '@apollo/federation-internals';
import { computeResponse } from '@apollo/gateway/dist/resultShaping.js';
import { parse } from 'graphql';
import type { OperationDefinitionNode } from 'graphql';
import { compileResponseShape } from './response-shape.ts';

const SDL = `
  type Query {
    node(id: ID!): Node
    nodes: [Node!]!
    search: [Result]
    me: User
    count: Int
    version: Float
    stamp: DateTime
  }
  interface Node { id: ID! }
  type User implements Node {
    id: ID!
    name: String!
    role: Role
    best: Product
    friends: [User!]
    constructor: String
  }
  type Product implements Node {
    id: ID!
    upc: String!
    price: Int!
    tags: [String!]
    ratio: Float
  }
  union Result = User | Product
  enum Role { ADMIN CUSTOMER }
  scalar DateTime
`;

const federationSchema = buildSchema(SDL);
const schema = federationSchema.toGraphQLJSSchema();

interface Answer {
  data: unknown;
  errors: { message: string; path: unknown; code: unknown }[];
  thrown?: string;
}

function apollos(query: string, variables: Record<string, unknown>, input: unknown): Answer {
  try {
    const operation = operationFromDocument(federationSchema, parse(query), { validate: true });
    const { data, errors } = computeResponse({
      operation,
      variables,
      input: input as Record<string, unknown>,
      introspectionHandling: () => {
        throw new Error('no introspection here');
      },
    });
    return { data: JSON.parse(JSON.stringify(data)) as unknown, errors: errors.map(plain) };
  } catch {
    return { data: undefined, errors: [], thrown: 'thrown' };
  }
}

function ours(query: string, variables: Record<string, unknown>, input: unknown): Answer {
  const document = parse(query);
  const operation = document.definitions[0] as OperationDefinitionNode;
  try {
    const { data, errors } = compileResponseShape(schema, document, operation).shape(
      structuredClone(input) as Record<string, unknown>,
      variables,
    );
    return { data: JSON.parse(JSON.stringify(data)) as unknown, errors: errors.map(plain) };
  } catch {
    return { data: undefined, errors: [], thrown: 'thrown' };
  }
}

function plain(error: {
  message: string;
  path?: readonly unknown[] | undefined;
  extensions: Record<string, unknown>;
}) {
  return { message: error.message, path: error.path, code: error.extensions['code'] };
}

/** Both answers, as JSON text: equal text means equal data in the same key order. */
function both(query: string, input: unknown, variables: Record<string, unknown> = {}) {
  return {
    ours: JSON.stringify(ours(query, variables, input)),
    apollos: JSON.stringify(apollos(query, variables, structuredClone(input))),
  };
}

const USER = {
  __typename: 'User',
  id: 'u1',
  name: 'Ada',
  role: 'ADMIN',
  best: { __typename: 'Product', id: 'p1', upc: '1', price: 5, tags: ['a'], ratio: 0.5 },
  friends: [
    { __typename: 'User', id: 'u2', name: 'Bob', role: null },
    { __typename: 'User', id: 'u3', name: 'Cy', role: 'CUSTOMER' },
  ],
  constructor: 'built',
};
const PRODUCT = { __typename: 'Product', id: 'p2', upc: '2', price: 7, tags: null, ratio: 1 };

const CASES: {
  name: string;
  query: string;
  input: unknown;
  variables?: Record<string, unknown>;
  /** Apollo refuses the input as a whole (an assertion). */
  refused?: true;
}[] = [
  {
    name: 'fields, aliases and nested lists',
    query: '{ me { id who: name role best { upc price tags } friends { name role } } count }',
    input: { me: USER, count: 3 },
  },
  {
    name: 'a field selected twice merges into one answer',
    query: '{ me { best { upc } friends { id } best { price } } me { name best { tags } } }',
    input: { me: USER },
  },
  {
    name: 'fragments on an interface and a union, applied by __typename',
    query: `{
      nodes { id ... on User { name } ... on Product { upc price } __typename }
      search { ... on Product { id ratio } ... Who __typename }
    }
    fragment Who on User { name friends { id } }`,
    input: { nodes: [USER, PRODUCT], search: [PRODUCT, USER, null] },
  },
  {
    name: 'an aliased __typename, and one the subgraph did not send',
    query: '{ me { kind: __typename __typename best { t: __typename } } }',
    input: { me: { ...USER, __typename: undefined, kind: undefined, best: { ...PRODUCT } } },
  },
  {
    name: '@skip and @include by literal, variable and default',
    query: `query Q($a: Boolean!, $b: Boolean! = false) {
      me { id @skip(if: true) name @include(if: $a) role @skip(if: $b)
           ... on User @include(if: $b) { best { upc } } }
    }`,
    input: { me: USER },
    variables: { a: true },
  },
  {
    name: 'null in a non-null field bubbles to the nearest nullable parent',
    query: '{ me { name best { upc } friends { name } } }',
    input: { me: { ...USER, friends: [{ __typename: 'User', name: null }] } },
  },
  {
    name: 'null in a non-null list element nulls the list, and the root when it must',
    query: '{ nodes { id } }',
    input: {
      nodes: [
        { __typename: 'Product', id: 'p' },
        { __typename: 'Product', id: null },
      ],
    },
  },
  {
    name: 'leaf values of the wrong type are refused, custom scalars pass',
    query: '{ count version stamp me { role best { price ratio } } }',
    input: {
      count: 1.5,
      version: 'x',
      stamp: { any: 'thing' },
      me: { ...USER, role: 'OWNER', best: { ...USER.best, price: '5', ratio: 2 } },
    },
  },
  {
    name: 'an unknown __typename is refused where an object is expected',
    query: '{ me { name best { upc } } }',
    input: { me: { ...USER, best: { ...USER.best, __typename: 'Gadget' } } },
  },
  {
    name: 'a field named like an Object.prototype property',
    query: '{ me { constructor toString: name } }',
    input: { me: USER },
  },
  {
    name: 'a missing field is null',
    query: '{ me { role best { ratio } } count }',
    input: { me: { __typename: 'User' } },
  },
  {
    name: 'a string where an object belongs fails the whole answer',
    query: '{ me { name } }',
    input: { me: 'Ada' },
    refused: true,
  },
];

describe('compiled response shape answers as @apollo/gateway computeResponse', () => {
  it.each(CASES)('$name', ({ query, input, variables, refused }) => {
    const answers = both(query, input, variables);
    expect(answers.ours).toBe(answers.apollos);
    expect((JSON.parse(answers.apollos) as Answer).thrown !== undefined).toBe(refused === true);
  });

  it('agrees on corrupted inputs (seeded fuzz)', () => {
    let seed = 20261207;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const corruptions: unknown[] = [null, 'Gadget', 42, 1.5, 'ADMIN', true, [], {}, undefined];
    const corrupt = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(corrupt);
      if (value && typeof value === 'object') {
        const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
        for (const key of Object.keys(copy)) {
          copy[key] =
            random() < 0.15
              ? corruptions[Math.floor(random() * corruptions.length)]
              : corrupt(copy[key]);
        }
        return copy;
      }
      return value;
    };
    let compared = 0;
    let answered = 0;
    for (const { query, input, variables } of CASES) {
      for (let round = 0; round < 40; round++) {
        const corrupted = corrupt(input);
        const answers = both(query, corrupted, variables);
        expect({ input: corrupted, answer: answers.ours }).toEqual({
          input: corrupted,
          answer: answers.apollos,
        });
        compared++;
        if ((JSON.parse(answers.apollos) as Answer).thrown === undefined) answered++;
      }
    }
    expect(compared).toBe(CASES.length * 40);
    // Most corrupted inputs still get an answer (data and errors), not a refusal.
    expect(answered).toBeGreaterThan(compared / 2);
  });
});
