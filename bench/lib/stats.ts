/** Small statistics and formatting helpers for benchmarks. */

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

const EMPTY: Summary = { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };

/** Nearest-rank percentile of ascending `sorted` (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50/p90/p99/max/mean of the finite values. */
export function summarize(values: Iterable<number>): Summary {
  const finite = Float64Array.from([...values].filter(Number.isFinite)).sort();
  if (finite.length === 0) return EMPTY;
  let total = 0;
  for (const value of finite) total += value;
  return {
    count: finite.length,
    p50: percentile(finite, 50),
    p90: percentile(finite, 90),
    p99: percentile(finite, 99),
    max: finite[finite.length - 1]!,
    mean: total / finite.length,
  };
}

/** Fixed-point number, or '-' for NaN/undefined. */
export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** `a / b` as `0.42x`, or '-' when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return '-';
  }
  return `${(a / b).toFixed(2)}x`;
}

/** Renders rows as an aligned text table; the first row is the header. Numbers align right. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  const numeric = (cell: string) => /^[-+]?[\d,.]+(x|%| ms)?$|^-$/.test(cell);
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) =>
        i > 0 && numeric(cell) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}
