/**
 * Expected displacement of a minimum under a random shift, as a function of the curvature of
 * the minimum (paper Appendix, Figure 8; the authors' displacement_integration.py): a point w0
 * on a curve gamma through the origin is shifted to w uniform on the circle S_r of radius r
 * around it; E_{S_r} dist(w, gamma) / r is plotted against the curvature kappa of gamma at w0,
 * for two curves with curvature kappa at the origin:
 *   'parabola': y = k x^2, kappa = 2k;
 *   'circle':   x^2 + (y - k)^2 = k^2, kappa = 1/k.
 * Distances are exact (the parabola's nearest point solves a cubic, the circle's is closed
 * form), not the reference's polyline approximation, and the mean over the circle is the
 * periodic trapezoid rule. Both curves tend to the line y = 0 as kappa -> 0, where
 * E dist / r = 2/pi.
 */
import * as t from 'io-ts';
import { strict, withDefaults, arrayOf, PositiveInt, PositiveNumber, NonNegativeNumber, oneOf } from '../../config/codec.js';
import { OutDir, Seed } from '../../config/common.js';
import { registerConfig, registerPreflight } from '../../config/registry.js';
import { outDirPreflight } from '../../config/preflight.js';
import type { Stream } from '../../rng/index.js';

export const CURVES = ['parabola', 'circle'] as const;
export type CurveKind = (typeof CURVES)[number];

/** Distance from (a, b) to the parabola y = k x^2 (k >= 0; k = 0 is the line y = 0). */
export function distToParabola(a: number, b: number, k: number): number {
  if (k === 0) return Math.abs(b);
  // stationary points of (x - a)^2 + (k x^2 - b)^2: 2k^2 x^3 + (1 - 2kb) x - a = 0
  const c3 = 2 * k * k;
  const c1 = 1 - 2 * k * b;
  const p = c1 / c3;
  const q = -a / c3;
  const roots: number[] = [];
  const disc = (q * q) / 4 + (p * p * p) / 27;
  if (disc > 0) {
    const s = Math.sqrt(disc);
    roots.push(Math.cbrt(-q / 2 + s) + Math.cbrt(-q / 2 - s));
  } else {
    // three real roots (trigonometric form); p <= 0 here
    const m = 2 * Math.sqrt(-p / 3);
    const th = Math.acos(Math.max(-1, Math.min(1, (3 * q) / (p * m)))) / 3;
    for (let j = 0; j < 3; j++) roots.push(m * Math.cos(th - (2 * Math.PI * j) / 3));
  }
  let best = Infinity;
  for (let x of roots) {
    // Newton polish: Cardano loses digits when the roots nearly cancel
    for (let i = 0; i < 4; i++) {
      const f = c3 * x * x * x + c1 * x - a;
      const d = 3 * c3 * x * x + c1;
      if (d === 0) break;
      x -= f / d;
    }
    best = Math.min(best, Math.hypot(x - a, k * x * x - b));
  }
  return best;
}

/** Distance from (a, b) to the circle x^2 + (y - k)^2 = k^2 (k = Infinity is the line y = 0). */
export function distToCircle(a: number, b: number, k: number): number {
  if (!Number.isFinite(k)) return Math.abs(b);
  return Math.abs(Math.hypot(a, b - k) - k);
}

/** Distance from (a, b) to the curve of kind `kind` with curvature kappa at the origin. */
export function distToCurve(kind: CurveKind, kappa: number, a: number, b: number): number {
  if (!(kappa >= 0)) throw new Error(`distToCurve: kappa must be >= 0, got ${kappa}`);
  return kind === 'parabola' ? distToParabola(a, b, kappa / 2) : distToCircle(a, b, kappa === 0 ? Infinity : 1 / kappa);
}

/** E_{theta ~ U[0, 2pi)} dist((r cos theta, r sin theta), gamma) by the periodic trapezoid rule with n points. */
export function expectedDisplacement(kind: CurveKind, kappa: number, r: number, n = 4096): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const th = (2 * Math.PI * (i + 0.5)) / n;
    sum += distToCurve(kind, kappa, r * Math.cos(th), r * Math.sin(th));
  }
  return sum / n;
}

/**
 * Independent check: Monte Carlo over theta, each distance by brute force to a dense polyline
 * of the curve (nearest point within 2r of the origin, since the origin is on the curve).
 * Returns the estimate and its standard error.
 */
