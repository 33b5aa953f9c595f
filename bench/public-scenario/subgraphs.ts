/**
 * The "federation" scenario of the public graphql-gateways-benchmark
 * (github.com/graphql-hive/graphql-gateways-benchmark): four subgraphs — accounts, inventory,
 * products, reviews — over static data, and the deep `TestQuery` its load test sends. Ported
 * from its async-graphql subgraphs (`subgraphs/*.rs`) to @apollo/subgraph, with the same
 * data and the same resolver behaviour, quirks included, so that a gateway answers here what
 * it answers there:
 *
 * - inventory's entity resolver looks a product up by `upc` and ignores the `price` and
 *   `weight` the gateway sends for `@requires`, and its own rows have neither, so
 *   `shippingEstimate` is always null (the upstream load test expects null);
 * - reviews' `Review.author` is always user 1 ("urigo", provided) with reviews 1 and 2, and
 *   its `User` entity resolver gives every user reviews 1 and 2.
 *
 * The SDL is Federation 2 (the upstream subgraphs are Federation 1 `@extends` types): the
 * composed supergraph has the same types, fields, keys, `@requires` and `@provides`.
 */
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';

const FEDERATION =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ' +
  '["@key", "@shareable", "@external", "@requires", "@provides"])';

interface User {
  id: string;
  name: string;
  username: string;
  birthday: number;
}

const USERS: readonly User[] = [
  { id: '1', name: 'Uri Goldshtein', username: 'urigo', birthday: 1234567890 },
  { id: '2', name: 'Dotan Simha', username: 'dotansimha', birthday: 1234567890 },
  { id: '3', name: 'Kamil Kisiela', username: 'kamilkisiela', birthday: 1234567890 },
  { id: '4', name: 'Arda Tanrikulu', username: 'ardatan', birthday: 1234567890 },
  { id: '5', name: 'Gil Gardosh', username: 'gilgardosh', birthday: 1234567890 },
  { id: '6', name: 'Laurin Quast', username: 'laurin', birthday: 1234567890 },
];

interface InventoryRow {
  upc: string;
  inStock: boolean;
  /** Never set, as upstream: see the module comment. */
  price?: number;
  weight?: number;
}

const INVENTORY: readonly InventoryRow[] = [
  { upc: '1', inStock: true },
  { upc: '2', inStock: false },
  { upc: '3', inStock: false },
  { upc: '4', inStock: false },
  { upc: '5', inStock: true },
  { upc: '6', inStock: true },
  { upc: '7', inStock: true },
  { upc: '8', inStock: false },
  { upc: '9', inStock: true },
];

interface Product {
  upc: string;
  name: string;
  price: number;
  weight: number;
}

const PRODUCTS: readonly Product[] = [
  { upc: '1', name: 'Table', price: 899, weight: 100 },
  { upc: '2', name: 'Couch', price: 1299, weight: 1000 },
  { upc: '3', name: 'Glass', price: 15, weight: 20 },
  { upc: '4', name: 'Chair', price: 499, weight: 100 },
  { upc: '5', name: 'TV', price: 1299, weight: 1000 },
  { upc: '6', name: 'Lamp', price: 6999, weight: 300 },
  { upc: '7', name: 'Grill', price: 3999, weight: 2000 },
  { upc: '8', name: 'Fridge', price: 100000, weight: 6000 },
  { upc: '9', name: 'Sofa', price: 9999, weight: 800 },
];

interface Review {
  id: string;
  body: string;
  product: { upc: string };
}

const LOREM =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.';
const SED_UT =
  'Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugi';
const SED_QUIA =
  'sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. Neque porro quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit, sed quia non numquam eius modi tempora incidunt ut labore et dolore magnam aliquam quaerat voluptatem.';
const UT_ENIM =
  'Ut enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit laboriosam, nisi ut aliquid ex ea commodi consequatur? Quis autem';
const AT_VERO =
  'At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium voluptatum deleniti atque corrupti quos dolores et quas molestias excepturi sint occaecati cupiditate non provident, similique sunt in culpa qui officia deserunt mollitia animi, id est laborum et dolorum fuga. Et harum quidem rerum facilis est et expedita distinctio. Nam libero tempore, cum soluta nobis est eligendi optio cumque nihil impedit quo minus id quod maxime placeat facere possimus, omnis voluptas assumenda est, omnis dolor repellendus. Temporibus autem quibusdam et aut officiis debitis aut rerum necessitatibus saepe eveniet ut et voluptates repudiandae sint et molestiae non recusandae. Itaque earum rerum hic tenetur a sapiente delectus, ut aut reiciendis voluptatibus maiores alias consequatur aut perferendis doloribus asperiores repellat.';

