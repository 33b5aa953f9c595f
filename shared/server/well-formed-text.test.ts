/**
 * Arguments that cannot be stored are found wherever a request puts them: literals in the
 * operation or in a fragment, input objects, lists, and variables.
 */
import { parse } from 'graphql';
import { illFormedArgument } from './well-formed-text.ts';

const NUL = 'contains a NUL character (U+0000)';
const LONE = 'contains a lone UTF-16 surrogate (not valid Unicode)';

describe('illFormedArgument', () => {
  it('finds a NUL in a literal argument', () => {
    const document = parse('{ products(search: "a\\u0000b") { totalCount } }');
    expect(illFormedArgument(document, {})).toEqual({ where: 'search', problem: NUL });
  });

  it('finds a lone surrogate in a variable, inside an input object', () => {
    const document = parse(
      'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
    );
    expect(illFormedArgument(document, { input: { email: 'a@b.co', name: 'Eve \ud800' } })).toEqual(
      { where: '$input.name', problem: LONE },
    );
  });

  it('finds literals in nested fields, input objects, lists and fragments', () => {
    const document = parse(`
      query { ...F }
      fragment F on Query { me { orders(filter: { tags: ["ok", "x\\u0000"] }) { id } } }
    `);
    expect(illFormedArgument(document, undefined)).toEqual({
      where: 'filter.tags[1]',
      problem: NUL,
    });
  });

  it('lets well-formed text through, emoji and all', () => {
    const document = parse('{ products(search: "café 😀") { totalCount } }');
    expect(illFormedArgument(document, { unused: ['naïve', { a: '日本' }] })).toBeUndefined();
  });
});
