/**
 * The gateway's access policy for `@authenticated` and `@requiresScopes`: the policy read from
 * a supergraph composed from three small subgraphs decides, per caller, which selected fields
 * violate it. The plugin that enforces it in Apollo Server is authorization.plugin.test.ts's
 * subject.
 */
import { composeServices } from '@apollo/composition';
import { buildSchema, parse } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { createAccessPolicy } from './access-policy.ts';
import type { AccessPolicy, AccessViolation } from './access-policy.ts';

const FEDERATION = (imports: string) =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ${imports})`;
const IMPORTS = '["@key", "@authenticated", "@requiresScopes"]';

const usersSdl = (imports = IMPORTS, authenticated = '@authenticated') => `
  ${FEDERATION(imports)}
  type Query {
    me: User
    user(id: ID!): User ${authenticated}
    users: [User!]! @requiresScopes(scopes: [["admin"]])
  }
  type Mutation {
    updateName(name: String!): User ${authenticated}
  }
  type User @key(fields: "id") {
    id: ID!
    name: String!
    email: String @requiresScopes(scopes: [["users:email"]])
    settings: Settings
  }
  type Settings ${authenticated} {
    theme: String
  }
`;

const loansSdl = (imports = IMPORTS, authenticated = '@authenticated') => `
  ${FEDERATION(imports)}
  type Query {
    loan(id: ID!): Loan
  }
  type Mutation {
    refundLoan(id: ID!): Loan @requiresScopes(scopes: [["payments:refund"]])
  }
  type Loan @key(fields: "id") {
    id: ID!
    total: Money
    status: LoanStatus
  }
  "Amounts are finance data, wherever they appear."
  scalar Money @requiresScopes(scopes: [["finance"]])
  enum LoanStatus ${authenticated} {
    OPEN
    PAID
  }
  type User @key(fields: "id") {
    id: ID!
    loans: [Loan!]! @requiresScopes(scopes: [["loans:read", "users:read"], ["support"]])
  }
`;

const librarySdl = (imports = IMPORTS, authenticated = '@authenticated') => `
  ${FEDERATION(imports)}
  type Query {
    node(id: ID!): Node
    search(text: String!): [SearchResult!]!
  }
  interface Node {
    id: ID!
  }
  type Book implements Node {
    id: ID!
    title: String!
  }
  type Review implements Node ${authenticated} {
    id: ID!
    body: String!
  }
  union SearchResult = Book | Review
`;

interface Composed {
  supergraphSdl: string;
  apiSchema: GraphQLSchema;
}

function compose(...subgraphs: [name: string, sdl: string][]): Composed {
  const result = composeServices(
    subgraphs.map(([name, sdl]) => ({ name, url: `http://${name}`, typeDefs: parse(sdl) })),
  );
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return {
    supergraphSdl: result.supergraphSdl,
    apiSchema: result.schema.toAPISchema().toGraphQLJSSchema(),
  };
}

const graph = compose(['users', usersSdl()], ['loans', loansSdl()], ['library', librarySdl()]);
const policy = createAccessPolicy(graph.supergraphSdl);

const ANONYMOUS = null;
const SIGNED_IN: readonly string[] = [];

function check(
  query: string,
  scopes: readonly string[] | null,
  extra: { operationName?: string; variables?: Record<string, unknown> } = {},
  using: { policy: AccessPolicy; schema: GraphQLSchema } = { policy, schema: graph.apiSchema },
): AccessViolation[] {
  return using.policy.check({ schema: using.schema, document: parse(query), scopes, ...extra });
}

/** The violations as `path → code` lines: compact and order-preserving. */
function summary(violations: AccessViolation[]): string[] {
  return violations.map((v) => `${v.path.join('.')} ${v.coordinate} ${v.code}`);
}