const REVIEWS: readonly Review[] = [
  { id: '1', body: LOREM, product: { upc: '1' } },
  { id: '2', body: SED_UT, product: { upc: '1' } },
  { id: '3', body: SED_QUIA, product: { upc: '1' } },
  { id: '4', body: UT_ENIM, product: { upc: '1' } },
  { id: '5', body: LOREM, product: { upc: '2' } },
  { id: '6', body: SED_UT, product: { upc: '2' } },
  { id: '7', body: SED_QUIA, product: { upc: '2' } },
  { id: '8', body: UT_ENIM, product: { upc: '2' } },
  { id: '9', body: UT_ENIM, product: { upc: '3' } },
  { id: '10', body: UT_ENIM, product: { upc: '4' } },
  { id: '11', body: AT_VERO, product: { upc: '4' } },
];

export interface PublicSubgraph {
  readonly name: 'accounts' | 'inventory' | 'products' | 'reviews';
  readonly typeDefs: string;
  readonly resolvers: GraphQLResolverMap<unknown>;
}

export const PUBLIC_SUBGRAPHS: readonly PublicSubgraph[] = [
  {
    name: 'accounts',
    typeDefs: `${FEDERATION}
      type Query {
        me: User
        user(id: ID!): User
        users: [User]
      }
      type User @key(fields: "id") {
        id: ID!
        name: String
        username: String @shareable
        birthday: Int
      }`,
    resolvers: {
      Query: {
        me: () => USERS[0],
        user: (_: unknown, { id }: { id: string }) => USERS.find((user) => user.id === id),
        users: () => USERS,
      },
      User: {
        __resolveReference: ({ id }: { id: string }) => USERS.find((user) => user.id === id),
      },
    },
  },
  {
    name: 'inventory',
    typeDefs: `${FEDERATION}
      type Product @key(fields: "upc") {
        upc: String!
        weight: Int @external
        price: Int @external
        inStock: Boolean
        shippingEstimate: Int @requires(fields: "price weight")
      }`,
    resolvers: {
      Product: {
        // The stored row, not the representation: upstream ignores the required fields.
        __resolveReference: ({ upc }: { upc: string }) =>
          INVENTORY.find((product) => product.upc === upc),
        shippingEstimate: ({ price, weight }: InventoryRow) => {
          if (price === undefined) return null;
          if (price > 1000) return 0;
          return weight === undefined ? null : Math.trunc(weight / 2);
        },
      },
    },
  },
  {
    name: 'products',
    typeDefs: `${FEDERATION}
      type Query {
        topProducts(first: Int = 5): [Product]
      }
      type Product @key(fields: "upc") {
        upc: String!
        name: String
        price: Int
        weight: Int
      }`,
    resolvers: {
      Query: {
        topProducts: (_: unknown, { first }: { first?: number | null }) =>
          PRODUCTS.slice(0, first ?? 5),
      },
      Product: {
        __resolveReference: ({ upc }: { upc: string }) =>
          PRODUCTS.find((product) => product.upc === upc),
      },
    },
  },
  {
    name: 'reviews',
    typeDefs: `${FEDERATION}
      type Review @key(fields: "id") {
        id: ID!
        body: String
        product: Product
        author: User @provides(fields: "username")
      }
      type User @key(fields: "id") {
        id: ID!
        username: String @external
        reviews: [Review]
      }
      type Product @key(fields: "upc") {
        upc: String!
        reviews: [Review]
      }`,
    resolvers: {
      Review: {
        __resolveReference: ({ id }: { id: string }) => REVIEWS.find((review) => review.id === id),
        author: () => ({ id: '1', username: 'urigo', reviews: REVIEWS.slice(0, 2) }),
      },
      User: {
        __resolveReference: ({ id }: { id: string }) => ({
          id,
          username: 'user',
          reviews: REVIEWS.slice(0, 2),
        }),
      },
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => ({ upc }),
        reviews: ({ upc }: { upc: string }) =>
          REVIEWS.filter((review) => review.product.upc === upc),
      },
    },
  },
];

/** The load test's query (`k6.js`), verbatim but for indentation. */
export const PUBLIC_QUERY = `fragment User on User {
  id
  username
  name
}

fragment Review on Review {
  id
  body
}

fragment Product on Product {
  inStock
  name
  price
  shippingEstimate
  upc
  weight
}

query TestQuery {
  users {
    ...User
    reviews {
      ...Review
      product {
        ...Product
        reviews {
          ...Review
          author {
            ...User
            reviews {
              ...Review
              product {
                ...Product
              }
            }
          }
        }
      }
    }
  }
  topProducts {
    ...Product
    reviews {
      ...Review
      author {
        ...User
        reviews {
          ...Review
          product {
            ...Product
          }
        }
      }
    }
  }
}`;