export function monteCarloDisplacement(kind: CurveKind, kappa: number, r: number, samples: number, rng: Stream, vertices = 20_001): { mean: number; stderr: number } {
  const xs = new Float64Array(vertices);
  const ys = new Float64Array(vertices);
  for (let i = 0; i < vertices; i++) {
    if (kind === 'parabola') {
      const x = -2 * r + (4 * r * i) / (vertices - 1);
      xs[i] = x;
      ys[i] = (kappa / 2) * x * x;
    } else if (kappa === 0) {
      xs[i] = -2 * r + (4 * r * i) / (vertices - 1);
      ys[i] = 0;
    } else {
      const k = 1 / kappa;
      const th = (2 * Math.PI * i) / (vertices - 1);
      xs[i] = k * Math.sin(th);
      ys[i] = k - k * Math.cos(th);
    }
  }
  const segDist = (a: number, b: number, i: number) => {
    const dx = xs[i + 1]! - xs[i]!;
    const dy = ys[i + 1]! - ys[i]!;
    const len2 = dx * dx + dy * dy;
    const u = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((a - xs[i]!) * dx + (b - ys[i]!) * dy) / len2));
    return Math.hypot(a - xs[i]! - u * dx, b - ys[i]! - u * dy);
  };
  let s = 0;
  let s2 = 0;
  for (let j = 0; j < samples; j++) {
    const th = rng.uniform(0, 2 * Math.PI);
    const a = r * Math.cos(th);
    const b = r * Math.sin(th);
    let d = Infinity;
    for (let i = 0; i < vertices - 1; i++) d = Math.min(d, segDist(a, b, i));
    s += d;
    s2 += d * d;
  }
  const mean = s / samples;
  return { mean, stderr: Math.sqrt(Math.max(0, s2 / samples - mean * mean) / samples) };
}

const arange = (start: number, stop: number, step: number) => {
  const out: number[] = [];
  for (let i = 0; start + i * step < stop - 1e-12; i++) out.push(Math.round((start + i * step) * 1e9) / 1e9);
  return out;
};

/** The reference's grids: parabola k in [0, 40) step 0.3 (kappa = 2k); circle k in [0.1, 1) step 0.01 and [1, 10) step 0.1 (kappa = 1/k). */
export const REFERENCE_GRIDS: Record<CurveKind, { radii: number[]; kappas: number[] }> = {
  parabola: { radii: [2, 1, 0.5, 0.2, 0.1], kappas: arange(0, 40, 0.3).map((k) => 2 * k) },
  circle: { radii: [0.1, 0.05, 0.02, 0.01, 0.005], kappas: [...arange(0.1, 1, 0.01), ...arange(1, 10, 0.1)].map((k) => 1 / k) },
};

const Grid = strict({ radii: arrayOf(PositiveNumber, { min: 1 }), kappas: arrayOf(NonNegativeNumber, { min: 1 }) });

export const DisplacementConfig = withDefaults(
  strict(
    {
      seed: Seed,
      out: OutDir,
      curves: arrayOf(oneOf(CURVES), { min: 1 }),
      parabola: Grid,
      circle: Grid,
      /** Trapezoid points over the circle S_r. */
      points: PositiveInt,
      /** Monte Carlo check: samples per checked (curve, kappa, r), at `checks` points of each grid. */
      monteCarlo: withDefaults(strict({ samples: PositiveInt, checks: PositiveInt }), { samples: 2000, checks: 3 }),
    },
    'DisplacementConfig',
  ),
  { seed: 0, out: 'results/displacement', curves: [...CURVES], parabola: REFERENCE_GRIDS.parabola, circle: REFERENCE_GRIDS.circle, points: 4096, monteCarlo: {} },
);
export type DisplacementConfig = t.TypeOf<typeof DisplacementConfig>;
registerConfig('displacement', DisplacementConfig, 'symtele run displacement: expected displacement of the minimum vs curvature (Figure 8)');
registerPreflight('displacement', outDirPreflight);

export interface DisplacementCurve {
  curve: CurveKind;
  /** Per radius: E dist / r at each kappa. */
  series: { r: number; kappas: number[]; ratio: number[] }[];
  /** Monte Carlo checks: quadrature vs brute-force estimate, in standard errors. */
  checks: { kappa: number; r: number; quadrature: number; monteCarlo: number; stderr: number; z: number }[];
}

export interface DisplacementResult {
  config: DisplacementConfig;
  curves: DisplacementCurve[];
}

/** The Figure 8 curves and their Monte Carlo checks. */
export function computeDisplacement(cfg: DisplacementConfig, rng: (curve: CurveKind, i: number) => Stream): DisplacementResult {
  const curves = cfg.curves.map((curve): DisplacementCurve => {
    const grid = cfg[curve];
    const series = grid.radii.map((r) => ({ r, kappas: grid.kappas, ratio: grid.kappas.map((k) => expectedDisplacement(curve, k, r, cfg.points) / r) }));
    // checks at evenly spaced kappas, alternating the smallest and largest radius
    const checks = Array.from({ length: cfg.monteCarlo.checks }, (_, i) => {
      const kappa = grid.kappas[Math.round((i * (grid.kappas.length - 1)) / Math.max(1, cfg.monteCarlo.checks - 1))]!;
      const r = i % 2 === 0 ? Math.min(...grid.radii) : Math.max(...grid.radii);
      const quadrature = expectedDisplacement(curve, kappa, r, cfg.points);
      const mc = monteCarloDisplacement(curve, kappa, r, cfg.monteCarlo.samples, rng(curve, i), 4001);
      return { kappa, r, quadrature, monteCarlo: mc.mean, stderr: mc.stderr, z: (quadrature - mc.mean) / mc.stderr };
    });
    return { curve, series, checks };
  });
  return { config: cfg, curves };
}
