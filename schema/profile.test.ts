/** The profile name rule shared by auth and users: given a name, when normalising, then… */
import { thrownBy } from '../shared/testing/index.ts';
import { normaliseName } from './profile.ts';

describe('normaliseName', () => {
  it('trims and accepts 1–100 characters (characters, not UTF-16 units)', () => {
    expect(normaliseName('  Ada Lovelace ')).toBe('Ada Lovelace');
    expect(normaliseName('é'.repeat(100))).toHaveLength(100);
    expect(normaliseName('🔑'.repeat(100))).toBe('🔑'.repeat(100));
  });

  it.each([[''], ['   '], ['n'.repeat(101)]])(
    'refuses %j as BAD_USER_INPUT naming the field',
    (raw) => {
      expect(thrownBy(() => normaliseName(raw, 'input.name'))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.name',
      });
    },
  );
});
