/**
 * The subgraphs of the federation conformance suite: a tiny store split so that every
 * federation feature the suite compares has something to exercise, served over HTTP on free
 * local ports. No database, no identity: the headers the gateways send are ignored.
 *
 * - products: `Product` with two keys (`upc`, and the compound `sku variation { id }`),
 *   the entity interface `Media` (`Book`, `Movie`), the union `SearchResult`, `@inaccessible`
 *   fields, fields that return null or throw (null propagation, subgraph errors), and a field
 *   with an argument (`priceIn(currency)`) that inventory requires.
 * - inventory: reaches `Product` by the compound key only; `@requires` (+ `@external`), also
 *   of a field with arguments and on fields that take arguments themselves,
 *   `@override(from: "products")`, entity fields that throw, and the mutation `reserve`.
 * - reviews: `Review`, `@provides`, `User.name` `@shareable` with accounts, `Media` as an
 *   `@interfaceObject` (with a `@requires` field, and returned by a root field: its
 *   concrete type is products'), a
 *   field argument on an entity field (`Product.reviews(minRating)`), `@requires` of a field
 *   that is itself `@requires` in inventory (a chain over three subgraphs), an input object
 *   argument on an entity field (`reviewsMatching(filter)`), products' union `SearchResult`
 *   with other members (`reviewSearch`), and the mutation `addReview`.
 * - accounts: `User` with two keys, an `@inaccessible` field and type, an enum with an
 *   `@inaccessible` value it still answers, and the interface `Followable`, implemented by
 *   accounts' `User` and by products' `Product`, `Book` and `Movie` (whose other fields
 *   only products resolves); u2 follows a product products does not know, so its other key
 *   cannot be had.
 * - Event-fed subscriptions (the eventgraph live spec): products marks `product(upc)` as the
 *   `@lookup` of `Product`, and inventory declares `productRestocked(upc)`, fed by its
 *   `inventory.restocked` events (`restock` changes the stock the subgraph answers with).
 * - legacy: answers every request with HTTP 500 (a text body for entity fetches, a GraphQL
 *   error body for root fields).
 * - ghost: composed into the supergraph, but nothing listens at its URL.
 *
 * Where two subgraphs can resolve the same field (`@shareable`, `@provides`, `@override`),
 * each answers with a value tagged by its own name, so the responses also show which
 * subgraph the query plan chose. Every subgraph records the operations it receives, so the
 * suite can compare the fetches the two gateways make; the mutation resolvers also journal
 * each call, in the order they ran, and `reset()` undoes what mutations changed, so every
 * request starts from the same data.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { GraphQLError, parse } from 'graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { z } from 'zod';
import { LIVE_SPEC_DEFINITIONS } from '../../gateway/subscriptions/live-schema.ts';
import { createCatalogue, defineEventType } from '../../shared/events/index.ts';

const FEDERATION =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ' +
  '["@key", "@shareable", "@external", "@requires", "@provides", "@override", ' +
  '"@inaccessible", "@interfaceObject"])';

/** The eventgraph live spec (what events change, for the gateway's subscriptions). */
const LIVE = `
  extend schema
    @link(url: "https://eventgraph.dev/live/v0.1", import: ["@lookup", "@changedBy", "@liveEntity"])
    @federation__composeDirective(name: "@lookup")
    @federation__composeDirective(name: "@changedBy")
    @federation__composeDirective(name: "@liveEntity")
  ${LIVE_SPEC_DEFINITIONS}
`;

/** The fixture's event catalogue: what inventory publishes after a restock. */
export const inventoryRestockedV1 = defineEventType(
  'inventory.restocked',
  1,
  z.object({ upc: z.string(), sku: z.string(), units: z.number().int().min(0) }),
);
export const conformanceCatalogue = createCatalogue([inventoryRestockedV1]);

/** Units in stock by sku; a product not listed has one unless it is the COUCH. */
const UNITS = new Map<string, number>();
const unitsOf = (sku: string) => UNITS.get(sku) ?? (sku === 'COUCH' ? 0 : 1);

