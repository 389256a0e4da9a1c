// 95% t-intervals of a mean, the one place the project computes them (paired differences of
// runs, meta-seeds or held-out problems are means of differences).

/** Two-sided 97.5% quantiles of Student's t, df = 1..30 (beyond: the normal's 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08,
  2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
export const t975 = (df: number): number => (df >= 1 && df <= 30 ? T975[df - 1]! : 1.96);

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  /** Values with finite entries. */
  n: number;
}

/** Mean and 95% t-interval of the finite values (NaN bounds with fewer than 2). */
export function tInterval(values: readonly number[]): Interval {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { mean: NaN, lo: NaN, hi: NaN, n };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN, n };
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = t975(n - 1) * (sd / Math.sqrt(n));
  return { mean, lo: mean - half, hi: mean + half, n };
}
