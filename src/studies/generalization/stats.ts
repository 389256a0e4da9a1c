/** Pearson correlation and its percentile bootstrap interval (pairs resampled with replacement). */
import type { Stream } from '../../rng/index.js';
import { tInterval } from '../../report/intervals.js';

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

/**
 * Mean of the paired differences a_i - b_i with its 95% t-interval (NaN bounds for one pair).
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; lo: number; hi: number; n: number } {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} values against ${b.length}`);
  const d = a.map((v, i) => v - b[i]!);
  // a diverged run is reported, not dropped (tInterval skips non-finite values): no interval then
  if (!d.every(Number.isFinite)) return { mean: d.reduce((x, y) => x + y, 0) / d.length, lo: NaN, hi: NaN, n: d.length };
  return tInterval(d);
}