interface ProductRow {
  upc: string;
  sku: string;
  variation: { id: string };
  name: string;
  price: number;
  weight: number;
}

const PRODUCTS: ProductRow[] = [
  { upc: '1', sku: 'TABLE', variation: { id: 'oak' }, name: 'Table', price: 899, weight: 100 },
  { upc: '2', sku: 'COUCH', variation: { id: 'red' }, name: 'Couch', price: 1299, weight: 1000 },
  { upc: '3', sku: 'CHAIR', variation: { id: 'ash' }, name: 'Chair', price: 54, weight: 50 },
  { upc: '4', sku: 'LAMP', variation: { id: 'tin' }, name: 'Lamp', price: 12, weight: 2 },
];

const MEDIA = [
  { __typename: 'Book', id: 'b1', title: 'Dune', pages: 412 },
  { __typename: 'Movie', id: 'm1', title: 'Alien', minutes: 117 },
  { __typename: 'Book', id: 'b2', title: 'Emma', pages: 474 },
];

const USERS = [
  {
    id: 'u1',
    email: 'ada@example.com',
    name: 'Ada',
    nickname: 'countess',
    birthYear: 1815,
    tier: 'GOLD',
  },
  {
    id: 'u2',
    email: 'alan@example.com',
    name: 'Alan',
    nickname: null,
    birthYear: 1912,
    tier: 'STAFF',
  },
];

interface ReviewRow {
  id: string;
  body: string;
  rating: number;
  authorId: string;
  upc: string;
}

const INITIAL_REVIEWS: readonly ReviewRow[] = [
  { id: 'r1', body: 'Sturdy', rating: 5, authorId: 'u1', upc: '1' },
  { id: 'r2', body: 'Too red', rating: 2, authorId: 'u2', upc: '2' },
  { id: 'r3', body: 'Wobbly', rating: 3, authorId: 'u1', upc: '3' },
  { id: 'r4', body: 'Bright', rating: 4, authorId: 'u2', upc: '4' },
];
/** The reviews now: the initial ones and those `addReview` added since the last reset. */
const REVIEWS: ReviewRow[] = [...INITIAL_REVIEWS];

/** Units reserved by sku (the mutation `reserve`), since the last reset. */
const RESERVED = new Map<string, number>();

/** A mutation a subgraph ran: its field, the field's response key, and its arguments. */
export interface MutationCall {
  subgraph: string;
  field: string;
  /** The alias the operation gave the field, else its name. */
  responseKey: string;
  args: Record<string, unknown>;
}
/** The mutations run since the last reset, in the order their resolvers ran. */
let journal: MutationCall[] = [];
const record = (subgraph: string, args: Record<string, unknown>, info: GraphQLResolveInfo) =>
  void journal.push({
    subgraph,
    field: info.fieldName,
    responseKey: String(info.path.key),
    args,
  });

/** Price in a currency, per cent of the USD price (`priceIn`); other currencies throw. */
const RATES = new Map([
  ['USD', 100],
  ['EUR', 92],
  ['GBP', 79],
]);
/** Import duty by destination country, per cent of the EUR price (`importDuty`). */
const DUTIES = new Map([
  ['DE', 10],
  ['FR', 12],
]);

/** Who follows what (accounts' `Followable`): followed references by user id. */
const FOLLOWS = new Map<string, { __typename: string; id?: string; upc?: string }[]>([
  [
    'u1',
    [
      { __typename: 'Product', upc: '1' },
      { __typename: 'Book', id: 'b1' },
      { __typename: 'User', id: 'u2' },
      { __typename: 'Movie', id: 'm1' },
    ],
  ],
  [
    'u2',
    [
      { __typename: 'Product', upc: '3' },
      { __typename: 'User', id: 'u1' },
      // Discontinued: products no longer knows it, so no other key of it can be had.
      { __typename: 'Product', upc: '9' },
    ],
  ],
]);
/** How many users follow a product, a medium or a user. */
const followersOf = (key: { id?: string; upc?: string }) =>
  [...FOLLOWS.values()].filter((follows) =>
    follows.some((f) => (key.upc !== undefined ? f.upc === key.upc : f.id === key.id)),
  ).length;

