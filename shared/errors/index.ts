/**
 * Domain errors and the one funnel that turns any thrown value into a client-facing
 * GraphQL error. Resolvers throw these classes and never build GraphQL errors themselves;
 * `formatError` maps them to the public codes (docs/operations.md, "Errors") and masks
 * everything else as INTERNAL_SERVER_ERROR (logged with the request id, message hidden from
 * the client).
 */
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';

/**
 * Every `extensions.code` a client of the API can receive, over HTTP or WebSocket
 * (docs/operations.md, "Errors"). Adding one is an API change. The domain codes come first;
 * then the request errors graphql-js and Apollo Server classify themselves (a malformed
 * document, an unknown persisted query, an operation name that names nothing) and the
 * gateway's own refusals that reuse them.
 */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  // The gateway's trusted documents: the operation is not in the manifest.
  'PERSISTED_QUERY_NOT_IN_LIST',
  'OPERATION_RESOLUTION_FAILURE',
] as const;

/** One of the public error codes: an error built with any other code does not compile. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Public extensions beside the code; `code` itself is the constructor's argument. */
export type ClientErrorExtensions = Record<string, unknown> & { code?: never };

/**
 * A GraphQL error meant for the client, with one of the public codes. Code that refuses a
 * request outside a resolver (plugins, validation, subscriptions) builds its errors here, so
 * the compiler holds every code to `ERROR_CODES`; `formatError` still shapes what is sent.
 */
export function clientError(
  message: string,
  code: ErrorCode,
  options: { extensions?: ClientErrorExtensions; path?: readonly (string | number)[] } = {},
): GraphQLError {
  return new GraphQLError(message, {
    ...(options.path ? { path: options.path } : {}),
    extensions: { code, ...options.extensions },
  });
}

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Extra public fields placed in `extensions` (e.g. `field`, `retryAfter`). */
  extensions(): Record<string, unknown> {
    return {};
  }
}

export class ValidationError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'ValidationError';
    this.field = field;
  }
  override extensions() {
    return { field: this.field };
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'You must be signed in') {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'You are not allowed to do this') {
    super(message);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Refused for now, not for good: the client may retry after `retryAfterSeconds` (Retry-After). */
export abstract class RetryLaterError extends DomainError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
  override extensions() {
    return { retryAfter: this.retryAfterSeconds };
  }
}

export class RateLimitedError extends RetryLaterError {
  readonly code = 'RATE_LIMITED';
  constructor(retryAfterSeconds: number) {
    super(`Too many attempts; retry in ${retryAfterSeconds}s`, retryAfterSeconds);
    this.name = 'RateLimitedError';
  }
}

/**
 * A dependency the operation needs (Redis, say) is down for now: HTTP 503 with Retry-After
 * when nothing else answered. Nothing was done; the client may retry.
 */
export class ServiceUnavailableError extends RetryLaterError {
  readonly code = 'SERVICE_UNAVAILABLE';
  constructor(message: string, retryAfterSeconds = 5, options?: ErrorOptions) {
    super(message, retryAfterSeconds, options);
    this.name = 'ServiceUnavailableError';
  }
}

/** Codes that reach the client as they were set; anything else is masked. */
const PASSTHROUGH_CODES: ReadonlySet<string> = new Set(
  ERROR_CODES.filter((code) => code !== 'INTERNAL_SERVER_ERROR'),
);

/**
 * Apollo Server's `formatError`. Domain errors keep their message and code; errors Apollo
 * already classified as client errors pass through; anything else is masked. The masked
 * originals are logged, with the request id, by the server's error plugin.
 */
export function formatError(
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  const original = unwrap(error);
  if (original instanceof DomainError) {
    return {
      message: original.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: original.code, ...original.extensions() },
    };
  }
  const code = clientCodeOf(formatted, error, original);
  if (code) {
    // Stack traces and the gateway's `serviceName` describe internals, not the client's error.
    const {
      stacktrace: _stacktrace,
      serviceName: _serviceName,
      ...extensions
    } = formatted.extensions ?? {};
    return { ...formatted, extensions: { ...extensions, code } };
  }
  return {
    message: 'Internal server error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
}

/**
 * `formatted` without graphql-js's "Did you mean …?" hints, which name fields, types and
 * enum values: with introspection off they would let a client rebuild the schema by trial.
 */
export function withoutSuggestions(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const message = formatted.message.replace(/ ?Did you mean .+?\?(?=$|\s)/g, '');
  return message === formatted.message ? formatted : { ...formatted, message };
}

/**
 * The public code of a client's error, or undefined for ours. A code Apollo or graphql-js
 * set for a malformed request passes (the innermost one: a scalar's BAD_USER_INPUT inside a
 * validation error); so does a request Apollo refused with an HTTP 4xx
 * status but no code (an APQ hash that does not match its query, say): BAD_REQUEST.
 */
function clientCodeOf(
  formatted: GraphQLFormattedError,
  error: unknown,
  original: unknown,
): string | undefined {
  // A scalar's own verdict (BAD_USER_INPUT) outranks the validation error graphql-js wraps
  // it in, so the gateway can tell a refused value from a query it should not have sent.
  const own = original instanceof GraphQLError ? original.extensions['code'] : undefined;
  if (original !== error && typeof own === 'string' && PASSTHROUGH_CODES.has(own)) return own;
  const code = formatted.extensions?.['code'];
  if (typeof code === 'string' && PASSTHROUGH_CODES.has(code)) return code;
  if (error instanceof GraphQLError && error.extensions['code'] === undefined) {
    const status = (error.extensions['http'] as { status?: unknown } | undefined)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) return 'BAD_REQUEST';
  }
  return undefined;
}

/**
 * The error a resolver (or context builder) actually threw. Apollo wraps it in GraphQLErrors,
 * and its own unwrapper only handles resolver errors (those with a `path`), so walk the chain.
 */
function unwrap(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

/**
 * True for errors whose message reaches clients as-is; false for those `formatError` masks
 * (whose cause must be logged). One rule for both, so nothing masked goes unlogged.
 */
export function isClientError(error: unknown): boolean {
  const graphqlError =
    error instanceof GraphQLError
      ? error
      : new GraphQLError(error instanceof Error ? error.message : String(error), {
          originalError: error instanceof Error ? error : undefined,
        });
  const formatted = graphqlError.toJSON();
  const extensions = {
    ...formatted.extensions,
    code: formatted.extensions?.['code'] ?? 'INTERNAL_SERVER_ERROR',
  };
  const code = formatError({ ...formatted, extensions }, graphqlError).extensions?.['code'];
  return code !== 'INTERNAL_SERVER_ERROR';
}
