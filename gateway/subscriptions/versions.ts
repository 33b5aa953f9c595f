/**
 * Versions of an entity, as subgraphs declare them (`@liveEntity(version:)`,
 * `@changedBy(version:)`): whatever grows with every change, a counter or a timestamp.
 */

/** Orders two versions: numbers as numbers, timestamps as instants, anything else as text. */
export function compareVersions(a: string, b: string): number {
  const numeric = /^-?\d+(\.\d+)?$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  const [at, bt] = [Date.parse(a), Date.parse(b)];
  if (!Number.isNaN(at) && !Number.isNaN(bt)) return at - bt;
  return a < b ? -1 : a > b ? 1 : 0;
}