const byUpc = (upc: unknown) => PRODUCTS.find((p) => p.upc === upc) ?? null;
const bySkuVariation = (sku: unknown, variation: unknown) =>
  PRODUCTS.find((p) => p.sku === sku && p.variation.id === (variation as { id?: unknown })?.id) ??
  null;

const products: SubgraphDefinition = {
  name: 'products',
  typeDefs: `${FEDERATION}
    ${LIVE}
    type Query {
      topProducts(first: Int = 5): [Product!]!
      product(upc: ID!): Product @lookup
      productBySku(sku: String!, variation: ID!): Product
      "Nullable items: a product whose non-null field is null becomes a null item."
      productsWithGaps: [Product]!
      "Non-null items in a non-null list: one null item nulls the whole response."
      strictProducts: [Product!]!
      search(term: String!): [SearchResult!]!
      media: [Media!]!
      secretProduct: Product @inaccessible
    }
    type Product @key(fields: "upc") @key(fields: "sku variation { id }") {
      upc: ID!
      sku: String!
      variation: Variation!
      name: String! @shareable
      price: Int!
      weight: Int!
      delivery: String
      "The price in USD, EUR or GBP (another currency throws BAD_USER_INPUT)."
      priceIn(currency: String!): Int!
      cost: Int @inaccessible
      "Null for CHAIR; throws for LAMP."
      nickname: String
      "Null for CHAIR, though non-null."
      code: String!
      "Throws a GraphQLError with a code of its own and extensions."
      recall: String
      "Throws a plain Error (an internal one, no code)."
      audit: String
    }
    type Variation @shareable {
      id: ID!
    }
    interface Media @key(fields: "id") {
      id: ID!
      title: String!
    }
    type Book implements Media @key(fields: "id") {
      id: ID!
      title: String!
      pages: Int!
    }
    type Movie implements Media @key(fields: "id") {
      id: ID!
      title: String!
      minutes: Int!
    }
    type User @key(fields: "id", resolvable: false) {
      id: ID!
    }
    union SearchResult = Product | Book | Movie | User
  `,
  resolvers: {
    Query: {
      topProducts: (_: unknown, { first }: { first: number }) => PRODUCTS.slice(0, first),
      product: (_: unknown, { upc }: { upc: string }) => byUpc(upc),
      productBySku: (_: unknown, args: { sku: string; variation: string }) =>
        bySkuVariation(args.sku, { id: args.variation }),
      productsWithGaps: () => PRODUCTS,
      strictProducts: () => PRODUCTS,
      search: (_: unknown, { term }: { term: string }) => {
        const needle = term.toLowerCase();
        return [
          ...PRODUCTS.filter((p) => p.name.toLowerCase().includes(needle)),
          ...MEDIA.filter((m) => m.title.toLowerCase().includes(needle)),
          ...USERS.filter((u) => u.name.toLowerCase().includes(needle)).map((u) => ({
            __typename: 'User',
            id: u.id,
          })),
        ];
      },
      media: () => MEDIA,
      secretProduct: () => PRODUCTS[0],
    },
    Product: {
      __resolveReference: (ref: { upc?: string; sku?: string; variation?: unknown }) =>
        ref.upc !== undefined ? byUpc(ref.upc) : bySkuVariation(ref.sku, ref.variation),
      delivery: () => 'delivery by products (overridden)',
      priceIn: (p: ProductRow, { currency }: { currency: string }) => {
        const rate = RATES.get(currency);
        if (rate === undefined) {
          throw new GraphQLError(`No price in ${currency}`, {
            extensions: { code: 'BAD_USER_INPUT' },
          });
        }
        return Math.round((p.price * rate) / 100);
      },
      cost: (p: ProductRow) => p.price / 2,
      nickname: (p: ProductRow) => {
        if (p.sku === 'LAMP') throw new Error('nickname service unavailable');
        return p.sku === 'CHAIR' ? null : `the ${p.name.toLowerCase()}`;
      },
      code: (p: ProductRow) => (p.sku === 'CHAIR' ? null : `P-${p.upc}`),
      recall: (p: ProductRow) => {
        if (p.sku !== 'COUCH') return null;
        throw new GraphQLError('Couch recalled', {
          extensions: { code: 'PRODUCT_RECALLED', batch: 7, details: { severity: 'high' } },
        });
      },
      audit: () => {
        throw new Error('audit database password rejected');
      },
    },
    SearchResult: {
      __resolveType: (value: { __typename?: string }) => value.__typename ?? 'Product',
    },
    Media: {
      __resolveType: (value: { __typename: string }) => value.__typename,
      __resolveReference: (ref: { id: string }) => MEDIA.find((m) => m.id === ref.id) ?? null,
    },
    Book: { __resolveReference: (ref: { id: string }) => MEDIA.find((m) => m.id === ref.id) },
    Movie: { __resolveReference: (ref: { id: string }) => MEDIA.find((m) => m.id === ref.id) },
  },
};

