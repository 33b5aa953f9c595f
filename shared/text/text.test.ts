/**
 * What text PostgreSQL stores as given, and where in a value the first text it would refuse
 * or alter sits.
 */
import { illFormedIn, textProblem } from './index.ts';

describe('textProblem', () => {
  it.each(['', 'Ada', 'naïve café', '日本語', 'emoji 😀 pair', 'tab\tand\nnewline'])(
    'accepts %j',
    (text) => {
      expect(textProblem(text)).toBeUndefined();
    },
  );

  it.each([
    ['a\u0000b', 'contains a NUL character (U+0000)'],
    ['lone high \ud83d', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
    ['lone low \ude00 here', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
    ['reversed pair \ude00\ud83d', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
  ])('refuses %j: %s', (text, problem) => {
    expect(textProblem(text)).toBe(problem);
  });
});

describe('illFormedIn', () => {
  it('names the path of the first bad string, however deep, keys included', () => {
    expect(illFormedIn({ name: 'ok', items: ['fine', { note: 'x\u0000' }] }, '$input')).toEqual({
      where: '$input.items[1].note',
      problem: 'contains a NUL character (U+0000)',
    });
    expect(illFormedIn({ ['k\ud800']: 1 }, 'data')).toEqual({
      where: 'data (a key)',
      problem: 'contains a lone UTF-16 surrogate (not valid Unicode)',
    });
  });

  it('finds nothing in well-formed values, numbers, booleans and nulls', () => {
    expect(illFormedIn({ a: [1, true, null, 'ok 😀'], b: { c: 'fine' } }, 'x')).toBeUndefined();
  });
});
