// Teleport objectives: scalar functions of the transformed weights on one data batch.
// Each must be differentiable w.r.t. the weights to the order the teleport needs (one more
// than the objective's own order): second order for the gradient norms, third for curvature.
import * as tf from '@tensorflow/tfjs';
import { gradNormSq, type MlpOptions } from '../nn/mlp.js';
import { adagradNormSq, sharpnessTensor, sharpnessValueAndGrads, psiTensor } from '../symmetry/metrics.js';
import type { ActionOptions } from '../symmetry/action.js';

export interface Batch {
  x: tf.Tensor;
  target: tf.Tensor;
}

/**
 * A differentiable objective of the weights on a batch; the teleport moves it up or down. It
 * may also give its value and gradient w.r.t. the weights directly (`weightGrads`), computed
 * with bounded memory; the teleport then chains that gradient through the group action
 * instead of taping the objective.
 */
export type Objective = ((ws: readonly tf.Tensor[], batch: Batch) => tf.Scalar) & {
  weightGrads?: (ws: readonly tf.Tensor[], batch: Batch) => { value: tf.Scalar; grads: tf.Tensor[] };
};

export type ObjectiveName = 'gradNorm' | 'adagradNorm' | 'sharpness' | 'curvature';

const total = (t: tf.Tensor): tf.Scalar => (t.rank === 0 ? (t as tf.Scalar) : tf.sum(t));

/** ||dL/dW||^2 summed over layers (eq. 3). */
export const gradNormObjective =
  (opts: MlpOptions = {}): Objective =>
  (ws, b) =>
    total(gradNormSq(ws, b.x, b.target, opts));

/** ||dL/dW||_A^2 with AdaGrad's accumulator (Appendix G.1). */
export const adagradNormObjective =
  (accumulator: readonly tf.Tensor[], opts: MlpOptions & { eps?: number } = {}): Objective =>
  (ws, b) =>
    adagradNormSq(ws, b.x, b.target, accumulator, opts);

/** Sharpness phi with fixed displacements and directions (eq. 13); its gradient piece by piece. */
export const sharpnessObjective = (opts: MlpOptions & { displacements: number[]; directions: tf.Tensor2D }): Objective =>
  Object.assign((ws: readonly tf.Tensor[], b: Batch) => sharpnessTensor(ws, b.x as tf.Tensor2D, b.target, opts), {
    weightGrads: (ws: readonly tf.Tensor[], b: Batch) => sharpnessValueAndGrads(ws, b.x as tf.Tensor2D, b.target, opts),
  });

/** Mean curvature psi over fixed curves exp(t M_i)·w (eq. 14). */
export const curvatureObjective =
  (curves: readonly (readonly (tf.Tensor | null)[])[], opts: ActionOptions = {}): Objective =>
  (ws, b) =>
    psiTensor(ws, b.x, curves, opts);