describe('how the supergraph spells the directives', () => {
  it('keeps the subgraphs’ names and links both specs for SECURITY', () => {
    expect(graph.supergraphSdl).toContain(
      '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
    );
    expect(graph.supergraphSdl).toContain(
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
    );
    expect(graph.supergraphSdl).toMatch(/user\(id: ID!\): User @join__field\(.*\) @authenticated/);
  });

  it('enforces a renamed import under the name the supergraph links it as', () => {
    const renamed = '["@key", {name: "@authenticated", as: "@signedIn"}, "@requiresScopes"]';
    const renamedGraph = compose(
      ['users', usersSdl(renamed, '@signedIn')],
      ['loans', loansSdl(renamed, '@signedIn')],
      ['library', librarySdl(renamed, '@signedIn')],
    );
    expect(renamedGraph.supergraphSdl).toContain(
      'import: [{name: "@authenticated", as: "@signedIn"}]',
    );
    const renamedPolicy = createAccessPolicy(renamedGraph.supergraphSdl);
    const using = { policy: renamedPolicy, schema: renamedGraph.apiSchema };

    expect(
      summary(check('{ user(id: "1") { settings { theme } } }', ANONYMOUS, {}, using)),
    ).toEqual(['user Query.user UNAUTHENTICATED', 'user.settings User.settings UNAUTHENTICATED']);
  });

  it('enforces a spec linked under another namespace by that name', () => {
    const sdl = `
      schema
        @link(url: "https://specs.apollo.dev/link/v1.0")
        @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", as: "scoped", for: SECURITY)
      { query: Query }
      type Query { reports: [String!]! @scoped(scopes: "audit") }
    `;
    const using = {
      policy: createAccessPolicy(sdl),
      schema: buildSchema('type Query { reports: [String!]! }'),
    };

    expect(check('{ reports }', ['audit'], {}, using)).toEqual([]);
    expect(check('{ reports }', SIGNED_IN, {}, using)).toEqual([
      {
        path: ['reports'],
        coordinate: 'Query.reports',
        code: 'FORBIDDEN',
        message: 'You need scope audit to read Query.reports',
      },
    ]);
  });

  it('enforces nothing when the supergraph does not link the specs', () => {
    const plain = compose(['plain', `${FEDERATION('["@key"]')}\n type Query { hello: String }`]);
    const using = { policy: createAccessPolicy(plain.supergraphSdl), schema: plain.apiSchema };

    expect(check('{ hello }', ANONYMOUS, {}, using)).toEqual([]);
  });

  it('refuses a major version of a spec it does not know', () => {
    const sdl = `schema @link(url: "https://specs.apollo.dev/authenticated/v1.0") { query: Query }`;

    expect(() => createAccessPolicy(sdl)).toThrow(/unsupported spec version/);
  });
});

describe('anonymous and signed-in callers', () => {
  it('lets anyone run a query that selects only public fields', () => {
    const query = '{ me { id name } loan(id: "7") { id } search(text: "x") { __typename } }';

    expect(check(query, ANONYMOUS)).toEqual([]);
  });

  it('asks an anonymous caller to sign in for an @authenticated field', () => {
    expect(check('{ user(id: "1") { name } }', ANONYMOUS)).toEqual([
      {
        path: ['user'],
        coordinate: 'Query.user',
        code: 'UNAUTHENTICATED',
        message: 'You must be signed in to read Query.user',
      },
    ]);
  });

  it('lets a signed-in caller without scopes read an @authenticated field', () => {
    expect(check('{ user(id: "1") { name } }', SIGNED_IN)).toEqual([]);
  });

  it('asks an anonymous caller to sign in for a field that requires scopes', () => {
    expect(summary(check('{ users { id } }', ANONYMOUS))).toEqual([
      'users Query.users UNAUTHENTICATED',
    ]);
  });

  it('forbids a signed-in caller lacking the scope, naming it', () => {
    expect(check('{ users { id } }', ['users:email'])).toEqual([
      {
        path: ['users'],
        coordinate: 'Query.users',
        code: 'FORBIDDEN',
        message: 'You need scope admin to read Query.users',
      },
    ]);
    expect(check('{ users { id } }', ['admin'])).toEqual([]);
  });
});

describe('scopes: every scope of at least one inner list', () => {
  const query = '{ me { loans { id } } }';

  it('forbids holding only part of an AND', () => {
    expect(check(query, ['loans:read'])).toEqual([
      {
        path: ['me', 'loans'],
        coordinate: 'User.loans',
        code: 'FORBIDDEN',
        message: 'You need scopes loans:read and users:read, or scope support, to read User.loans',
      },
    ]);
  });

  it('allows the whole AND list', () => {
    expect(check(query, ['users:read', 'loans:read'])).toEqual([]);
  });

  it('allows the other alternative of the OR', () => {
    expect(check(query, ['support'])).toEqual([]);
  });
});

describe('type-level requirements', () => {
  it('charges an object type’s requirement to the field that returns it, however deep', () => {
    expect(summary(check('{ me { settings { theme } } }', ANONYMOUS))).toEqual([
      'me.settings User.settings UNAUTHENTICATED',
    ]);
    expect(check('{ me { settings { theme } } }', SIGNED_IN)).toEqual([]);
  });

  it('charges a scalar’s and an enum’s requirement to the fields that return them', () => {
    expect(summary(check('{ loan(id: "7") { total status } }', ANONYMOUS))).toEqual([
      'loan.total Loan.total UNAUTHENTICATED',
      'loan.status Loan.status UNAUTHENTICATED',
    ]);
    expect(check('{ loan(id: "7") { total status } }', SIGNED_IN)).toEqual([
      {
        path: ['loan', 'total'],
        coordinate: 'Loan.total',
        code: 'FORBIDDEN',
        message: 'You need scope finance to read Loan.total',
      },
    ]);
  });

  it('reports every violating field of a nested selection, outermost first', () => {
    const query = '{ users { email loans { total } } }';

    expect(summary(check(query, SIGNED_IN))).toEqual([
      'users Query.users FORBIDDEN',
      'users.email User.email FORBIDDEN',
      'users.loans User.loans FORBIDDEN',
      'users.loans.total Loan.total FORBIDDEN',
    ]);
    expect(check(query, ['admin', 'users:email', 'support', 'finance'])).toEqual([]);
  });
});

