/**
 * The update rules of torch.optim (1.13, `_single_tensor_*`), one parameter at a time, written
 * operation for operation in the same order as torch so float32 results stay close.
 *
 * A rule receives the parameter, its gradient, its slot tensors and the number of the step
 * being taken (1 for the first), and returns the new parameter and slots. Rules run inside
 * `tf.tidy` (see ./hand.ts) and may create any intermediates.
 */
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfigOf } from './config.js';
import type { SlotName } from './state.js';
import { fusedAdamStep } from './fused-adam.js';

export type Slots = { [K in SlotName]?: tf.Tensor };

export interface Rule {
  /** Slots of a fresh state for one parameter. */
  init(p: tf.Tensor): Slots;
  update(p: tf.Tensor, g: tf.Tensor, slots: Slots, step: number): { param: tf.Tensor; slots: Slots };
}

/** d = ±g (+ weightDecay * p): the gradient every rule starts from. */
function direction(p: tf.Tensor, g: tf.Tensor, maximize: boolean, weightDecay: number): tf.Tensor {
  const d = maximize ? tf.neg(g) : g;
  return weightDecay !== 0 ? tf.add(d, tf.mul(p, weightDecay)) : d;
}

/** p - a * x */
const axpy = (p: tf.Tensor, a: number, x: tf.Tensor) => tf.sub(p, tf.mul(x, a));

/**
 * SGD (and 'momentum'). The momentum buffer is created at the first step as a copy of d
 * without dampening, then buf = momentum * buf + (1 - dampening) * d; Nesterov uses
 * d + momentum * buf.
 */
export function sgdRule(c: OptimizerConfigOf<'sgd' | 'momentum'>): Rule {
  return {
    init: (p) => (c.momentum !== 0 ? { momentumBuffer: tf.zerosLike(p) } : {}),
    update(p, g, slots, step) {
      let d = direction(p, g, c.maximize, c.weightDecay);
      if (c.momentum === 0) return { param: axpy(p, c.lr, d), slots: {} };
      const buf =
        step === 1 ? tf.clone(d) : tf.add(tf.mul(slots.momentumBuffer!, c.momentum), tf.mul(d, 1 - c.dampening));
      d = c.nesterov ? tf.add(d, tf.mul(buf, c.momentum)) : buf;
      return { param: axpy(p, c.lr, d), slots: { momentumBuffer: buf } };
    },
  };
}

/** Adagrad: G += d^2; p -= clr * d / (sqrt(G) + eps), clr = lr / (1 + (step - 1) * lrDecay). */
export function adagradRule(c: OptimizerConfigOf<'adagrad'>): Rule {
  return {
    init: (p) => ({ sum: tf.fill(p.shape, c.initialAccumulatorValue, p.dtype) }),
    update(p, g, slots, step) {
      const d = direction(p, g, c.maximize, c.weightDecay);
      const clr = c.lr / (1 + (step - 1) * c.lrDecay);
      const sum = tf.add(slots.sum!, tf.mul(d, d));
      const std = tf.add(tf.sqrt(sum), c.eps);
      return { param: axpy(p, clr, tf.div(d, std)), slots: { sum } };
    },
  };
}

/**
 * RMSprop: v = alpha v + (1 - alpha) d^2; centered: m = alpha m + (1 - alpha) d and
 * avg = sqrt(v - m^2), else sqrt(v); avg += eps; with momentum buf = momentum buf + d / avg
 * and p -= lr buf, else p -= lr d / avg.
 */
export function rmspropRule(c: OptimizerConfigOf<'rmsprop'>): Rule {
  return {
    init(p) {
      const s: Slots = { squareAvg: tf.zerosLike(p) };
      if (c.momentum > 0) s.momentumBuffer = tf.zerosLike(p);
      if (c.centered) s.gradAvg = tf.zerosLike(p);
      return s;
    },
    update(p, g, slots, _step) {
      const d = direction(p, g, c.maximize, c.weightDecay);
      const out: Slots = {};
      const squareAvg = tf.add(tf.mul(slots.squareAvg!, c.alpha), tf.mul(tf.mul(d, d), 1 - c.alpha));
      out.squareAvg = squareAvg;
      let avg: tf.Tensor;
      if (c.centered) {
        const gradAvg = tf.add(tf.mul(slots.gradAvg!, c.alpha), tf.mul(d, 1 - c.alpha));
        out.gradAvg = gradAvg;
        avg = tf.sqrt(tf.sub(squareAvg, tf.mul(gradAvg, gradAvg)));
      } else {
        avg = tf.sqrt(squareAvg);
      }
      avg = tf.add(avg, c.eps);
      if (c.momentum > 0) {
        const buf = tf.add(tf.mul(slots.momentumBuffer!, c.momentum), tf.div(d, avg));
        out.momentumBuffer = buf;
        return { param: axpy(p, c.lr, buf), slots: out };
      }
      return { param: axpy(p, c.lr, tf.div(d, avg)), slots: out };
    },
  };
}

/**
 * Adam (L2 weight decay added to the gradient, as torch's Adam, not AdamW):
 * m = b1 m + (1 - b1) d; v = b2 v + (1 - b2) d^2; (amsgrad: vmax = max(vmax, v), used for v);
 * denom = sqrt(v) / sqrt(1 - b2^t) + eps; p -= lr / (1 - b1^t) * m / denom.
 */
export function adamRule(c: OptimizerConfigOf<'adam'>): Rule {
  const [b1, b2] = c.betas;
  return {
    init(p) {
      const s: Slots = { expAvg: tf.zerosLike(p), expAvgSq: tf.zerosLike(p) };
      if (c.amsgrad) s.maxExpAvgSq = tf.zerosLike(p);
      return s;
    },
    update(p, g, slots, step) {
      const stepSize = c.lr / (1 - b1 ** step);
      const bc2Sqrt = Math.sqrt(1 - b2 ** step);
      // one kernel where the backend has it: the same numbers (./fused-adam.ts)
      if (!c.amsgrad && c.weightDecay === 0) {
        const fused = fusedAdamStep(p, g, slots.expAvg!, slots.expAvgSq!, { b1, b2, stepSize, bc2Sqrt, eps: c.eps, sign: c.maximize ? -1 : 1 });
        if (fused) return { param: fused[0], slots: { expAvg: fused[1], expAvgSq: fused[2] } };
      }
      const d = direction(p, g, c.maximize, c.weightDecay);
      const expAvg = tf.add(tf.mul(slots.expAvg!, b1), tf.mul(d, 1 - b1));
      const expAvgSq = tf.add(tf.mul(slots.expAvgSq!, b2), tf.mul(tf.mul(d, d), 1 - b2));
      const out: Slots = { expAvg, expAvgSq };
      let second = expAvgSq;
      if (c.amsgrad) {
        second = tf.maximum(slots.maxExpAvgSq!, expAvgSq);
        out.maxExpAvgSq = second;
      }
      const denom = tf.add(tf.div(tf.sqrt(second), bc2Sqrt), c.eps);
      return { param: axpy(p, stepSize, tf.div(expAvg, denom)), slots: out };
    },
  };
}
