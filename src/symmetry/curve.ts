// Curves on the minimum, gamma_M(t) = exp(t M) · w (paper section 4.2, Appendix E), their
// derivatives at t = 0, the curvature kappa (eq. 80) and its derivative (eq. 84).
//
// Derivatives of the vector-valued curve come from reverse mode with the "linear probe"
// trick: c(t) = <v, gamma(t)> is linear in v, so grad_v d^n c / dt^n = gamma^(n)(t). Every
// step is an ordinary tfjs gradient, so the result stays differentiable w.r.t. the weights
// (teleporting to change curvature differentiates kappa once more: third order in total).
import * as tf from '@tensorflow/tfjs';
import { groupAction, expGroup, type ActionOptions } from './action.js';
import { leakyRelu, leakyReluDeriv, DEFAULT_SLOPE } from '../ops/activations.js';
import { pinv } from '../ops/linalg.js';

/** Flatten weights layer by layer, row-major (the convention of sharpness directions too). */
export function flatten(ws: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.concat(ws.map((w) => tf.reshape(w, [-1]))) as tf.Tensor1D;
}

/**
 * The inverse of `flatten` for a batch: rows of `flat` ([N, n], layer by layer, row-major)
 * split into per-layer tensors [N, rows, cols] shaped like `ws`.
 */
export function unflattenBatch(flat: tf.Tensor2D, ws: readonly tf.Tensor[]): tf.Tensor3D[] {
  const n = flat.shape[0];
  let start = 0;
  return ws.map((w) => {
    const [r, c] = w.shape;
    const part = tf.reshape(tf.slice(flat, [0, start], [n, r * c]), [n, r, c]) as tf.Tensor3D;
    start += r * c;
    return part;
  });
}

/** The curve t -> exp(t M)·w, flattened. ms[m] = M for hidden layer m, null = no motion. */
export function curveAt(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  ms: readonly (tf.Tensor | null | undefined)[],
  t: tf.Scalar,
  opts: ActionOptions = {},
): tf.Tensor1D {
  return flatten(groupAction(ws, x, ms.map((m) => (m ? expGroup(m, t) : null)), opts));
}

/** d^n/dt^n of a vector-valued function of a scalar, at t0, via the linear-probe trick. */
export function vectorDerivative(f: (t: tf.Scalar) => tf.Tensor1D, order: number, t0 = 0): tf.Tensor1D {
  if (!(order >= 1 && Number.isInteger(order))) throw new Error(`vectorDerivative: order must be a positive integer, got ${order}`);
  const t = tf.scalar(t0);
  const probe = tf.zerosLike(f(t)); // the value of v does not matter: c is linear in v
  const nth = (v: tf.Tensor1D) => {
    let g: (s: tf.Scalar) => tf.Scalar = (s) => tf.sum(tf.mul(v, f(s)));
    for (let k = 0; k < order; k++) {
      const prev = g;
      g = (s) => tf.grad(prev as (x: tf.Tensor) => tf.Tensor)(s) as tf.Scalar;
    }
    return g(t);
  };
  return tf.grad(nth as (x: tf.Tensor) => tf.Tensor)(probe) as tf.Tensor1D;
}

/** gamma'(0), gamma''(0) (and gamma'''(0) when order = 3) of the curve exp(tM)·w. */
export function curveDerivatives(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  ms: readonly (tf.Tensor | null | undefined)[],
  order: 2 | 3 = 2,
  opts: ActionOptions = {},
): tf.Tensor1D[] {
  const f = (t: tf.Scalar) => curveAt(ws, x, ms, t, opts);
  return Array.from({ length: order }, (_, i) => vectorDerivative(f, i + 1));
}

const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b));

/** kappa = sqrt(|g1|^2 |g2|^2 - (g1·g2)^2) / |g1|^3 (eq. 80), as a differentiable scalar. */
export function curvatureFromDerivatives(d1: tf.Tensor, d2: tf.Tensor): tf.Scalar {
  const a = dot(d1, d1);
  const b = dot(d2, d2);
  const c = dot(d1, d2);
  // The radicand is >= 0 by Cauchy–Schwarz; rounding can make it slightly negative.
  const num = tf.sqrt(tf.relu(tf.sub(tf.mul(a, b), tf.square(c))));
  return tf.div(num, tf.pow(a, 1.5)) as tf.Scalar;
}

