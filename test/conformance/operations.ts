/**
 * The operations of the federation conformance suite, by federation feature: each is sent
 * to both gateways, whose answers must be the same (see federation.test.ts). The features
 * follow those the federation gateway audits test (entities, @requires with and without
 * arguments, @provides, abstract types, @override, @shareable, @inaccessible, null
 * propagation, errors, variables, @skip/@include, aliases, __typename, mutations), on the
 * one fixture of ./subgraphs.ts.
 */

export interface ConformanceOperation {
  /** `feature: what the operation exercises`; the test's name. */
  name: string;
  /** Whether the answer has errors (both gateways agreeing on an accident would not count). */
  expect: 'data' | 'errors';
  query: string;
  variables?: Record<string, unknown>;
  /** Which of the document's operations to run (when it has several). */
  operationName?: string;
}

export const OPERATIONS: readonly ConformanceOperation[] = [
  // Entities: @key, references resolved in batches, two keys on Product.
  {
    name: 'entities: fields of another subgraph, one batched _entities fetch',
    expect: 'data',
    query: '{ topProducts { upc name reviews { id body } } }',
  },
  {
    name: 'entities: a compound key (sku variation { id }) to reach inventory',
    expect: 'data',
    query: '{ topProducts(first: 3) { upc inStock } }',
  },
  {
    name: 'entities: a chain over both keys (reviews → products by upc → inventory by sku)',
    expect: 'data',
    query: '{ reviews { id product { upc sku inStock } } }',
  },
  {
    name: 'entities: a root field by compound key, then back to reviews and accounts',
    expect: 'data',
    query:
      '{ productBySku(sku: "CHAIR", variation: "ash") { upc name reviews { body author { id nickname } } } }',
  },
  {
    name: 'entities: a user found by its email key, then reached by its id key',
    expect: 'data',
    query: `{
      userByEmail(email: "alan@example.com") { id name reviews { body product { name inStock } } }
    }`,
  },
  {
    name: 'entities: a missing entity is null',
    expect: 'data',
    query: '{ product(upc: "404") { upc name inStock } }',
  },
  {
    name: 'entities: an entity unknown to the subgraph holding its next key (nullable field)',
    expect: 'data',
    query: '{ user(id: "u2") { follows { ... on Product { upc followers warehouse } } } }',
  },
  {
    // Plain nulls the user without an error: it reports the null in extensions.valueCompletion.
    name: 'entities: an entity unknown to the subgraph holding its next key (non-null field)',
    expect: 'data',
    query: '{ user(id: "u2") { id follows { ... on Product { upc inStock } } } }',
  },

  // @requires / @external
  {
    name: '@requires: a field computed from another subgraph’s fields',
    expect: 'data',
    query: '{ topProducts { upc shippingEstimate } }',
  },
  {
    name: '@requires: the required fields fetched for entities reached from reviews',
    expect: 'data',
    query: '{ reviews { id product { upc shippingEstimate inStock } } }',
  },
  {
    name: '@requires: a field with an argument, computed from a required field with an argument',
    expect: 'data',
    query: '{ topProducts { upc importDuty(country: "DE") } }',
  },
  {
    name: '@requires: a required field with an argument, reached through two entity fetches',
    expect: 'data',
    query: '{ reviews { id product { upc importDuty(country: "FR") name } } }',
  },
  {
    name: '@requires: a field requiring a field that has @requires itself (three subgraphs)',
    expect: 'data',
    query: '{ topProducts { upc shippingNote } reviews { product { shippingNote } } }',
  },
  {
    // Apollo's planner fetches priceIn once, with the client's argument, and passes that
    // value as the required one: both gateways must still answer alike.
    name: '@requires: the client asks priceIn(USD) beside a field requiring priceIn(EUR)',
    expect: 'data',
    query: '{ topProducts(first: 2) { upc priceIn(currency: "USD") importDuty(country: "FR") } }',
  },
  {
    // Two fields requiring priceIn with different arguments: Apollo's planner keeps one.
    name: '@requires: two fields requiring the same field with different arguments',
    expect: 'data',
    query: '{ topProducts(first: 2) { upc importDuty(country: "DE") insurance } }',
  },

  // @provides
  {
    name: '@provides: a provided field is taken from the providing subgraph',
    expect: 'data',
    query: '{ reviews { id product { upc name } } }',
  },
  {
    name: '@provides: a provided field beside one that is not',
    expect: 'data',
    query: '{ review(id: "r2") { product { name price } } }',
  },

  // Interfaces, @interfaceObject, unions, abstract types across subgraphs
  {
    name: 'interfaces: an entity interface with inline fragments per implementation',
    expect: 'data',
    query: '{ media { __typename id title ... on Book { pages } ... on Movie { minutes } } }',
  },
  {
    name: 'interfaces: a field added by an @interfaceObject subgraph',
    expect: 'data',
    query: '{ media { __typename id reviewCount } }',
  },
  {
    name: 'interfaces: an @interfaceObject field inside a type condition',
    expect: 'data',
    query: '{ media { id ... on Book { title reviewCount } ... on Movie { minutes } } }',
  },
  {
    name: 'unions: members resolved by __resolveType, their fields from other subgraphs',
    expect: 'data',
    query: `{
      search(term: "a") {
        __typename
        ... on Product { upc name inStock reviews { rating } }
        ... on Book { title pages }
        ... on Movie { title }
        ... on User { id name nickname }
      }
    }`,
  },
  {
    name: 'interfaces: an @interfaceObject list from the root, with fields of the concrete types',
    expect: 'data',
    query: '{ reviewedMedia { id reviewCount title ... on Movie { minutes } } }',
  },
  {
    name: 'interfaces: @requires on an @interfaceObject field, from the interface and the root',
    expect: 'data',
    query: '{ media { __typename id blurb } reviewedMedia { id blurb ... on Book { pages } } }',
  },
  {
    name: 'abstract types: an interface field whose implementations live in different subgraphs',
    expect: 'data',
    query: `{
      me {
        follows {
          __typename
          followers
          ... on Product { name price }
          ... on Media { title }
          ... on User { name nickname }
        }
      }
    }`,
  },
  {
    name: 'abstract types: the same interface field, circling back through its implementations',
    expect: 'data',
    query: `{
      me {
        follows {
          __typename
          ... on User {
            name
            follows {
              ... on User { id follows { __typename ... on Product { name } ... on User { id } } }
              ... on Product { upc followers warehouse }
            }
          }
        }
      }
    }`,
  },
  {
    name: 'abstract types: union members whose selected fields only another subgraph resolves',
    expect: 'data',
    query:
      '{ search(term: "a") { ... on User { nickname followers } ... on Product { followers } } }',
  },
  {
    name: 'abstract types: a union whose members differ by subgraph, from the one with fewer',
    expect: 'data',
    query: `{
      reviewSearch(term: "r") {
        __typename
        ... on Review { id body }
        ... on Product { upc price }
        ... on Book { title }
        ... on User { name nickname }
      }
    }`,
  },
  {
    name: 'abstract types: fragments on interfaces nested in fragments on a union',
    expect: 'data',
    query: `
      query { search(term: "a") { __typename ...Result } }
      fragment Result on SearchResult {
        ... on Followable {
          followers
          ... on Media { id title ... on Book { pages } }
          ... on Product { upc inStock }
        }
        ... on Media { reviewCount }
      }
    `,
  },

  // @override
  {
    name: '@override: the field is resolved by the subgraph it moved to',
    expect: 'data',
    query: '{ topProducts(first: 2) { upc delivery } }',
  },

  // @shareable
  {
    name: '@shareable: resolved by accounts when the query starts there',
    expect: 'data',
    query: '{ users { id name nickname } }',
  },
  {
    name: '@shareable: resolved by reviews when the query starts there',
    expect: 'data',
    query: '{ reviews { id author { id name } } }',
  },
  {
    name: '@shareable: beside a field only the other subgraph has',
    expect: 'data',
    query: '{ reviews { id author { name nickname } } }',
  },

  // @inaccessible
  {
    name: '@inaccessible: a field cannot be queried',
    expect: 'errors',
    query: '{ topProducts { upc cost } }',
  },
  {
    name: '@inaccessible: a root field cannot be queried',
    expect: 'errors',
    query: '{ secretProduct { upc } }',
  },
  {
    name: '@inaccessible: a type cannot be reached',
    expect: 'errors',
    query: '{ me { id ledger { balance } } }',
  },
  {
    name: '@inaccessible: a field of another subgraph’s entity cannot be queried',
    expect: 'errors',
    query: '{ reviews { author { birthYear } } }',
  },
  {
    name: '@inaccessible: introspection shows neither the fields nor the type',
    expect: 'data',
    query: `{
      product: __type(name: "Product") { fields { name } }
      user: __type(name: "User") { fields { name } }
      ledger: __type(name: "Ledger") { name }
    }`,
  },

  // Enums
  {
    name: 'enums: a subgraph answers a value that is @inaccessible in the API schema',
    expect: 'data',
    query: '{ users { id tier } }',
  },
  {
    name: 'enums: an argument with a value of the API schema',
    expect: 'data',
    query: '{ usersByTier(tier: GOLD) { id tier name } }',
  },
  {
    name: 'enums: an argument with an @inaccessible value is rejected',
    expect: 'errors',
    query: '{ usersByTier(tier: STAFF) { id } }',
  },

  // Null propagation
  {
    name: 'null propagation: a nullable field null or throwing, in a list',
    expect: 'errors',
    query: '{ topProducts { upc nickname } }',
  },
  {
    name: 'null propagation: a null non-null field nulls its item in a nullable list',
    expect: 'errors',
    query: '{ productsWithGaps { upc code } }',
  },
  {
    name: 'null propagation: nulled items of a nullable list, then entity fetches for the rest',
    expect: 'errors',
    query: '{ productsWithGaps { upc code inStock reviews { id author { name } } } }',
  },
  {
    name: 'null propagation: a null non-null field in a non-null list nulls data',
    expect: 'errors',
    query: '{ strictProducts { upc code } }',
  },
  {
    name: 'null propagation: a null non-null field nulls its nullable parent',
    expect: 'errors',
    query: '{ a: product(upc: "3") { upc code } b: product(upc: "1") { upc code } }',
  },
  {
    name: 'null propagation: a non-null entity field throwing in an entity fetch (nullable list)',
    expect: 'errors',
    query: '{ productsWithGaps { upc name restockDate } }',
  },
  {
    name: 'null propagation: a non-null entity field throwing in an entity fetch (non-null list)',
    expect: 'errors',
    query: '{ topProducts { upc restockDate } }',
  },
  {
    name: 'null propagation: a non-null entity field throwing, nested under another entity',
    expect: 'errors',
    query: '{ reviews { id product { upc restockDate } } }',
  },
  {
    name: 'null propagation: a non-null field throwing three entity fetches deep, up to a nullable root',
    expect: 'errors',
    query: '{ user(id: "u2") { id reviews { product { upc restockDate } } } users { id } }',
  },
  {
    name: 'errors: an entity fetch error for a representation shared by several entities (each gets it)',
    expect: 'errors',
    query: '{ reviews { id author { id creditScore } } }',
  },
  {
    name: 'null propagation: a null in a non-null list element reached through two entity fetches',
    expect: 'errors',
    query: '{ me { id reviews { id product { upc code } } } users { id } }',
  },

  // Errors from subgraphs
  {
    name: 'errors: a resolver throws a GraphQLError with a code and extensions',
    expect: 'errors',
    query: '{ topProducts(first: 2) { upc recall } }',
  },
  {
    name: 'errors: a resolver throws a plain Error',
    expect: 'errors',
    query: '{ product(upc: "1") { upc audit } }',
  },
  {
    name: 'errors: an entity fetch answers a NOT_FOUND error',
    expect: 'errors',
    query: '{ topProducts(first: 2) { upc warehouse } }',
  },
  {
    name: 'errors: an error in an entity fetch three levels deep (accounts, reviews, products, inventory)',
    expect: 'errors',
    query: '{ users { id reviews { id product { upc warehouse } } } }',
  },
  {
    name: 'errors: a subgraph answers HTTP 500 with a GraphQL error body (root field)',
    expect: 'errors',
    query: '{ legacyStatus }',
  },
  {
    name: 'errors: a subgraph answers HTTP 500 with a text body (entity fetch)',
    expect: 'errors',
    query: '{ topProducts(first: 2) { upc name legacyRating } }',
  },
  {
    name: 'errors: a subgraph that is down (root field)',
    expect: 'errors',
    query: '{ ghost }',
  },
  {
    name: 'errors: a subgraph that is down (entity fetch)',
    expect: 'errors',
    query: '{ topProducts(first: 2) { upc name ghostScore } }',
  },

  // Operations: variables, fragments, aliases, @skip/@include, __typename
  {
    name: 'operations: variables and an operation name',
    expect: 'data',
    query: 'query ProductByUpc($upc: ID!) { product(upc: $upc) { upc name inStock } }',
    variables: { upc: '2' },
  },
  {
    name: 'variables: passed to fields of entities resolved by two other subgraphs',
    expect: 'data',
    query: `query ($country: String!, $min: Int) {
      topProducts(first: 3) { upc importDuty(country: $country) reviews(minRating: $min) { id rating } }
    }`,
    variables: { country: 'FR', min: 3 },
  },
  {
    name: 'variables: default values used in entity fetches',
    expect: 'data',
    query: `query ($country: String! = "DE", $min: Int = 4) {
      reviews { id product { upc importDuty(country: $country) reviews(minRating: $min) { id } } }
    }`,
  },
  {
    name: 'variables: an input object, a list coerced from one value, in an entity fetch',
    expect: 'data',
    query: `query ($filter: ReviewFilter!) {
      topProducts { upc reviewsMatching(filter: $filter) { id body } }
    }`,
    variables: { filter: { words: 'R' } },
  },
  {
    name: 'variables: an input object literal with a variable inside, in an entity fetch',
    expect: 'data',
    query: `query ($min: Int) {
      topProducts { upc reviewsMatching(filter: { minRating: $min, words: ["t", "y"] }) { id } }
    }`,
    variables: { min: 3 },
  },
  {
    name: 'variables: a number for an ID, coerced, reaching entity fetches',
    expect: 'data',
    query: 'query ($upc: ID!) { product(upc: $upc) { upc name inStock reviews { id } } }',
    variables: { upc: 2 },
  },
  {
    name: 'variables: an explicit null for an entity field argument that has a default',
    expect: 'data',
    query: 'query ($min: Int) { product(upc: "1") { upc reviews(minRating: $min) { id } } }',
    variables: { min: null },
  },
  {
    name: 'variables: an entity field rejects the value (BAD_USER_INPUT from an entity fetch)',
    expect: 'errors',
    query:
      'query ($currency: String!) { reviews { id product { upc priceIn(currency: $currency) } } }',
    variables: { currency: 'JPY' },
  },
  {
    name: 'conditions: @include(if: true) on an entity field (a Condition node)',
    expect: 'data',
    query: `query ($withReviews: Boolean!) {
      topProducts(first: 2) { upc reviews @include(if: $withReviews) { id } }
    }`,
    variables: { withReviews: true },
  },
  {
    name: 'conditions: @include(if: false) on an entity field (a Condition node)',
    expect: 'data',
    query: `query ($withReviews: Boolean!) {
      topProducts(first: 2) { upc reviews @include(if: $withReviews) { id } }
    }`,
    variables: { withReviews: false },
  },
  {
    name: 'conditions: @skip on root fields of other subgraphs, true and false',
    expect: 'data',
    query: `query ($skipReviews: Boolean!, $skipUsers: Boolean!) {
      topProducts(first: 1) { upc } reviews @skip(if: $skipReviews) { id } users @skip(if: $skipUsers) { id }
    }`,
    variables: { skipReviews: true, skipUsers: false },
  },
  {
    name: 'conditions: default values decide the Condition nodes',
    expect: 'data',
    query: `query ($withStock: Boolean = true, $withReviews: Boolean = false) {
      topProducts(first: 2) { upc ... @include(if: $withStock) { inStock } reviews @include(if: $withReviews) { id } }
    }`,
  },
  {
    name: 'conditions: the request overrides the default values',
    expect: 'data',
    query: `query ($withStock: Boolean = true, $withReviews: Boolean = false) {
      topProducts(first: 2) { upc ... @include(if: $withStock) { inStock } reviews @include(if: $withReviews) { id } }
    }`,
    variables: { withStock: false, withReviews: true },
  },
  {
    name: 'conditions: a chained @requires field under @include(if: false): none of it is fetched',
    expect: 'data',
    query: `query ($withNote: Boolean = false) {
      topProducts(first: 2) { upc shippingNote @include(if: $withNote) }
    }`,
  },
  {
    name: 'conditions: a chained @requires field under @skip(if: false)',
    expect: 'data',
    query: `query ($skipNote: Boolean!) {
      topProducts(first: 2) { upc shippingNote @skip(if: $skipNote) }
    }`,
    variables: { skipNote: false },
  },
  {
    name: 'conditions: directives on named fragment spreads and inline fragments, with literals',
    expect: 'data',
    query: `
      query ($stock: Boolean!) {
        topProducts(first: 2) {
          upc
          ...Stock @include(if: $stock)
          ...Rated @skip(if: true)
          ... @include(if: false) { name }
          ... @skip(if: false) { price }
        }
      }
      fragment Stock on Product { inStock }
      fragment Rated on Product { reviews { rating } }
    `,
    variables: { stock: true },
  },
  {
    name: 'conditions: an explicit null for a condition variable that has a default',
    expect: 'errors',
    query: `query ($withReviews: Boolean = true) {
      topProducts(first: 2) { upc reviews @include(if: $withReviews) { id } }
    }`,
    variables: { withReviews: null },
  },
  {
    name: 'conditions: an explicit null for a condition variable, on a field of the same fetch',
    expect: 'errors',
    query: `query ($withName: Boolean = true) {
      topProducts(first: 2) { upc name @include(if: $withName) }
    }`,
    variables: { withName: null },
  },
  {
    name: 'operations: response keys that are names of Object.prototype',
    expect: 'data',
    query: `{
      topProducts(first: 2) { constructor: upc toString: name valueOf: inStock hasOwnProperty: price }
    }`,
  },
  {
    name: 'conditions: @include and @skip on one entity field (nested Condition nodes)',
    expect: 'data',
    query: `query ($include: Boolean!, $skip: Boolean!) {
      topProducts(first: 2) { upc reviews @include(if: $include) @skip(if: $skip) { id } }
    }`,
    variables: { include: true, skip: true },
  },
  {
    name: 'operations: a named fragment spanning three subgraphs',
    expect: 'data',
    query: `
      query { topProducts(first: 2) { ...Detail } }
      fragment Detail on Product { upc name shippingEstimate reviews { rating author { name } } }
    `,
  },
  {
    name: 'operations: aliases of root and entity fields',
    expect: 'data',
    query:
      '{ a: product(upc: "1") { n: name s: inStock } b: product(upc: "2") { n: name s: inStock } }',
  },
  {
    name: 'aliases: the same field with different arguments, in entity fetches to two subgraphs',
    expect: 'data',
    query: `{
      topProducts(first: 2) {
        upc
        usd: priceIn(currency: "USD")
        eur: priceIn(currency: "EUR")
        de: importDuty(country: "DE")
        fr: importDuty(country: "FR")
        good: reviews(minRating: 4) { id }
        all: reviews { id }
      }
    }`,
  },
  {
    name: 'aliases: fields aliased to the names of other fields, some from other subgraphs',
    expect: 'data',
    query: '{ topProducts(first: 2) { name: upc upc: name price: inStock inStock: price } }',
  },
  {
    name: 'aliases: one response key for different fields of union members from different subgraphs',
    expect: 'data',
    query: `{
      search(term: "a") {
        __typename
        ... on Product { n: price }
        ... on Book { n: pages }
        ... on User { n: followers }
      }
    }`,
  },
  {
    name: 'entities: the same entity reached twice in one operation, by different paths',
    expect: 'data',
    query: `{
      product(upc: "1") { upc inStock reviews { id product { upc inStock name } } }
      reviews { id product { upc inStock } }
    }`,
  },
  {
    name: 'operations: @include false and @skip true on entity fields',
    expect: 'data',
    query: `query ($yes: Boolean!, $no: Boolean!) {
      topProducts(first: 2) { upc reviews @include(if: $no) { body } inStock @skip(if: $yes) name @include(if: $yes) }
    }`,
    variables: { yes: true, no: false },
  },
  {
    name: 'operations: @include true and @skip false on entity fields',
    expect: 'data',
    query: `query ($yes: Boolean!, $no: Boolean!) {
      topProducts(first: 2) { upc reviews @include(if: $yes) { body } inStock @skip(if: $no) }
    }`,
    variables: { yes: true, no: false },
  },
  {
    name: 'operations: __typename at every level',
    expect: 'data',
    query:
      '{ __typename reviews { __typename product { __typename upc } author { __typename id } } }',
  },
  {
    name: 'operations: __typename aliased, in fragments on union members and interfaces',
    expect: 'data',
    query: `{
      search(term: "e") {
        t: __typename
        ... on Book { kind: __typename title }
        ... on Media { k: __typename }
        ... on Followable { f: __typename followers }
      }
    }`,
  },
  {
    name: 'operations: only __typename at the root (an empty query plan)',
    expect: 'data',
    query: 'query Name { __typename also: __typename }',
  },
  {
    name: 'operations: only __typename on entities of other subgraphs',
    expect: 'data',
    query:
      '{ reviews { product { __typename } author { __typename } } me { follows { __typename } } }',
  },
  {
    name: 'operations: only __typename on an @interfaceObject (the concrete type is products’)',
    expect: 'data',
    query: '{ reviewedMedia { __typename } }',
  },
  // Mutations: root fields run one after another, in the order the operation lists them
  {
    name: 'mutations: root fields of two subgraphs in order, each followed by entity fields',
    expect: 'data',
    query: `mutation {
      first: addReview(upc: "4", body: "Dim", rating: 1) { id product { upc reserved reviews { id } } }
      second: addReview(upc: "4", body: "Fine", rating: 3) { id body }
      hold: reserve(sku: "LAMP", variation: "tin", units: 2) { sku reserved name reviews { id rating } }
      last: addReview(upc: "4", body: "Bright", rating: 5) {
        id product { name reserved reviews { id } } author { nickname }
      }
    }`,
  },
  {
    name: 'mutations: variables, and a failing mutation does not stop the next',
    expect: 'errors',
    query: `mutation Hold($units: Int!, $upc: ID!) {
      bad: reserve(sku: "LAMP", variation: "tin", units: $units) { sku reserved }
      next: addReview(upc: $upc, body: "Again", rating: 5) { id product { name reviews { id } } }
    }`,
    variables: { units: 0, upc: '1' },
  },
  {
    name: 'mutations: chosen by operationName from a document that also holds a query',
    expect: 'data',
    query: `
      query Look { product(upc: "4") { reviews { id } } }
      mutation Add { added: addReview(upc: "4", body: "Bright enough", rating: 4) { id product { reserved } } }
    `,
    operationName: 'Add',
  },
  {
    name: 'operations: a query chosen by operationName from a document that also holds a mutation',
    expect: 'data',
    query: `
      query Look { product(upc: "4") { reviews { id } } }
      mutation Add { added: addReview(upc: "4", body: "Bright enough", rating: 4) { id } }
    `,
    operationName: 'Look',
  },
  {
    name: 'mutations: only __typename',
    expect: 'data',
    query: 'mutation { __typename }',
  },

  {
    name: 'operations: a missing required variable',
    expect: 'errors',
    query: 'query ($upc: ID!) { product(upc: $upc) { upc } }',
  },
  {
    name: 'operations: a variable of the wrong type',
    expect: 'errors',
    query: 'query ($first: Int) { topProducts(first: $first) { upc inStock } }',
    variables: { first: 'two' },
  },
  {
    name: 'operations: an input object variable with a field its type does not have',
    expect: 'errors',
    query: `query ($filter: ReviewFilter!) {
      topProducts { upc reviewsMatching(filter: $filter) { id } }
    }`,
    variables: { filter: { minRating: 1, colour: 'red' } },
  },
  {
    name: 'operations: variables the operation does not declare are ignored',
    expect: 'data',
    query: 'query ($upc: ID!) { product(upc: $upc) { upc inStock } }',
    variables: { upc: '1', representations: [], extra: { deep: true } },
  },
  {
    name: 'operations: a field that does not exist',
    expect: 'errors',
    query: '{ topProducts { upc nope } }',
  },
  {
    name: 'operations: a syntax error',
    expect: 'errors',
    query: '{ topProducts { upc ',
  },
];
