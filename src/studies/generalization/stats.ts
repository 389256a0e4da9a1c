/** Pearson and partial correlation and their percentile bootstrap intervals (rows resampled with replacement). */
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
 * Percentile bootstrap interval of a statistic of paired columns: resample the rows with
 * replacement, take the (1-level)/2 and (1+level)/2 quantiles. Non-finite values (degenerate
 * resamples) are skipped.
 */
export function bootstrapInterval(columns: readonly (readonly number[])[], stat: (...cols: number[][]) => number, o: BootstrapOptions): [number, number] {
  const n = columns[0]!.length;
  if (columns.some((c) => c.length !== n)) throw new Error(`bootstrap: columns of ${columns.map((c) => c.length).join(', ')} values`);
  const level = o.level ?? 0.95;
  const values: number[] = [];
  const resampled = columns.map(() => new Array<number>(n));
  for (let s = 0; s < (o.samples ?? 2000); s++) {
    for (let i = 0; i < n; i++) {
      const j = o.rng.int(n);
      columns.forEach((c, k) => (resampled[k]![i] = c[j]!));
    }
    const v = stat(...resampled);
    if (Number.isFinite(v)) values.push(v);
  }
  values.sort((a, b) => a - b);
  return [quantile(values, (1 - level) / 2), quantile(values, (1 + level) / 2)];
}

/** Percentile bootstrap interval of Pearson's r (pairs resampled with replacement). */
export function bootstrapPearson(x: readonly number[], y: readonly number[], o: BootstrapOptions): [number, number] {
  return bootstrapInterval([x, y], pearson, o);
}

/**
 * Partial correlation of x and y given z: Pearson's r of what is left of x and of y once each
 * is regressed linearly on z, (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)). Does x say
 * more about y than z does?
 */
export function partialPearson(x: readonly number[], y: readonly number[], z: readonly number[]): number {
  const [rxy, rxz, ryz] = [pearson(x, y), pearson(x, z), pearson(y, z)];
  return (rxy - rxz * ryz) / Math.sqrt((1 - rxz * rxz) * (1 - ryz * ryz));
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
