/**
 * The error funnel: domain errors reach clients with their message, code and public
 * extensions; Apollo's own client-error codes pass through without stack traces; anything
 * else is masked as INTERNAL_SERVER_ERROR without leaking its message. Checked on the
 * function itself and end to end through Apollo Server.
 */
import { ApolloServer } from '@apollo/server';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import {
  ERROR_CODES,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
  clientError,
  formatError,
  isClientError,
} from './index.ts';
import type { DomainError, ErrorCode } from './index.ts';

const SECRET = 'password=hunter2 at 10.1.2.3';

/** What Apollo hands to formatError for `error` (its toJSON plus Apollo's code/stacktrace). */
function apolloFormatted(error: GraphQLError): GraphQLFormattedError {
  const json = error.toJSON();
  return {
    ...json,
    extensions: {
      code: 'INTERNAL_SERVER_ERROR',
      stacktrace: ['Error: boom', '    at secret/path.ts:1:1'],
      ...json.extensions,
    },
  };
}

/** A resolver error as graphql-js reports it: at a path, wrapping what the resolver threw. */
function resolverError(thrown: Error): GraphQLError {
  return new GraphQLError(thrown.message, {
    originalError: thrown,
    path: ['user'],
  });
}

describe('formatError', () => {
  describe('domain errors keep their message, code and extensions', () => {
    it.each<[string, DomainError, Record<string, unknown>]>([
      [
        'ValidationError (with field)',
        new ValidationError('email', 'expected an email address'),
        { code: 'BAD_USER_INPUT', field: 'email' },
      ],
      [
        'RateLimitedError (with retryAfter)',
        new RateLimitedError(30),
        { code: 'RATE_LIMITED', retryAfter: 30 },
      ],
      ['UnauthenticatedError', new UnauthenticatedError(), { code: 'UNAUTHENTICATED' }],
      ['ForbiddenError', new ForbiddenError(), { code: 'FORBIDDEN' }],
      ['NotFoundError', new NotFoundError('User 42'), { code: 'NOT_FOUND' }],
      ['ConflictError', new ConflictError('email already registered'), { code: 'CONFLICT' }],
    ])('%s thrown from a resolver', (_name, domainError, extensions) => {
      const wrapped = resolverError(domainError);

      const result = formatError(apolloFormatted(wrapped), wrapped);

      expect(result).toEqual({ message: domainError.message, path: ['user'], extensions });
    });

    it('RateLimitedError states the retry delay in its message', () => {
      const wrapped = resolverError(new RateLimitedError(7));
      const result = formatError(apolloFormatted(wrapped), wrapped);
      expect(result.message).toBe('Too many attempts; retry in 7s');
    });

    it('works on the bare domain error (not wrapped)', () => {
      const error = new ValidationError('name', 'must not be empty');
      const formatted = apolloFormatted(new GraphQLError(error.message));

      const result = formatError(formatted, error);

      expect(result).toEqual({
        message: 'must not be empty',
        extensions: { code: 'BAD_USER_INPUT', field: 'name' },
      });
    });

    it('keeps locations and path of the wrapping GraphQL error', () => {
      const error = new ForbiddenError();
      const formatted: GraphQLFormattedError = {
        message: error.message,
        locations: [{ line: 1, column: 3 }],
        path: ['user', 'email'],
        extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['x'] },
      };

      const result = formatError(formatted, resolverError(error));

      expect(result).toEqual({
        message: 'You are not allowed to do this',
        locations: [{ line: 1, column: 3 }],
        path: ['user', 'email'],
        extensions: { code: 'FORBIDDEN' },
      });
    });

    // Apollo wraps errors thrown while building the context without a `path`.
    it('works when wrapped as a GraphQLError with originalError but no path', () => {
      const domainError = new ValidationError('email', 'expected an email address');
      const wrapped = new GraphQLError(domainError.message, { originalError: domainError });

      const result = formatError(apolloFormatted(wrapped), wrapped);

      expect(result).toEqual({
        message: 'expected an email address',
        extensions: { code: 'BAD_USER_INPUT', field: 'email' },
      });
    });
  });

  describe("Apollo's client-error codes pass through", () => {
    it.each([
      'GRAPHQL_PARSE_FAILED',
      'GRAPHQL_VALIDATION_FAILED',
      'BAD_USER_INPUT',
      'BAD_REQUEST',
      'PERSISTED_QUERY_NOT_FOUND',
      'OPERATION_RESOLUTION_FAILURE',
    ])('%s keeps its message and locations but loses the stacktrace', (code) => {
      const error = new GraphQLError('Cannot query field "nope" on type "Query".', {
        extensions: { code },
      });
      const formatted: GraphQLFormattedError = {
        message: error.message,
        locations: [{ line: 1, column: 3 }],
        extensions: { code, stacktrace: ['GraphQLError: ...', '    at validate.ts:1:1'] },
      };

      const result = formatError(formatted, error);

      expect(result).toEqual({
        message: 'Cannot query field "nope" on type "Query".',
        locations: [{ line: 1, column: 3 }],
        extensions: { code },
      });
    });

    it('keeps other public extensions of a passed-through error', () => {
      const formatted: GraphQLFormattedError = {
        message: 'Variable "$id" got invalid value 3',
        extensions: { code: 'BAD_USER_INPUT', http: { status: 400 }, stacktrace: ['x'] },
      };
      const result = formatError(formatted, new GraphQLError(formatted.message));
      expect(result.extensions).toEqual({ code: 'BAD_USER_INPUT', http: { status: 400 } });
    });
  });

  describe('anything else is masked', () => {
    it('hides the message of an unexpected error thrown from a resolver', () => {
      const wrapped = resolverError(new Error(`connect ECONNREFUSED ${SECRET}`));

      const result = formatError(apolloFormatted(wrapped), wrapped);

      expect(result).toEqual({
        message: 'Internal server error',
        path: ['user'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
      expect(JSON.stringify(result)).not.toContain('hunter2');
    });

    it('hides a bare non-domain error and a thrown non-Error value', () => {
      for (const thrown of [new TypeError(SECRET), SECRET, { message: SECRET }, null]) {
        const result = formatError(
          { message: SECRET, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: [SECRET] } },
          thrown,
        );
        expect(result).toEqual({
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
      }
    });

    it('hides an error whose code is not a public client-error code', () => {
      const error = new GraphQLError(SECRET, { extensions: { code: 'DOWNSTREAM_SERVICE_ERROR' } });
      const result = formatError(
        { message: SECRET, extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'x' } },
        error,
      );
      expect(result).toEqual({
        message: 'Internal server error',
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
    });
  });
});

describe('isClientError', () => {
  it('is true for domain errors, bare or wrapped by a resolver', () => {
    expect(isClientError(new NotFoundError('User'))).toBe(true);
    expect(isClientError(resolverError(new ConflictError('taken')))).toBe(true);
  });

  it('is true for GraphQL errors carrying a client-error code and false for others', () => {
    expect(
      isClientError(new GraphQLError('bad', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })),
    ).toBe(true);
    expect(isClientError(new GraphQLError('bad', { extensions: { code: 'SOMETHING' } }))).toBe(
      false,
    );
    expect(isClientError(new Error(SECRET))).toBe(false);
    expect(isClientError(resolverError(new Error(SECRET)))).toBe(false);
    expect(isClientError(undefined)).toBe(false);
  });
});

describe('through Apollo Server', () => {
  const server = new ApolloServer({
    typeDefs: `type Query { invalid: String  limited: String  broken: String  fine: String }`,
    resolvers: {
      Query: {
        invalid: () => {
          throw new ValidationError('email', 'expected an email address');
        },
        limited: () => {
          throw new RateLimitedError(12);
        },
        broken: () => {
          throw new Error(`database said: ${SECRET}`);
        },
        fine: () => 'ok',
      },
    },
    formatError,
    // Even when stack traces are switched on, none reach the client.
    includeStacktraceInErrorResponses: true,
  });

  beforeAll(() => server.start());
  afterAll(() => server.stop());

  async function execute(query: string) {
    const response = await server.executeOperation({ query });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return response.body.singleResult;
  }

  it('reports domain errors with code and extensions next to data', async () => {
    const result = await execute('{ invalid limited fine }');

    expect(result.data).toEqual({ invalid: null, limited: null, fine: 'ok' });
    expect(result.errors).toEqual([
      {
        message: 'expected an email address',
        locations: [{ line: 1, column: 3 }],
        path: ['invalid'],
        extensions: { code: 'BAD_USER_INPUT', field: 'email' },
      },
      {
        message: 'Too many attempts; retry in 12s',
        locations: [{ line: 1, column: 11 }],
        path: ['limited'],
        extensions: { code: 'RATE_LIMITED', retryAfter: 12 },
      },
    ]);
  });

  it('masks an unexpected resolver error', async () => {
    const result = await execute('{ broken }');

    expect(result.errors).toEqual([
      {
        message: 'Internal server error',
        path: ['broken'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('passes a validation failure through without a stacktrace', async () => {
    const result = await execute('{ nope }');

    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]).toMatchObject({
      message: 'Cannot query field "nope" on type "Query".',
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(result.errors![0]!.extensions).not.toHaveProperty('stacktrace');
  });

  it('passes a parse failure through without a stacktrace', async () => {
    const result = await execute('{ fine');

    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toEqual({ code: 'GRAPHQL_PARSE_FAILED' });
    expect(result.errors![0]!.message).toMatch(/Syntax Error/);
  });
});

describe('the list of codes', () => {
  it('is what the type allows: an unlisted code does not compile', () => {
    // @ts-expect-error: not a public code; `npm run typecheck` fails if this ever compiles.
    const unlisted: ErrorCode = 'TEAPOT';
    // @ts-expect-error: the same for an error built for a client.
    clientError('short and stout', 'TEAPOT');
    // @ts-expect-error: the code is the argument, never an extension beside it.
    clientError('x', 'NOT_FOUND', { extensions: { code: 'TEAPOT' } });
    expect(ERROR_CODES).not.toContain(unlisted);
  });

  it('passes every listed code but INTERNAL_SERVER_ERROR through formatError', () => {
    for (const code of ERROR_CODES) {
      const error = clientError('refused', code);
      const result = formatError(apolloFormatted(error), error);
      expect(result.extensions?.['code']).toBe(code);
    }
    const masked = clientError(SECRET, 'INTERNAL_SERVER_ERROR');
    expect(formatError(apolloFormatted(masked), masked).message).toBe('Internal server error');
  });

  /**
   * Codes written as literals where the compiler cannot hold them to `ErrorCode` (an
   * `extensions: { code: … }` object, a `RequestRefusedError(status, code, …)`) or where it
   * does (a domain error's `code`): every one in
   * the services' source must be in the list, so no client meets a code the API does not name.
   */
  it('holds every code literal in the source of the services', async () => {
    const root = join(import.meta.dirname, '..', '..');
    const literal = [
      /\bcode:\s*'([A-Z][A-Z_]+)'/g,
      /\breadonly code = '([A-Z][A-Z_]+)'/g,
      /\bnew RequestRefusedError\(\s*\d+,\s*'([A-Z][A-Z_]+)'/g,
    ];
    const found = new Map<string, string>();
    for (const dir of ['gateway', 'shared', 'subgraphs', 'platform']) {
      for (const file of await sourceFiles(join(root, dir))) {
        const text = await readFile(file, 'utf8');
        for (const pattern of literal) {
          for (const match of text.matchAll(pattern)) {
            found.set(`${relative(root, file)}: ${match[1]}`, match[1]!);
          }
        }
      }
    }
    const unlisted = [...found].filter(
      ([, code]) => !(ERROR_CODES as readonly string[]).includes(code),
    );
    expect(found.size).toBeGreaterThan(10);
    expect(unlisted.map(([where]) => where)).toEqual([]);
  });
});

/** The TypeScript sources under `dir`, tests and dependencies left out. */
async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .filter((entry) => !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !path.includes('node_modules'));
}
