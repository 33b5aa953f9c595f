/**
 * The authorization plugin inside a real Apollo Server, over a supergraph composed from a
 * small subgraph: it rejects a violating operation before any resolver runs, with one error
 * per violation, lets an allowed one execute, and asks for the current policy on every
 * request. What the policy decides is access-policy.test.ts's subject.
 */
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import type { GraphQLFieldResolver } from 'graphql';
import { formatError } from '../../shared/errors/index.ts';
import { createAccessPolicy } from './access-policy.ts';
import type { AccessPolicy } from './access-policy.ts';
import { authorizationPlugin } from './authorization.plugin.ts';

const usersSdl = `
  extend schema
    @link(
      url: "https://specs.apollo.dev/federation/v2.7"
      import: ["@key", "@requiresScopes"]
    )
  type Query {
    me: User
    users: [User!]! @requiresScopes(scopes: [["admin"]])
  }
  type User @key(fields: "id") {
    id: ID!
    name: String!
    email: String @requiresScopes(scopes: [["users:email"]])
  }
`;

function compose(sdl: string) {
  const result = composeServices([{ name: 'users', url: 'http://users', typeDefs: parse(sdl) }]);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return {
    supergraphSdl: result.supergraphSdl,
    apiSchema: result.schema.toAPISchema().toGraphQLJSSchema(),
  };
}

const graph = compose(usersSdl);
const policy = createAccessPolicy(graph.supergraphSdl);

const SIGNED_IN: readonly string[] = [];

describe('authorizationPlugin in Apollo Server', () => {
  interface TestContext {
    scopes: readonly string[] | null;
  }

  const data: Record<string, unknown> = {
    me: { id: 'u1', name: 'Ada', email: 'ada@example.com' },
    users: [{ id: 'u1', name: 'Ada', email: 'ada@example.com' }],
  };

  async function startServer(currentPolicy: () => AccessPolicy) {
    const resolved: string[] = [];
    const fieldResolver: GraphQLFieldResolver<unknown, TestContext> = (
      source,
      _args,
      _ctx,
      info,
    ) => {
      resolved.push(`${info.parentType.name}.${info.fieldName}`);
      return ((source ?? data) as Record<string, unknown>)[info.fieldName];
    };
    const server = new ApolloServer<TestContext>({
      schema: graph.apiSchema,
      fieldResolver,
      formatError,
      plugins: [
        authorizationPlugin<TestContext>({
          formatError,
          policy: currentPolicy,
          scopesOf: (context) => context.scopes,
        }),
      ],
    });
    await server.start();
    return { server, resolved };
  }

  it('rejects a violating operation with one error per violation, no data, and runs no resolver', async () => {
    const { server, resolved } = await startServer(() => policy);
    try {
      const response = await server.executeOperation(
        { query: '{ me { name } everyone: users { email } }' },
        { contextValue: { scopes: ['support'] } },
      );

      expect(response.http.status).toBe(200);
      expect(response.body.kind).toBe('single');
      const result = response.body.kind === 'single' ? response.body.singleResult : undefined;
      expect(result).toEqual({
        errors: [
          {
            message: 'You need scope admin to read Query.users',
            path: ['everyone'],
            extensions: { code: 'FORBIDDEN' },
          },
          {
            message: 'You need scope users:email to read User.email',
            path: ['everyone', 'email'],
            extensions: { code: 'FORBIDDEN' },
          },
        ],
      });
      expect(resolved).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('answers an anonymous caller with UNAUTHENTICATED', async () => {
    const { server } = await startServer(() => policy);
    try {
      const response = await server.executeOperation(
        { query: '{ users { id } }' },
        { contextValue: { scopes: null } },
      );

      expect(response.body.kind === 'single' && response.body.singleResult).toEqual({
        errors: [
          {
            message: 'You must be signed in to read Query.users',
            path: ['users'],
            extensions: { code: 'UNAUTHENTICATED' },
          },
        ],
      });
    } finally {
      await server.stop();
    }
  });

  it('executes an allowed operation', async () => {
    const { server, resolved } = await startServer(() => policy);
    try {
      const response = await server.executeOperation(
        { query: '{ me { name } users { email } }' },
        { contextValue: { scopes: ['admin', 'users:email'] } },
      );

      expect(response.body.kind === 'single' && response.body.singleResult).toEqual({
        data: { me: { name: 'Ada' }, users: [{ email: 'ada@example.com' }] },
      });
      expect(resolved).toEqual(['Query.me', 'User.name', 'Query.users', 'User.email']);
    } finally {
      await server.stop();
    }
  });

  it('consults the current policy on every request, so a reloaded supergraph applies at once', async () => {
    let current = policy;
    const { server } = await startServer(() => current);
    try {
      const request = { query: '{ users { id } }' };
      const context = { contextValue: { scopes: SIGNED_IN } };

      const before = await server.executeOperation(request, context);
      current = createAccessPolicy(
        compose(usersSdl.replace('@requiresScopes(scopes: [["admin"]])', '')).supergraphSdl,
      );
      const after = await server.executeOperation(request, context);

      expect(before.body.kind === 'single' && before.body.singleResult.errors).toHaveLength(1);
      expect(after.body.kind === 'single' && after.body.singleResult).toEqual({
        data: { users: [{ id: 'u1' }] },
      });
    } finally {
      await server.stop();
    }
  });
});