const inventory: SubgraphDefinition = {
  name: 'inventory',
  typeDefs: `${FEDERATION}
    ${LIVE}
    type Mutation {
      "Reserves units of a product (at least one, else BAD_USER_INPUT); answers the product."
      reserve(sku: String!, variation: ID!, units: Int!): Product!
    }
    type Subscription {
      "A product as it is restocked: its state first, then after each restock."
      productRestocked(upc: ID): Product!
        @liveEntity(argument: "upc")
        @changedBy(topic: "inventory.events", events: ["inventory.restocked"], key: "upc")
    }
    type Product @key(fields: "sku variation { id }") {
      sku: String!
      variation: Variation!
      price: Int! @external
      weight: Int! @external
      inStock: Boolean!
      units: Int!
      "Computed from products' price and weight."
      shippingEstimate: Int! @requires(fields: "price weight")
      delivery: String @override(from: "products")
      "Non-null, throws for LAMP: the entity fetch loses that product."
      restockDate: String!
      "Throws a GraphQLError with a public code (NOT_FOUND) for TABLE."
      warehouse: String
      priceIn(currency: String!): Int! @external
      "A field with an argument, computed from a required field with an argument."
      importDuty(country: String!): Int! @requires(fields: "priceIn(currency: \\"EUR\\")")
      "Requires the same field as importDuty, with another argument."
      insurance: Int! @requires(fields: "priceIn(currency: \\"GBP\\") weight")
      "Units reserved since the fixture's last reset."
      reserved: Int!
    }
    type Variation @shareable {
      id: ID!
    }
  `,
  resolvers: {
    Mutation: {
      reserve: (
        _: unknown,
        args: { sku: string; variation: string; units: number },
        __: unknown,
        info: GraphQLResolveInfo,
      ) => {
        record('inventory', args, info);
        if (args.units < 1) {
          throw new GraphQLError('Reserve at least one unit', {
            extensions: { code: 'BAD_USER_INPUT' },
          });
        }
        RESERVED.set(args.sku, (RESERVED.get(args.sku) ?? 0) + args.units);
        return { sku: args.sku, variation: { id: args.variation } };
      },
    },
    Product: {
      __resolveReference: (ref: { sku: string; variation: { id: string } }) => ({ ...ref }),
      inStock: (p: { sku: string }) => unitsOf(p.sku) > 0,
      units: (p: { sku: string }) => unitsOf(p.sku),
      shippingEstimate: (p: { price?: number; weight?: number }) => {
        if (p.price === undefined || p.weight === undefined) {
          throw new Error('@requires fields were not provided');
        }
        return p.price > 1000 ? 0 : Math.round(p.weight / 2);
      },
      delivery: (p: { sku: string }) => `delivery by inventory for ${p.sku}`,
      restockDate: (p: { sku: string }) => {
        if (p.sku === 'LAMP') throw new Error('restock planner crashed');
        return '2030-01-01';
      },
      warehouse: (p: { sku: string }) => {
        if (p.sku === 'TABLE') {
          throw new GraphQLError('Warehouse not found', { extensions: { code: 'NOT_FOUND' } });
        }
        return `WH-${p.sku}`;
      },
      importDuty: (p: { priceIn?: number }, { country }: { country: string }) => {
        if (p.priceIn === undefined) throw new Error('@requires fields were not provided');
        return Math.round((p.priceIn * (DUTIES.get(country) ?? 5)) / 100);
      },
      insurance: (p: { priceIn?: number; weight?: number }) => {
        if (p.priceIn === undefined || p.weight === undefined) {
          throw new Error('@requires fields were not provided');
        }
        return Math.round(p.priceIn / 100) + p.weight;
      },
      reserved: (p: { sku: string }) => RESERVED.get(p.sku) ?? 0,
    },
  },
};