describe('how the operation is written', () => {
  it('reports response paths with aliases', () => {
    const query = '{ admins: users { contact: email } person: user(id: "1") { id } }';

    expect(summary(check(query, ANONYMOUS))).toEqual([
      'admins Query.users UNAUTHENTICATED',
      'admins.contact User.email UNAUTHENTICATED',
      'person Query.user UNAUTHENTICATED',
    ]);
  });

  it('follows named fragments, nested ones included', () => {
    const query = `
      { me { ...Profile } }
      fragment Profile on User { name ...Private }
      fragment Private on User { email }
    `;

    expect(summary(check(query, SIGNED_IN))).toEqual(['me.email User.email FORBIDDEN']);
  });

  it('follows inline fragments, with and without a type condition', () => {
    const query = '{ me { ... on User { settings { theme } } ... { email } } }';

    expect(summary(check(query, ANONYMOUS))).toEqual([
      'me.settings User.settings UNAUTHENTICATED',
      'me.email User.email UNAUTHENTICATED',
    ]);
  });

  it('reports a field selected several times at one path once', () => {
    const query = `
      { users { id } users { name } me { email ...E ... on User { email } } }
      fragment E on User { email }
    `;

    expect(summary(check(query, SIGNED_IN))).toEqual([
      'users Query.users FORBIDDEN',
      'me.email User.email FORBIDDEN',
    ]);
  });

  it('skips what @skip and @include leave out, with variables and their defaults', () => {
    const query = `
      query Profile($withEmail: Boolean!, $hideUsers: Boolean = true) {
        me { email @include(if: $withEmail) ...Private @skip(if: true) }
        users @skip(if: $hideUsers) { id }
      }
      fragment Private on User { settings { theme } }
    `;

    expect(check(query, ANONYMOUS, { variables: { withEmail: false } })).toEqual([]);
    expect(
      summary(check(query, ANONYMOUS, { variables: { withEmail: true, hideUsers: false } })),
    ).toEqual(['me.email User.email UNAUTHENTICATED', 'users Query.users UNAUTHENTICATED']);
  });

  it('checks a conditional selection whose variables are missing (execution rejects it)', () => {
    const query = 'query ($withEmail: Boolean!) { me { email @include(if: $withEmail) } }';

    expect(summary(check(query, ANONYMOUS))).toEqual(['me.email User.email UNAUTHENTICATED']);
  });

  it('checks only the operation named by operationName', () => {
    const document = `
      query Public { me { name } }
      query Admin { users { id } }
      mutation Rename { updateName(name: "Ada") { id } }
    `;

    expect(check(document, ANONYMOUS, { operationName: 'Public' })).toEqual([]);
    expect(summary(check(document, ANONYMOUS, { operationName: 'Admin' }))).toEqual([
      'users Query.users UNAUTHENTICATED',
    ]);
    expect(summary(check(document, ANONYMOUS, { operationName: 'Rename' }))).toEqual([
      'updateName Mutation.updateName UNAUTHENTICATED',
    ]);
  });

  it('ignores __typename and introspection', () => {
    const query = '{ __typename __schema { queryType { name } } me { __typename } }';

    expect(check(query, ANONYMOUS)).toEqual([]);
  });
});

describe('mutations', () => {
  it('asks an anonymous caller to sign in to call an @authenticated mutation', () => {
    expect(check('mutation { updateName(name: "Ada") { id } }', ANONYMOUS)).toEqual([
      {
        path: ['updateName'],
        coordinate: 'Mutation.updateName',
        code: 'UNAUTHENTICATED',
        message: 'You must be signed in to call Mutation.updateName',
      },
    ]);
    expect(check('mutation { updateName(name: "Ada") { id } }', SIGNED_IN)).toEqual([]);
  });

  it('checks the mutation’s scopes and what its result selects', () => {
    const mutation = 'mutation { refundLoan(id: "7") { id total } }';

    expect(check(mutation, SIGNED_IN).map((v) => v.message)).toEqual([
      'You need scope payments:refund to call Mutation.refundLoan',
      'You need scope finance to read Loan.total',
    ]);
    expect(check(mutation, ['payments:refund', 'finance'])).toEqual([]);
  });
});

