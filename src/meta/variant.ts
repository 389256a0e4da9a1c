// The learned optimizers of paper section 5.2 as data (learned kind 'paper'): one VariantConfig
// describes gradient descent, an LSTM update, an LSTM teleport with a step-size head, both
// modules (and anything in between); the optimizer it defines is built in ./learned/paper.ts
// from an update module, a teleport module and a step-size head.
//
//   m1 (update):  f_t = outputScale * head(LSTM1(pre(grad_t))) - gdSkip * grad_t
//   m2 (tele):    T_t = head(LSTM2(pre(grad_t))), rescaled to ||T||_F = magnitude, g_t = I + T_t
//                 optional step-size head: eta_t in [min, max]
//   w_{t+1} = g_t . (w_t + f_t)             (update and/or tele)
//   w_{t+1} = g_t . (w_t - eta_t grad_t)    (lr head, no m1)
//   w_{t+1} = w_t - lr grad_t               (GD)
import * as tf from '@tensorflow/tfjs';
import * as t from 'io-ts';
import { NonNegativeNumber, oneOf, optional, PositiveInt, PositiveNumber, strict, nullable } from '../config/codec.js';

export const PreprocessCodec = strict(
  {
    /** 'raw': grad * inputScale; 'logsign': (log|g|/p, sign g) or (-1, e^p g) (Andrychowicz et al.). */
    kind: oneOf(['raw', 'logsign']),
    p: PositiveNumber,
    inputScale: PositiveNumber,
  },
  'Preprocess',
);
export type PreprocessConfig = t.TypeOf<typeof PreprocessCodec>;

export const UpdateCodec = strict(
  {
    hidden: PositiveInt,
    outputScale: PositiveNumber,
    /** Elementwise clamp of f (the reference clamps at 1e7); 0 = none. */
    clamp: NonNegativeNumber,
    /** A gradient-descent term -gdSkip * grad added to f (0 = the paper's pure LSTM update). */
    gdSkip: NonNegativeNumber,
    /**
     * > 0: the gradient-descent term's step is learned, gdSkip * exp(r tanh(z_t)) with z_t from
     * an extra head, i.e. within a factor e^r of gdSkip. 0: fixed.
     */
    lrScaleRange: NonNegativeNumber,
  },
  'UpdateModule',
);
export type UpdateModuleConfig = t.TypeOf<typeof UpdateCodec>;

export const LrHeadCodec = strict(
  {
    min: PositiveNumber,
    max: PositiveNumber,
    /**
     * 'clamp' (reference: clamp of a linear output) or 'logsigmoid' (smooth, log-scale range; a
     * zero head output gives the variant's `lr`).
     */
    param: oneOf(['clamp', 'logsigmoid']),
  },
  'LrHead',
);
export type LrHeadConfig = t.TypeOf<typeof LrHeadCodec>;

export const TeleCodec = strict(
  {
    hidden: PositiveInt,
    /** Frobenius norm of T (g = I + T). */
    magnitude: PositiveNumber,
    /** 'inverse': exact W g^-1; 'linear': the reference's W (I - T) stand-in. */
    action: oneOf(['inverse', 'linear']),
    /**
     * How the 'inverse' action inverts g: 'host' in float64 on the host (a read per step), or
     * 'device' by Newton-Schulz on the device (no host read inside a window; within
     * ||T||^16 / (1 - ||T||) of g^-1 for ||T|| <= magnitude <= 0.2, src/ops/near-identity.ts).
     */
    inverse: oneOf(['host', 'device']),
    lrHead: nullable(LrHeadCodec),
    /** Multiplies the T head before the rescale (how much of T the free head contributes). */
    headScale: PositiveNumber,
    /**
     * A direction added to T as c_t * D / ||D|| with c_t from an extra head (zero at init):
     * 'w2': D = dW2^T dW2, the first-order ascent direction of ||dL/dW2||^2 (from the gradient alone);
     * 'gradNorm': D = d||grad L(g.w)||^2 / dT at T = 0, the ascent direction of the paper's
     * teleport objective (the task's first direction); 'none': T is the free head only.
     */
    direction: oneOf(['none', 'w2', 'gradNorm']),
    /** true: ||T|| = magnitude * sigmoid(z_t) from an extra head (the teleport can fade out); false: fixed. */
    learnedMagnitude: t.boolean,
    /**
     * 'after' (the paper's eq. 18): w_{t+1} = g_t . (w_t + f_t), g_t chosen from the gradient at
     * w_t but applied after the update. 'before' (ours): w_{t+1} = g_t . w_t + f_t with f_t from
     * the gradient at g_t . w_t: the group element acts on the point whose gradient chose it
     * (its ascent direction is that point's), the update sees the teleported gradient from the
     * first step on; one more inner gradient per step. 'first' (ours): 'before' at step 0 only,
     * 'after' from then on. At step 0 'after' cannot change the loss after the first step (the
     * teleport keeps the loss it acts on), and that first step is one near-constant learned step
     * size for every problem; a teleport before it moves each problem to a point where that step
     * does better (docs/results/learning-to-teleport.md, "Step 1"). One more inner gradient at step 0 only.
     */
    order: optional(oneOf(['after', 'before', 'first']), "'after'"),
  },
  'TeleModule',
);
export type TeleModuleConfig = t.TypeOf<typeof TeleCodec>;

export const VariantCodec = strict(
  {
    /** Name in errors (default 'paper'; an experiment sets its entry's label). */
    name: optional(t.string),
    /** GD step size (the GD variant), and the initial step of a logsigmoid step-size head. */
    lr: PositiveNumber,
    update: nullable(UpdateCodec),
    tele: nullable(TeleCodec),
    preprocess: PreprocessCodec,
    /** false: the gradient input is a constant (stopGradient), the reference's choice. */
    secondOrder: t.boolean,
  },
  'Variant',
);
export type VariantConfig = t.TypeOf<typeof VariantCodec>;

export const isLearned = (c: VariantConfig): boolean => c.update !== null || c.tele !== null;

/** Gradient features [B, width] for the LSTMs. */
export function preprocess(g: tf.Tensor2D, c: PreprocessConfig): tf.Tensor2D {
  if (c.kind === 'raw') return (c.inputScale === 1 ? g : tf.mul(g, c.inputScale)) as tf.Tensor2D;
  const p = c.p;
  const a = tf.abs(g);
  const big = tf.greaterEqual(a, Math.exp(-p));
  // the constant -1 made on the host (no Fill kernel)
  const logm = select(big, tf.div(tf.log(tf.maximum(a, Math.exp(-p))), p), tf.tensor(new Float32Array(g.size).fill(-1), g.shape));
  const sgn = select(big, tf.sign(g), tf.mul(g, Math.exp(p)));
  return tf.concat([logm, sgn], 1) as tf.Tensor2D;
}

/**
 * tf.where for operands of one shape: the Select kernel itself (with its stock gradient).
 * tf.where broadcasts every operand first, and a broadcast to the same shape is a copy
 * (an Identity kernel each).
 */
function select(condition: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel('Select', { condition, t: a, e: b }) as tf.Tensor;
}

/** Offset so that a zero head output gives the step size `lr` (clamped into the range). */
export function logitOfLr(lr: number, h: LrHeadConfig): number {
  const f = Math.min(Math.max(Math.log(lr / h.min) / Math.log(h.max / h.min), 1e-3), 1 - 1e-3);
  return Math.log(f / (1 - f));
}

