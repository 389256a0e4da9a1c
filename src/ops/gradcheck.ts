// Gradient checks for ops used at higher order. tfjs computes in float32 only, so tfjs autodiff
// is compared with finite differences of a float64 twin of the function (plain JS numbers),
// along random directions: with g(t) = f(x + t v), the n-th directional derivative is g^(n)(0).
// Autodiff differentiates the scalar t n times by nesting tf.grad, which exercises exactly the
// gradient-of-gradient paths the teleport objectives use.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../rng/index.js';

export type Order = 1 | 2 | 3;

/** d^n/dt^n fTf(t) at t = 0, by tfjs autodiff (n nested tf.grad on the scalar t). */
export function directionalDerivative(fTf: (t: tf.Scalar) => tf.Scalar, order: Order): number {
  return tf.tidy(() => {
    let g: (t: tf.Tensor) => tf.Tensor = fTf as (t: tf.Tensor) => tf.Tensor;
    for (let i = 0; i < order; i++) g = tf.grad(g);
    return g(tf.scalar(0)).dataSync()[0];
  });
}

/** Central difference of order n with step h (error O(h^2)). */
function centralDifference(f: (t: number) => number, order: Order, h: number): number {
  switch (order) {
    case 1:
      return (f(h) - f(-h)) / (2 * h);
    case 2:
      return (f(h) - 2 * f(0) + f(-h)) / (h * h);
    case 3:
      return (f(2 * h) - 2 * f(h) + 2 * f(-h) - f(-2 * h)) / (2 * h * h * h);
  }
}

/**
 * d^n/dt^n f64(t) at t = 0 by central differences in float64 with two Richardson steps
 * (steps h, h/2, h/4; error O(h^6)). f64 must be smooth on [-2h, 2h].
 */
export function fdDerivative(f64: (t: number) => number, order: Order, h = 1e-2): number {
  const d = [h, h / 2, h / 4].map((s) => centralDifference(f64, order, s));
  const r1 = [(4 * d[1] - d[0]) / 3, (4 * d[2] - d[1]) / 3];
  return (16 * r1[1] - r1[0]) / 15;
}

/** Full gradient of a float64 function by Richardson-extrapolated central differences. */
export function gradientFD64(f64: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3): Float64Array {
  const base = Float64Array.from(x);
  const grad = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    grad[i] = fdDerivative(
      (t) => {
        const y = Float64Array.from(base);
        y[i] += t;
        return f64(y);
      },
      1,
      h,
    );
  }
  return grad;
}

export interface GradCheckOptions {
  /** Derivative orders to check (default [1, 2, 3]). */
  orders?: readonly Order[];
  /** Number of random directions (default 2). */
  directions?: number;
  /** Seed of the direction stream (default 0). */
  seed?: number;
  /** Finite-difference step along the unit-max-norm direction (default 1e-2). */
  h?: number;
  /**
   * Denominator floor of the relative error: |ad - fd| / max(|fd|, floor) (default 1e-3), so
   * a derivative that is ~0 is judged by its absolute error.
   */
  floor?: number;
}

export interface GradCheckEntry {
  order: Order;
  direction: number;
  /** tfjs (float32) autodiff value. */
  autodiff: number;
  /** float64 finite-difference value. */
  fd: number;
  relError: number;
}

export interface GradCheckResult {
  entries: GradCheckEntry[];
  /** Largest relative error at each checked order. */
  maxRelError: Partial<Record<Order, number>>;
}

/** A random direction per input, scaled to max-norm 1 (float32 values, shared by both sides). */
function randomDirections(shapes: readonly number[][], seed: number, k: number): Float32Array[] {
  const s = stream(seed, 'gradcheck', k);
  return shapes.map((shape) => {
    const v = s.normalArray(shape.reduce((p, q) => p * q, 1));
    const m = v.reduce((acc, x) => Math.max(acc, Math.abs(x)), 0) || 1;
    return v.map((x) => x / m);
  });
}

/**
 * Compare the directional derivatives of a tfjs function of tensors with those of its float64
 * twin, at the point `xs`, along random directions v: d^n/dt^n f(xs + t v) at t = 0.
 * `f64` receives the inputs as flat row-major Float64Arrays with the shapes of `xs`.
 * Inputs must stay away from kinks of piecewise ops by more than 2h along every direction.
 */
export function checkGradient(
  fTf: (xs: tf.Tensor[]) => tf.Scalar,
  f64: (xs: Float64Array[]) => number,
  xs: readonly tf.Tensor[],
  opts: GradCheckOptions = {},
): GradCheckResult {
  const orders = opts.orders ?? [1, 2, 3];
  const h = opts.h ?? 1e-2;
  const floor = opts.floor ?? 1e-3;
  const base64 = xs.map((x) => Float64Array.from(x.dataSync()));
  const entries: GradCheckEntry[] = [];
  const maxRelError: Partial<Record<Order, number>> = {};
  for (let k = 0; k < (opts.directions ?? 2); k++) {
    const vs = randomDirections(xs.map((x) => x.shape), opts.seed ?? 0, k);
    const along64 = (t: number) => f64(base64.map((x, i) => x.map((xj, j) => xj + t * vs[i][j])));
    for (const order of orders) {
      const autodiff = tf.tidy(() => {
        const vt = vs.map((v, i) => tf.tensor(v, xs[i].shape));
        return directionalDerivative((t) => fTf(xs.map((x, i) => tf.add(x, tf.mul(t, vt[i])))), order);
      });
      const fd = fdDerivative(along64, order, h);
      const relError = Math.abs(autodiff - fd) / Math.max(Math.abs(fd), floor);
      entries.push({ order, direction: k, autodiff, fd, relError });
      maxRelError[order] = Math.max(maxRelError[order] ?? 0, relError);
    }
  }
  return { entries, maxRelError };
}
