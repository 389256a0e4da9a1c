/**
 * Sharpness phi (eq. 13) and curvature psi (eq. 14) of one trained model, fast enough for a
 * study of many models:
 * - phi: the toolkit's `sharpness` (src/symmetry/metrics.ts), which computes the first layer's
 *   response to the directions once for every displacement, in chunks of directions.
 * - psi: the curve derivatives come from the closed form of the `inverse` action with one
 *   moving hidden layer (analyticCurveDerivatives) instead of nested automatic
 *   differentiation through expm and the pseudo-inverse; same values as the toolkit's
 *   `curvature`.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_SLOPE } from '../../ops/activations.js';
import { sharpness } from '../../symmetry/metrics.js';
import { analyticCurveDerivatives, curvatureFromDerivatives } from '../../symmetry/curve.js';

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
  return sharpness(ws, x, labels, { displacements: [...o.displacements], directions: o.directions, slope: o.slope ?? DEFAULT_SLOPE, loss: 'ce', chunk: o.chunk ?? 100 });
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
