/**
 * The custom scalars at their edges: BigInt carries every 64-bit value exactly as a string
 * of digits (where Int stops at 2^31 − 1 and JSON numbers at 2^53), and refuses anything
 * else with BAD_USER_INPUT.
 */
import { GraphQLError, Kind } from 'graphql';
import { BigIntScalar } from './scalars.ts';

describe('BigInt', () => {
  it.each([
    [0n, '0'],
    [2n ** 31n - 1n, '2147483647'],
    [2n ** 31n, '2147483648'],
    [2n * (2n ** 31n - 1n), '4294967294'],
    [2n ** 53n + 1n, '9007199254740993'],
    [2n ** 63n - 1n, '9223372036854775807'],
    [-(2n ** 63n), '-9223372036854775808'],
  ])('serializes %s as the string %s', (value, text) => {
    expect(BigIntScalar.serialize(value)).toBe(text);
  });

  it('serializes safe integers and digit strings (as PostgreSQL returns bigint) alike', () => {
    expect(BigIntScalar.serialize(3750)).toBe('3750');
    expect(BigIntScalar.serialize('9007199254740993')).toBe('9007199254740993');
  });

  it.each([2n ** 63n, 2 ** 53 + 2, 1.5, 'abc', NaN, null])('refuses to serialize %s', (value) => {
    expect(() => BigIntScalar.serialize(value)).toThrow(TypeError);
  });

  it('parses strings of digits and Ints, from variables and from literals', () => {
    expect(BigIntScalar.parseValue('9223372036854775807')).toBe(2n ** 63n - 1n);
    expect(BigIntScalar.parseValue(42)).toBe(42n);
    expect(BigIntScalar.parseLiteral({ kind: Kind.STRING, value: '-5' })).toBe(-5n);
    expect(BigIntScalar.parseLiteral({ kind: Kind.INT, value: '4294967294' })).toBe(4294967294n);
  });

  it.each(['9223372036854775808', '1.5', '1e3', '', ' 1', 1.5, true, null])(
    'refuses the input %j with BAD_USER_INPUT',
    (value) => {
      let error: unknown;
      try {
        BigIntScalar.parseValue(value);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(GraphQLError);
      expect((error as GraphQLError).extensions['code']).toBe('BAD_USER_INPUT');
    },
  );
});