const reviews: SubgraphDefinition = {
  name: 'reviews',
  typeDefs: `${FEDERATION}
    type Query {
      reviews: [Review!]!
      review(id: ID!): Review
      "Media by reviews' own knowledge: ids only (the concrete types are products')."
      reviewedMedia: [Media!]!
      "Reviews whose body has the term, and the products and users they are of or by."
      reviewSearch(term: String!): [SearchResult!]!
    }
    "products' union, with other members here: the supergraph's has all of them."
    union SearchResult = Review | Product | User
    input ReviewFilter {
      minRating: Int
      "Words the body must contain (any case), all of them."
      words: [String!]
    }
    type Mutation {
      "Adds a review by u1; answers it."
      addReview(upc: ID!, body: String!, rating: Int!): Review!
    }
    type Review @key(fields: "id") {
      id: ID!
      body: String!
      rating: Int!
      author: User!
      product: Product! @provides(fields: "name")
    }
    type Product @key(fields: "upc") {
      upc: ID!
      name: String! @external
      reviews(minRating: Int = 0): [Review!]!
      reviewsMatching(filter: ReviewFilter!): [Review!]!
      shippingEstimate: Int! @external
      "Requires inventory's shippingEstimate, which requires products' price and weight."
      shippingNote: String! @requires(fields: "shippingEstimate")
    }
    type User @key(fields: "id") {
      id: ID!
      name: String! @shareable
      reviews: [Review!]!
    }
    type Media @key(fields: "id") @interfaceObject {
      id: ID!
      reviewCount: Int!
      title: String! @external
      "Requires products' title: @requires on an @interfaceObject."
      blurb: String! @requires(fields: "title")
    }
  `,
  resolvers: {
    Query: {
      reviews: () => REVIEWS,
      review: (_: unknown, { id }: { id: string }) => REVIEWS.find((r) => r.id === id) ?? null,
      reviewedMedia: () => [{ id: 'm1' }, { id: 'b2' }],
      reviewSearch: (_: unknown, { term }: { term: string }) =>
        REVIEWS.filter((r) => r.body.toLowerCase().includes(term.toLowerCase())).flatMap((r) => [
          { __typename: 'Review', ...r },
          { __typename: 'Product', upc: r.upc },
          { __typename: 'User', id: r.authorId },
        ]),
    },
    SearchResult: {
      __resolveType: (value: { __typename: string }) => value.__typename,
    },
    Mutation: {
      addReview: (
        _: unknown,
        args: { upc: string; body: string; rating: number },
        __: unknown,
        info: GraphQLResolveInfo,
      ) => {
        record('reviews', args, info);
        const review = { id: `r${REVIEWS.length + 1}`, authorId: 'u1', ...args };
        REVIEWS.push(review);
        return review;
      },
    },
    Review: {
      author: (r: { authorId: string }) => ({ id: r.authorId }),
      product: (r: { upc: string }) => ({
        upc: r.upc,
        name: `${byUpc(r.upc)?.name} (provided by reviews)`,
      }),
    },
    Product: {
      // The reference carries shippingEstimate when shippingNote is asked for.
      __resolveReference: (ref: { upc: string; shippingEstimate?: number }) => ({ ...ref }),
      reviews: (p: { upc: string }, { minRating }: { minRating: number | null }) =>
        REVIEWS.filter((r) => r.upc === p.upc && r.rating >= (minRating ?? 0)),
      reviewsMatching: (
        p: { upc: string },
        { filter }: { filter: { minRating?: number | null; words?: string[] | null } },
      ) =>
        REVIEWS.filter(
          (r) =>
            r.upc === p.upc &&
            r.rating >= (filter.minRating ?? 0) &&
            (filter.words ?? []).every((w) => r.body.toLowerCase().includes(w.toLowerCase())),
        ),
      shippingNote: (p: { shippingEstimate?: number }) => {
        if (p.shippingEstimate === undefined) {
          throw new Error('@requires fields were not provided');
        }
        return p.shippingEstimate === 0 ? 'ships free' : `ships for ${p.shippingEstimate}`;
      },
    },
    User: {
      __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
      name: (u: { id: string }) =>
        `${USERS.find((x) => x.id === u.id)?.name ?? '?'} (from reviews)`,
      reviews: (u: { id: string }) => REVIEWS.filter((r) => r.authorId === u.id),
    },
    Media: {
      __resolveReference: (ref: { id: string; title?: string }) => ({ ...ref }),
      reviewCount: (m: { id: string }) => m.id.length + (m.id.endsWith('1') ? 1 : 0),
      blurb: (m: { id: string; title?: string }) => {
        if (m.title === undefined) throw new Error('@requires fields were not provided');
        return `${m.title}: ${m.id.length + (m.id.endsWith('1') ? 1 : 0)} reviews`;
      },
    },
  },
};

