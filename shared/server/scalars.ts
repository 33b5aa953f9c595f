/** Custom scalars shared by every subgraph's schema. */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  if (typeof value === 'string' && ISO_DATE_TIME.test(value)) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new GraphQLError('DateTime must be an ISO-8601 string such as 2026-11-22T14:00:00Z', {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

/** ISO-8601 timestamps, always serialised in UTC. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 date and time in UTC',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime()))
      throw new TypeError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) return parseDateTime(undefined);
    return parseDateTime(ast.value);
  },
});

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^-?\d{1,19}$/;

function toInt64(value: unknown): bigint | undefined {
  let n: bigint | undefined;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && DECIMAL.test(value)) n = BigInt(value);
  return n !== undefined && n >= INT64_MIN && n <= INT64_MAX ? n : undefined;
}

function parseBigInt(value: unknown): bigint {
  const n = toInt64(value);
  if (n !== undefined) return n;
  throw new GraphQLError(
    'BigInt must be a whole number from -2^63 to 2^63-1, as a string of digits such as "4294967294" or as an Int',
    { extensions: { code: 'BAD_USER_INPUT' } },
  );
}

/**
 * Signed 64-bit integers (PostgreSQL `bigint`): sums of money in minor units and the like,
 * which outgrow GraphQL's 32-bit `Int`. Serialized as a string of decimal digits, because a
 * JSON number past 2^53 is rounded by JavaScript and most other JSON parsers.
 */
export const BigIntScalar = new GraphQLScalarType<bigint, string>({
  name: 'BigInt',
  description:
    'A signed 64-bit integer, serialized as a string of decimal digits (such as "4294967294") so that no JSON parser rounds it. Input accepts such a string or an Int.',
  serialize(value) {
    const n = toInt64(value);
    if (n === undefined) throw new TypeError(`BigInt cannot represent ${String(value)}`);
    return n.toString();
  },
  parseValue: parseBigInt,
  parseLiteral(ast) {
    return parseBigInt(ast.kind === Kind.STRING || ast.kind === Kind.INT ? ast.value : undefined);
  },
});