describe('interfaces and unions', () => {
  it('requires what a union member requires only inside a fragment on that member', () => {
    expect(check('{ search(text: "x") { ... on Book { title } } }', ANONYMOUS)).toEqual([]);
    expect(check('{ search(text: "x") { ... on Review { body } } }', ANONYMOUS)).toEqual([
      {
        path: ['search', 'body'],
        coordinate: 'Review.body',
        code: 'UNAUTHENTICATED',
        message: 'You must be signed in to read Review.body',
      },
    ]);
  });

  it('requires, for a field returning an interface, what composition gathered from its implementations', () => {
    expect(graph.supergraphSdl).toMatch(
      /interface Node\n(\s+@join__type\(.*\)\n)*\s+@authenticated/,
    );
    expect(summary(check('{ node(id: "1") { id } }', ANONYMOUS))).toEqual([
      'node Query.node UNAUTHENTICATED',
    ]);
    expect(check('{ node(id: "1") { id ... on Book { title } } }', SIGNED_IN)).toEqual([]);
  });

  describe('given a supergraph whose interfaces carry none of their implementations’ requirements', () => {
    const using = {
      policy: createAccessPolicy(`
        schema
          @link(url: "https://specs.apollo.dev/link/v1.0")
          @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)
          @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)
        { query: Query }
        type Query { feed: [Entry!]! }
        interface Entry { title: String author: Author }
        type Post implements Entry { title: String author: Author }
        type Draft implements Entry @authenticated {
          title: String @requiresScopes(scopes: [["drafts"]])
          author: Editor
          words: Int
        }
        type Author { name: String }
        type Editor @requiresScopes(scopes: [["staff"]]) { name: String }
      `),
      schema: buildSchema(`
        type Query { feed: [Entry!]! }
        interface Entry { title: String author: Author }
        type Post implements Entry { title: String author: Author }
        type Draft implements Entry { title: String author: Editor words: Int }
        type Author { name: String }
        type Editor { name: String }
      `),
    };

    it('requires, of a field read through the interface, what any implementation’s field requires', () => {
      expect(check('{ feed { title author { name } } }', SIGNED_IN, {}, using)).toEqual([
        {
          path: ['feed', 'title'],
          coordinate: 'Entry.title',
          code: 'FORBIDDEN',
          message: 'You need scope drafts to read Entry.title',
        },
        {
          path: ['feed', 'author'],
          coordinate: 'Entry.author',
          code: 'FORBIDDEN',
          message: 'You need scope staff to read Entry.author',
        },
      ]);
      expect(check('{ feed { title author { name } } }', ['drafts', 'staff'], {}, using)).toEqual(
        [],
      );
    });

    it('requires an implementation’s own requirement inside a fragment on it', () => {
      expect(check('{ feed { ... on Post { title } } }', ANONYMOUS, {}, using)).toEqual([]);
      expect(summary(check('{ feed { ... on Draft { words } } }', ANONYMOUS, {}, using))).toEqual([
        'feed.words Draft.words UNAUTHENTICATED',
      ]);
      expect(check('{ feed { ... on Draft { words } } }', SIGNED_IN, {}, using)).toEqual([]);
    });
  });
});

describe('documents that would make a naive walk hang or overflow', () => {
  const nested = {
    policy: createAccessPolicy(`
      schema @link(url: "https://specs.apollo.dev/authenticated/v0.1") { query: Query }
      type Query { root: Folder }
      type Folder { parent: Folder secret: String @authenticated }
    `),
    schema: buildSchema(`
      type Query { root: Folder }
      type Folder { parent: Folder secret: String }
    `),
  };

  it('walks a thousand levels of nesting', () => {
    const depth = 1000;
    const query = `{ root { ${'parent { '.repeat(depth)}secret${' }'.repeat(depth)} } }`;

    const violations = check(query, ANONYMOUS, {}, nested);

    expect(violations).toHaveLength(1);
    expect(violations[0]!.path).toHaveLength(depth + 2);
  });

  it('expands a fragment spread twice per level only once per path (2^40 spreads)', () => {
    const levels = 40;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Folder { ...F${i + 1} ...F${i + 1} }`,
    ).join('\n');
    const query = `{ root { ...F0 } }\n${fragments}\nfragment F${levels} on Folder { secret }`;

    expect(summary(check(query, ANONYMOUS, {}, nested))).toEqual([
      'root.secret Folder.secret UNAUTHENTICATED',
    ]);
  });

  it('stops at a fragment cycle (invalid GraphQL, rejected by validation anyway)', () => {
    const query = `
      { root { ...A } }
      fragment A on Folder { secret parent { ...B } }
      fragment B on Folder { ...A }
    `;

    // A → B → A is where the cycle closes: B's spread of A is not expanded again.
    expect(summary(check(query, ANONYMOUS, {}, nested))).toEqual([
      'root.secret Folder.secret UNAUTHENTICATED',
    ]);
  });
});
