/**
 * Sharpness phi (eq. 13) and curvature psi (eq. 14) of one trained model, fast enough for a
 * study of many models. Same values as the toolkit's `sharpness` / `curvature`
 * (src/symmetry), computed differently:
 * - phi: the first layer is linear in the perturbation, (W1 + t D1) x = W1 x + t (D1 x), so
 *   D1 x is computed once for all directions and reused for every displacement t; the rest
 *   of the network runs batched over the directions. This removes the dominant cost (the
 *   d0-wide first layer) for all but one displacement.
 * - psi: the curve derivatives come from the closed form of the `inverse` action with one
 *   moving hidden layer (analyticCurveDerivatives) instead of nested automatic
 *   differentiation through expm and the pseudo-inverse.
 */
import * as tf from '@tensorflow/tfjs';
import { leakyRelu, crossEntropy, DEFAULT_SLOPE } from '../ops/activations.js';
import { analyticCurveDerivatives, curvatureFromDerivatives, unflattenBatch } from '../symmetry/curve.js';

export interface StudySharpnessOptions {
  displacements: readonly number[];
  /** [D, n] unit directions over the flattened weights (layer by layer, row-major). */
  directions: tf.Tensor2D;
  slope?: number;
  /** Directions per batched call (memory bound); default 100. */
  chunk?: number;
}

/** phi = mean over t, d of the mean cross-entropy of the model w + t d on (x, labels). */
export function studySharpness(ws: readonly tf.Tensor2D[], x: tf.Tensor2D, labels: tf.Tensor1D, o: StudySharpnessOptions): number {
  const slope = o.slope ?? DEFAULT_SLOPE;
  const [D] = o.directions.shape;
  const chunk = o.chunk ?? 100;
  const k = x.shape[1];
  let total = 0;
  for (let s = 0; s < D; s += chunk) {
    const c = Math.min(chunk, D - s);
    total += tf.tidy(() => {
      const dirs = tf.slice(o.directions, [s, 0], [c, -1]);
      // split each direction into per-layer blocks [c, r, cols]
      const blocks = unflattenBatch(dirs as tf.Tensor2D, ws);
      const [d1, d0] = ws[0]!.shape;
      const base = tf.matMul(ws[0]!, x); // [d1, k]
      const lin = tf.reshape(tf.matMul(tf.reshape(blocks[0]!, [c * d1, d0]) as tf.Tensor2D, x), [c, d1, k]);
      const y = tf.tile(tf.reshape(labels, [1, k]), [c, 1]);
      let sum = 0;
      for (const t of o.displacements) {
        let h = tf.add(base, tf.mul(lin, t)) as tf.Tensor3D;
        for (let i = 1; i < ws.length; i++) {
          const wi = tf.add(ws[i]!, tf.mul(blocks[i]!, t)) as tf.Tensor3D;
          h = tf.matMul(wi, leakyRelu(h, slope));
        }
        sum += tf.sum(crossEntropy(h, y)).dataSync()[0]!;
      }
      return sum;
    });
  }
  return total / (D * o.displacements.length);
}

/**
 * psi = mean over curves of the curvature at t = 0 of exp(t M)·w, M acting on hidden layer
 * `layer` with the `inverse` action on inputs x (x needs at most d_layer columns for the
 * curve to stay on the level set of those samples).
 */
export function studyCurvature(ws: readonly tf.Tensor2D[], x: tf.Tensor2D, curves: readonly tf.Tensor2D[], layer: number, slope = DEFAULT_SLOPE): number {
  const ks = curves.map((M) =>
    tf.tidy(() => {
      const [d1, d2] = analyticCurveDerivatives(ws, x, layer, M, slope);
      return curvatureFromDerivatives(d1, d2).dataSync()[0]!;
    }),
  );
  return ks.reduce((a, b) => a + b, 0) / ks.length;
}