/** kappa'(t) (eq. 84) from the first three derivatives of the curve. */
export function curvatureDerivativeFromDerivatives(d1: tf.Tensor, d2: tf.Tensor, d3: tf.Tensor): tf.Scalar {
  const a = dot(d1, d1); // |g'|^2
  const b = dot(d2, d2); // |g''|^2
  const c = dot(d1, d2); // g'·g''
  const e = dot(d2, d3); // g''·g'''
  const f = dot(d1, d3); // g'·g'''
  const rad = tf.sub(tf.mul(a, b), tf.square(c));
  const n1 = tf.mul(tf.mul(tf.pow(rad, -0.5), tf.sub(tf.mul(a, e), tf.mul(c, f))), a);
  const n2 = tf.mul(tf.mul(tf.sqrt(rad), 3), c);
  return tf.div(tf.sub(n1, n2), tf.pow(a, 2.5)) as tf.Scalar;
}

/** Curvature (eq. 80) at t = 0 of the curve exp(tM)·w, as a differentiable scalar tensor. */
export function curvatureTensor(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  ms: readonly (tf.Tensor | null | undefined)[],
  opts: ActionOptions = {},
): tf.Scalar {
  const [d1, d2] = curveDerivatives(ws, x, ms, 2, opts);
  return curvatureFromDerivatives(d1, d2);
}

/** Curvature kappa at t = 0 (eq. 80). */
export function curvature(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  ms: readonly (tf.Tensor | null | undefined)[],
  opts: ActionOptions = {},
): number {
  return tf.tidy(() => curvatureTensor(ws, x, ms, opts).dataSync()[0]);
}

/** kappa'(0) (eq. 84): how the curvature changes along the curve. */
export function curvatureDerivative(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  ms: readonly (tf.Tensor | null | undefined)[],
  opts: ActionOptions = {},
): number {
  return tf.tidy(() => {
    const [d1, d2, d3] = curveDerivatives(ws, x, ms, 3, opts);
    return curvatureDerivativeFromDerivatives(d1, d2, d3).dataSync()[0];
  });
}

/**
 * gamma'(0), gamma''(0) in closed form (Appendix E.4, eqs. 90 and 93) for the 'inverse'
 * action with a LeakyReLU (s'' = 0, so the higher terms of s^-1 vanish), one moving layer m:
 *   U' = -U M,  U'' = U M^2,
 *   V' = ((M S) / s'(V h)) h^+,  V'' = ((M^2 S) / s'(V h)) h^+,  with S = s(V h).
 * Returned flattened over all layers (zeros for layers that do not move). `inputPinv`: x^+
 * when already known (m = 0 only; callers sharing one batch across models compute it once).
 */
export function analyticCurveDerivatives(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  m: number,
  M: tf.Tensor,
  slope = DEFAULT_SLOPE,
  inputPinv?: tf.Tensor,
): [tf.Tensor1D, tf.Tensor1D] {
  if (!(m >= 0 && m < ws.length - 1)) throw new Error(`analyticCurveDerivatives: no hidden layer ${m}`);
  let h = x;
  for (let i = 0; i < m; i++) h = leakyRelu(tf.matMul(ws[i] as tf.Tensor2D, h as tf.Tensor2D), slope);
  const V = ws[m] as tf.Tensor2D;
  const U = ws[m + 1] as tf.Tensor2D;
  const pre = tf.matMul(V, h as tf.Tensor2D);
  const S = leakyRelu(pre, slope);
  const dsig = leakyReluDeriv(pre, slope);
  const hp = m === 0 && inputPinv ? (inputPinv as tf.Tensor2D) : pinv(h as tf.Tensor2D);
  const M2 = tf.matMul(M as tf.Tensor2D, M as tf.Tensor2D);
  const V1 = tf.matMul(tf.div(tf.matMul(M as tf.Tensor2D, S), dsig) as tf.Tensor2D, hp);
  const V2 = tf.matMul(tf.div(tf.matMul(M2, S), dsig) as tf.Tensor2D, hp);
  const U1 = tf.neg(tf.matMul(U, M as tf.Tensor2D));
  const U2 = tf.matMul(U, M2);
  const layerwise = (v: tf.Tensor, u: tf.Tensor) =>
    flatten(ws.map((w, i) => (i === m ? v : i === m + 1 ? u : tf.zerosLike(w))));
  return [layerwise(V1, U1), layerwise(V2, U2)];
}