const accounts: SubgraphDefinition = {
  name: 'accounts',
  typeDefs: `${FEDERATION}
    type Query {
      me: User
      user(id: ID!): User
      userByEmail(email: String!): User
      users: [User!]!
      usersByTier(tier: Tier!): [User!]!
    }
    "STAFF is not in the API schema, though accounts answers it (for u2)."
    enum Tier {
      BASIC
      GOLD
      STAFF @inaccessible
    }
    type User @key(fields: "id") @key(fields: "email") {
      id: ID!
      email: String!
      name: String! @shareable
      nickname: String
      birthYear: Int @inaccessible
      ledger: Ledger @inaccessible
      tier: Tier
      "Throws NOT_FOUND for u2 (whose score the scoring service does not have)."
      creditScore: Int
    }
    type Ledger @inaccessible {
      balance: Int!
    }
    "Something users follow: other users, and products' products and media."
    interface Followable {
      followers: Int!
    }
    extend type User implements Followable {
      followers: Int!
      follows: [Followable!]!
    }
    type Product implements Followable @key(fields: "upc") {
      upc: ID!
      followers: Int!
    }
    type Book implements Followable @key(fields: "id") {
      id: ID!
      followers: Int!
    }
    type Movie implements Followable @key(fields: "id") {
      id: ID!
      followers: Int!
    }
  `,
  resolvers: {
    Query: {
      me: () => USERS[0],
      user: (_: unknown, { id }: { id: string }) => USERS.find((u) => u.id === id) ?? null,
      userByEmail: (_: unknown, { email }: { email: string }) =>
        USERS.find((u) => u.email === email) ?? null,
      users: () => USERS,
      usersByTier: (_: unknown, { tier }: { tier: string }) => USERS.filter((u) => u.tier === tier),
    },
    User: {
      __resolveReference: (ref: { id?: string; email?: string }) =>
        USERS.find((u) => (ref.id !== undefined ? u.id === ref.id : u.email === ref.email)) ?? null,
      ledger: () => ({ balance: 42 }),
      creditScore: (u: { id: string }) => {
        if (u.id === 'u2') {
          throw new GraphQLError('No credit score', { extensions: { code: 'NOT_FOUND' } });
        }
        return 700;
      },
      followers: (u: { id: string }) => followersOf(u),
      follows: (u: { id: string }) =>
        (FOLLOWS.get(u.id) ?? []).map((f) =>
          f.__typename === 'User' ? { ...USERS.find((x) => x.id === f.id), __typename: 'User' } : f,
        ),
    },
    Followable: {
      __resolveType: (value: { __typename?: string }) => value.__typename ?? 'User',
    },
    Product: {
      __resolveReference: (ref: { upc: string }) => ({ upc: ref.upc }),
      followers: (p: { upc: string }) => followersOf(p),
    },
    Book: { followers: (m: { id: string }) => followersOf(m) },
    Movie: { followers: (m: { id: string }) => followersOf(m) },
  },
};

