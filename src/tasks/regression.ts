// The inner problem of paper section 5.2: L(W1, W2) = 0.5 ||Y - W2 s(W1 X)||_F^2 with W1, W2,
// X, Y square (20x20), entries uniform in [0, 1) (the reference init), s = LeakyReLU.
// Each trajectory has its own seed; training, validation and held-out trajectories come from
// disjoint seed streams. Everything is batched over a leading [B] dimension.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../rng/index.js';
import { inv64, mat64 } from '../ops/linalg64.js';
import { DEFAULT_SLOPE } from '../ops/activations.js';

export type Split = 'train' | 'val' | 'heldout';
/**
 * 'stream': trajectory n of a split draws from stream(seed, split, n).
 * 'reference': the reference code's seeds, n^2*12345-1 (train) and n^2*12345 (held-out),
 * used as the seed of our generator (its numbers differ from torch's; the seed sets agree).
 * Validation trajectories take n^2*12345+1 under 'reference', disjoint from both.
 */
export type SeedScheme = 'stream' | 'reference';

export interface RegressionSpec {
  /** Width d: W1, W2, X, Y are d x d. */
  dim: number;
  slope: number;
  seedScheme: SeedScheme;
}

export const DEFAULT_REGRESSION: RegressionSpec = { dim: 20, slope: DEFAULT_SLOPE, seedScheme: 'stream' };

/** A batch of B problems: ws = [W1, W2] each [B, d, d]; x, y, xInv [B, d, d]. */
export interface RegressionBatch {
  ws: [tf.Tensor3D, tf.Tensor3D];
  x: tf.Tensor3D;
  y: tf.Tensor3D;
  /** X^-1, computed once per trajectory in float64 (the inverse action needs it). */
  xInv: tf.Tensor3D;
  size: number;
}

function trajectoryStream(spec: RegressionSpec, seed: number, split: Split, n: number) {
  if (spec.seedScheme === 'reference') {
    const base = n * n * 12345;
    return stream(split === 'train' ? base - 1 : split === 'heldout' ? base : base + 1);
  }
  return stream(seed, split, n);
}

/** Sample the problems with indices `ns` of a split; draws W1, W2, X, Y in the reference order. */
export function sampleRegression(spec: RegressionSpec, seed: number, split: Split, ns: readonly number[]): RegressionBatch {
  const d = spec.dim;
  const dd = d * d;
  const B = ns.length;
  const w1 = new Float32Array(B * dd), w2 = new Float32Array(B * dd);
  const x = new Float32Array(B * dd), y = new Float32Array(B * dd), xi = new Float32Array(B * dd);
  ns.forEach((n, b) => {
    const r = trajectoryStream(spec, seed, split, n);
    w1.set(r.uniformArray(dd), b * dd);
    w2.set(r.uniformArray(dd), b * dd);
    const xb = r.uniformArray(dd);
    x.set(xb, b * dd);
    y.set(r.uniformArray(dd), b * dd);
    xi.set(inv64(mat64(d, d, xb)).data, b * dd);
  });
  const t = (a: Float32Array) => tf.tensor3d(a, [B, d, d]);
  return { ws: [t(w1), t(w2)], x: t(x), y: t(y), xInv: t(xi), size: B };
}

export function disposeBatch(b: RegressionBatch): void {
  tf.dispose([...b.ws, b.x, b.y, b.xInv]);
}

/**
 * Loss [B] and its partial derivatives in closed form (one forward, two matMuls back):
 *   R = W2 s(W1 X) - Y,  dW2 = R s(W1 X)^T,  dW1 = (s'(W1 X) * W2^T R) X^T.
 * Built from matMul and a constant mask, so it is differentiable again (second order) and
 * avoids a nested tf.grads inside the meta-gradient tape.
 */
export function lossAndGrads(
  ws: readonly [tf.Tensor3D, tf.Tensor3D],
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  slope: number,
): { loss: tf.Tensor1D; grads: [tf.Tensor3D, tf.Tensor3D] } {
  const [w1, w2] = ws;
  const pre = tf.matMul(w1, x);
  const mask = tf.step(pre, slope);
  const h = tf.mul(pre, mask) as tf.Tensor3D;
  const r = tf.sub(tf.matMul(w2, h), y) as tf.Tensor3D;
  const loss = tf.mul(0.5, tf.sum(tf.square(r), [1, 2])) as tf.Tensor1D;
  const g2 = tf.matMul(r, h, false, true) as tf.Tensor3D;
  const g1 = tf.matMul(tf.mul(mask, tf.matMul(w2, r, true, false)) as tf.Tensor3D, x, false, true);
  return { loss, grads: [g1 as tf.Tensor3D, g2 as tf.Tensor3D] };
}

/** Loss only, [B]. */
export function regressionLoss(ws: readonly [tf.Tensor3D, tf.Tensor3D], x: tf.Tensor3D, y: tf.Tensor3D, slope: number): tf.Tensor1D {
  const pre = tf.matMul(ws[0], x);
  const r = tf.sub(tf.matMul(ws[1], tf.mul(pre, tf.step(pre, slope)) as tf.Tensor3D), y);
  return tf.mul(0.5, tf.sum(tf.square(r), [1, 2])) as tf.Tensor1D;
}
