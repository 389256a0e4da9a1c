// Metrics of a point on the loss landscape: the AdaGrad-preconditioned gradient norm,
// sharpness phi (eq. 13) and the mean curvature psi of the minimum (eq. 14).
import * as tf from '@tensorflow/tfjs';
import { mlpGrads, resolveMlpOptions, outputLoss, type MlpOptions } from '../nn/mlp.js';
import { leakyRelu } from '../ops/activations.js';
import { unflattenBatch, curvatureTensor } from './curve.js';
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
 * The directions of a sharpness evaluation, split for the network `ws`: per-layer blocks
 * [D, rows, cols], and D1 x ([D, d1, k]), the first layer's response to each direction. The
 * first layer is linear in the perturbation, (W1 + t D1) x = W1 x + t (D1 x), so this one
 * product serves every displacement t: the d0-wide first layer costs one pass over the
 * directions, not one per (t, direction). Constants: no gradient flows into them.
 */
interface SplitDirections {
  blocks: tf.Tensor3D[];
  lin: tf.Tensor3D;
}

function splitDirections(ws: readonly tf.Tensor[], x: tf.Tensor2D, dirs: tf.Tensor2D): SplitDirections {
  const D = dirs.shape[0];
  const [d1, d0] = ws[0].shape;
  const [blocks, lin] = tf.tidy(() => {
    const b = unflattenBatch(dirs, ws);
    return [b, tf.reshape(tf.matMul(tf.reshape(b[0], [D * d1, d0]) as tf.Tensor2D, x), [D, d1, x.shape[1]]) as tf.Tensor3D] as [tf.Tensor3D[], tf.Tensor3D];
  });
  return { blocks, lin };
}

/** Σ over the directions of L(w + t d) at one displacement t: differentiable in ws. */
function directionsLossSum(ws: readonly tf.Tensor[], x: tf.Tensor2D, target: tf.Tensor, split: SplitDirections, t: number, o: Required<MlpOptions>): tf.Scalar {
  const [D, , k] = split.lin.shape;
  let h = tf.add(tf.matMul(ws[0] as tf.Tensor2D, x), tf.mul(split.lin, t)) as tf.Tensor3D; // [D, d1, k]
  for (let i = 1; i < ws.length; i++) h = tf.matMul(tf.add(ws[i], tf.mul(split.blocks[i], t)) as tf.Tensor3D, leakyRelu(h, o.slope));
  const labels = o.loss === 'ce' ? tf.tile(tf.reshape(target, [1, k]), [D, 1]) : tf.broadcastTo(target, h.shape);
  return tf.sum(outputLoss(h, labels, o.loss)) as tf.Scalar;
}

export interface SharpnessOptions extends MlpOptions {
  /** The displacements t of eq. 13. */
  displacements: number[];
  /** Unit directions over the flattened weights (layer by layer, row-major). */
  directions: tf.Tensor1D[] | tf.Tensor2D;
  /** Directions evaluated per batched call (memory bound); default 256. */
  chunk?: number;
}

/**
 * phi's pieces, one per (direction chunk, displacement), each given its chunk's constant split.
 * `release`: dispose each split once its pieces are done (when no tape still reads them).
 */
function sharpnessPieces<T>(ws: readonly tf.Tensor[], x: tf.Tensor2D, opts: SharpnessOptions, release: boolean, piece: (split: SplitDirections, t: number) => T): T[] {
  const dirs = Array.isArray(opts.directions) ? (tf.stack(opts.directions) as tf.Tensor2D) : opts.directions; // [D, n]
  const D = dirs.shape[0];
  const chunk = opts.chunk ?? 256;
  const out: T[] = [];
  for (let s = 0; s < D; s += chunk) {
    const part = tf.slice(dirs, [s, 0], [Math.min(chunk, D - s), -1]) as tf.Tensor2D;
    const split = splitDirections(ws, x, part);
    for (const t of opts.displacements) out.push(piece(split, t));
    if (release) tf.dispose([part, split.lin, ...split.blocks]);
  }
  if (release && dirs !== opts.directions) dirs.dispose();
  return out;
}

const perturbationCount = (opts: SharpnessOptions) => (Array.isArray(opts.directions) ? opts.directions.length : opts.directions.shape[0]) * opts.displacements.length;

/** Sharpness phi (eq. 13) as a differentiable scalar tensor (one tape over every perturbation). */
export function sharpnessTensor(ws: readonly tf.Tensor[], x: tf.Tensor2D, target: tf.Tensor, opts: SharpnessOptions): tf.Scalar {
  const o = resolveMlpOptions(opts);
  // each piece in its own scope: without a tape its intermediates go at once (a tape keeps what it saved)
  const sums = sharpnessPieces(ws, x, opts, false, (split, t) => tf.tidy(() => directionsLossSum(ws, x, target, split, t, o)));
  return tf.div(tf.addN(sums), perturbationCount(opts)) as tf.Scalar;
}

/**
 * phi and its gradient w.r.t. the weights, accumulated piece by piece: each piece's tape is
 * freed before the next, so memory is bounded by one piece whatever the number of
 * perturbations (a teleport on phi with 200 directions x 20 displacements on 2,000 samples
 * otherwise holds 4,000 perturbed forward passes at once: 12 GB).
 */
export function sharpnessValueAndGrads(ws: readonly tf.Tensor[], x: tf.Tensor2D, target: tf.Tensor, opts: SharpnessOptions): { value: tf.Scalar; grads: tf.Tensor[] } {
  const o = resolveMlpOptions(opts);
  let value = tf.scalar(0);
  let grads = ws.map((w) => tf.zerosLike(w));
  sharpnessPieces(ws, x, opts, true, (split, t) => {
    const r = tf.valueAndGrads((...w: tf.Tensor[]) => directionsLossSum(w, x, target, split, t, o))([...ws]);
    const next = { value: tf.add(value, r.value) as tf.Scalar, grads: grads.map((g, i) => tf.add(g, r.grads[i])) };
    tf.dispose([value, ...grads, r.value, ...r.grads]);
    ({ value, grads } = next);
  });
  const n = perturbationCount(opts);
  const out = { value: tf.div(value, n) as tf.Scalar, grads: grads.map((g) => tf.div(g, n)) };
  tf.dispose([value, ...grads]);
  return out;
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
