/**
 * How the subscription server orders an entity's versions: numbers as numbers, timestamps as
 * instants (whatever their precision or offset), anything else as text.
 */
import { compareVersions } from './versions.ts';

describe('compareVersions', () => {
  it.each([
    ['9', '10', -1],
    ['10', '10', 0],
    ['2026-12-07T10:00:00.001Z', '2026-12-07T10:00:00Z', 1],
    ['2026-12-07T11:00:00.000+01:00', '2026-12-07T10:00:00.000Z', 0],
    ['2026-12-07T09:59:59.999Z', '2026-12-07T10:00:00.000Z', -1],
    ['b', 'a', 1],
  ])('orders %s against %s as %i', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });
});
