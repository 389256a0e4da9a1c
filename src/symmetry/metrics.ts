// Metrics of a point on the loss landscape: the AdaGrad-preconditioned gradient norm,
// sharpness phi (eq. 13) and the mean curvature psi of the minimum (eq. 14).
import * as tf from '@tensorflow/tfjs';
import { mlpGrads, resolveMlpOptions, outputLoss, type MlpOptions } from '../nn/mlp.js';
import { leakyRelu } from '../ops/activations.js';
import { flatten, unflattenBatch, curvatureTensor } from './curve.js';
import type { ActionOptions } from './action.js';
import type { Stream } from '../rng/index.js';

/**
 * ||grad L||_A^2 = sum grad^2 / sqrt(eps + G) with A = (eps I + diag G)^(-1/2), G the AdaGrad
 * accumulator of squared gradients (paper eq. 99), one tensor per layer.
 */
export function adagradNormSq(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  target: tf.Tensor,
  accumulator: readonly tf.Tensor[],
  opts: MlpOptions & { eps?: number } = {},
): tf.Scalar {
  const eps = opts.eps ?? 1e-10;
  const grads = mlpGrads(ws, x, target, opts);
  return tf.addN(grads.map((g, i) => tf.sum(tf.div(tf.square(g), tf.sqrt(tf.add(accumulator[i], eps)))))) as tf.Scalar;
}

/** Total number of weights. */
export const parameterCount = (ws: readonly tf.Tensor[]) => ws.reduce((n, w) => n + w.size, 0);

/**
 * Loss at w + t d for a batch of perturbations. `offsets` is [N, n] (each row t·d over the
 * flattened weights); the N perturbed networks are evaluated as one batched computation, the
 * first layer as a single [N·d1, d0] x [d0, k] product so the data is never copied N times.
 * Returns [N] losses.
 */
export function perturbedLosses(
  ws: readonly tf.Tensor[],
  x: tf.Tensor2D,
  target: tf.Tensor,
  offsets: tf.Tensor2D,
  opts: MlpOptions = {},
): tf.Tensor1D {
  const o = resolveMlpOptions(opts);
  const n = offsets.shape[0];
  const k = x.shape[1];
  const layers = unflattenBatch(tf.add(flatten(ws), offsets) as tf.Tensor2D, ws);
  const [d1, d0] = ws[0].shape;
  let h: tf.Tensor3D = tf.reshape(tf.matMul(tf.reshape(layers[0], [n * d1, d0]) as tf.Tensor2D, x), [n, d1, k]);
  for (let i = 1; i < layers.length; i++) h = tf.matMul(layers[i], leakyRelu(h, o.slope));
  if (layers.length === 1) h = tf.reshape(h, [n, d1, k]);
  if (o.loss === 'ce') {
    const labels = tf.tile(tf.reshape(target, [1, k]), [n, 1]);
    return outputLoss(h, labels, 'ce') as tf.Tensor1D;
  }
  return outputLoss(h, tf.broadcastTo(target, h.shape), 'mse') as tf.Tensor1D;
}

export interface SharpnessOptions extends MlpOptions {
  /** The displacements t of eq. 13. */
  displacements: number[];
  /** Unit directions over the flattened weights (layer by layer, row-major). */
  directions: tf.Tensor1D[] | tf.Tensor2D;
  /** Perturbations evaluated per batched call (memory bound); default 256. */
  chunk?: number;
}

/** Sharpness phi (eq. 13) as a differentiable scalar tensor. */
export function sharpnessTensor(ws: readonly tf.Tensor[], x: tf.Tensor2D, target: tf.Tensor, opts: SharpnessOptions): tf.Scalar {
  const dirs = Array.isArray(opts.directions) ? tf.stack(opts.directions) : opts.directions; // [D, n]
  const ts = tf.tensor1d(opts.displacements);
  const offsets = tf.reshape(tf.mul(tf.reshape(ts, [-1, 1, 1]), tf.expandDims(dirs, 0)), [-1, dirs.shape[1] as number]) as tf.Tensor2D;
  const total = offsets.shape[0];
  const chunk = opts.chunk ?? 256;
  const sums: tf.Tensor[] = [];
  for (let s = 0; s < total; s += chunk) {
    const part = tf.slice(offsets, [s, 0], [Math.min(chunk, total - s), -1]) as tf.Tensor2D;
    sums.push(tf.sum(perturbedLosses(ws, x, target, part, opts)));
  }
  return tf.div(sums.length === 1 ? sums[0] : tf.addN(sums), total) as tf.Scalar;
}

/** Sharpness phi(w, T, D) = mean over t in T, d in D of L(w + t d) (eq. 13). */
export function sharpness(ws: readonly tf.Tensor[], x: tf.Tensor2D, target: tf.Tensor, opts: SharpnessOptions): number {
  return tf.tidy(() => sharpnessTensor(ws, x, target, opts).dataSync()[0]);
}

/** `count` random unit directions over the flattened weights, as a [count, n] tensor. */
export function randomDirections(ws: readonly tf.Tensor[], count: number, rng: Stream): tf.Tensor2D {
  const n = parameterCount(ws);
  return tf.tidy(() => {
    const d = tf.tensor2d(rng.normalArray(count * n), [count, n]);
    return tf.div(d, tf.norm(d, 'euclidean', 1, true)) as tf.Tensor2D;
  });
}

/** The paper's displacement list 0.001, 0.011, ..., 0.191 (20 values). */
export const PAPER_DISPLACEMENTS = Array.from({ length: 20 }, (_, i) => Math.round((0.001 + 0.01 * i) * 1e6) / 1e6);

/**
 * Random Lie-algebra elements for psi: entries uniform in [0, 1), Frobenius norm 1 (the
 * paper's choice), one matrix per requested hidden layer.
 */
export function randomLieAlgebra(ws: readonly tf.Tensor[], layer: number, rng: Stream): tf.Tensor2D {
  const d = ws[layer].shape[0];
  return tf.tidy(() => {
    const m = tf.tensor2d(rng.uniformArray(d * d), [d, d]);
    return tf.div(m, tf.norm(m)) as tf.Tensor2D;
  });
}

/** psi(w, k) (eq. 14): mean curvature over curves exp(t M_i)·w, M_i given per curve. */
export function psiTensor(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  curves: readonly (readonly (tf.Tensor | null)[])[],
  opts: ActionOptions = {},
): tf.Scalar {
  const ks = curves.map((ms) => curvatureTensor(ws, x, ms, opts));
  return tf.div(tf.addN(ks), ks.length) as tf.Scalar;
}

export function psi(ws: readonly tf.Tensor[], x: tf.Tensor, curves: readonly (readonly (tf.Tensor | null)[])[], opts: ActionOptions = {}): number {
  return tf.tidy(() => psiTensor(ws, x, curves, opts).dataSync()[0]);
}
