/** Pearson correlation and its percentile bootstrap interval (pairs resampled with replacement). */
import type { Stream } from '../rng/index.js';

/** Pearson's r of paired samples; NaN when either has zero variance or fewer than 2 pairs. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`pearson: ${x.length} x values but ${y.length} y values`);
  const n = x.length;
  if (n < 2) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** The q-quantile (0..1) of sorted values, linear interpolation (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface BootstrapOptions {
  rng: Stream;
  /** Resamples; default 2000. */
  samples?: number;
  /** Coverage; default 0.95. */
  level?: number;
}

/**
 * Percentile bootstrap interval of Pearson's r: resample the pairs with replacement, take the
 * (1-level)/2 and (1+level)/2 quantiles of r. Degenerate resamples (zero variance) are skipped.
 */
export function bootstrapPearson(x: readonly number[], y: readonly number[], o: BootstrapOptions): [number, number] {
  const n = x.length;
  const level = o.level ?? 0.95;
  const rs: number[] = [];
  const xs = new Array<number>(n);
  const ys = new Array<number>(n);
  for (let s = 0; s < (o.samples ?? 2000); s++) {
    for (let i = 0; i < n; i++) {
      const j = o.rng.int(n);
      xs[i] = x[j]!;
      ys[i] = y[j]!;
    }
    const r = pearson(xs, ys);
    if (Number.isFinite(r)) rs.push(r);
  }
  rs.sort((a, b) => a - b);
  return [quantile(rs, (1 - level) / 2), quantile(rs, (1 + level) / 2)];
}

/** Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then the normal's). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
export const t975 = (df: number) => (df >= 1 && df <= 30 ? T975[df - 1]! : 1.96);

/**
 * Mean of the paired differences a_i - b_i with its 95% t-interval (NaN bounds for one pair).
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; lo: number; hi: number; n: number } {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} values against ${b.length}`);
  const n = a.length;
  const d = a.map((v, i) => v - b[i]!);
  const mean = d.reduce((x, y) => x + y, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN, n };
  const sd = Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1));
  const half = t975(n - 1) * sd / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n };
}