/** Subgraphs that are composed but never served by Apollo Server (see the module header). */
const legacySdl = `${FEDERATION}
  type Query {
    legacyStatus: String
  }
  type Product @key(fields: "upc") {
    upc: ID!
    legacyRating: Int
  }
`;
const ghostSdl = `${FEDERATION}
  type Query {
    ghost: String
  }
  type Product @key(fields: "upc") {
    upc: ID!
    ghostScore: Int
  }
`;

interface SubgraphDefinition {
  name: string;
  typeDefs: string;
  resolvers: GraphQLResolverMap<unknown>;
}

/** An operation a subgraph received. */
export interface ReceivedFetch {
  subgraph: string;
  query: string;
  variables: Record<string, unknown>;
}

export interface ConformanceSubgraphs {
  /** Name, GraphQL URL and SDL of each subgraph, to compose and to route to. */
  readonly services: readonly { name: string; url: string; sdl: string }[];
  /** Sets the units inventory answers with for a product (by sku). */
  restock(sku: string, units: number): void;
  /** Operations received since the last `takeFetches()`, in arrival order. */
  takeFetches(): ReceivedFetch[];
  /** The mutations run since the last `reset()`, in the order they ran. */
  mutations(): readonly MutationCall[];
  /** Undoes what mutations changed (reviews added, units reserved) and clears the journal. */
  reset(): void;
  stop(): Promise<void>;
}

/** Starts every subgraph on a free port of 127.0.0.1 (ghost: a port nothing listens on). */
export async function startConformanceSubgraphs(): Promise<ConformanceSubgraphs> {
  let received: ReceivedFetch[] = [];
  const recorder = (subgraph: string): ApolloServerPlugin => ({
    async requestDidStart({ request }) {
      received.push({ subgraph, query: request.query ?? '', variables: request.variables ?? {} });
    },
  });
  const stops: (() => Promise<void>)[] = [];
  const services: { name: string; url: string; sdl: string }[] = [];
  try {
    for (const definition of [products, inventory, reviews, accounts]) {
      const server = new ApolloServer({
        schema: buildSubgraphSchema({
          typeDefs: parse(definition.typeDefs),
          resolvers: definition.resolvers,
        }),
        includeStacktraceInErrorResponses: false,
        plugins: [recorder(definition.name), ApolloServerPluginInlineTraceDisabled()],
      });
      const { url } = await startStandaloneServer(server, {
        listen: { host: '127.0.0.1', port: 0 },
      });
      stops.push(() => server.stop());
      services.push({ name: definition.name, url, sdl: definition.typeDefs });
    }

    const legacy = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          query: string;
          variables?: Record<string, unknown>;
        };
        received.push({ subgraph: 'legacy', query: body.query, variables: body.variables ?? {} });
        if (body.query.includes('_entities')) {
          response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
        } else {
          response
            .writeHead(500, { 'content-type': 'application/json' })
            .end(JSON.stringify({ errors: [{ message: 'legacy database is down' }] }));
        }
      });
    });
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => legacy.close(() => resolve())));
    const legacyPort = (legacy.address() as AddressInfo).port;
    services.push({ name: 'legacy', url: `http://127.0.0.1:${legacyPort}/`, sdl: legacySdl });

    services.push({ name: 'ghost', url: `http://127.0.0.1:${await closedPort()}/`, sdl: ghostSdl });
  } catch (error) {
    await Promise.all(stops.map((stop) => stop()));
    throw error;
  }
  return {
    services,
    restock: (sku, units) => void UNITS.set(sku, units),
    mutations: () => [...journal],
    reset() {
      REVIEWS.splice(0, REVIEWS.length, ...INITIAL_REVIEWS);
      RESERVED.clear();
      journal = [];
    },
    takeFetches() {
      const taken = received;
      received = [];
      return taken;
    },
    async stop() {
      await Promise.all(stops.map((stop) => stop()));
    },
  };
}

/** A port that was free a moment ago and that nothing listens on now. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
