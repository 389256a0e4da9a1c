// Activations that stay correct under repeated differentiation. Stock tf.leakyRelu, tf.exp,
// tf.tanh and tf.sigmoid throw or are silently wrong in second order on tfjs 4.22 (measured);
// these are built from ops whose gradients are themselves differentiable.
import * as tf from '@tensorflow/tfjs';
import { shareBuffer } from './tape-overrides.js';
import { unaryCustomOp } from './custom.js';

export const DEFAULT_SLOPE = 0.1;

/** The piecewise-constant derivative of LeakyReLU, treated as a constant mask. */
function leakyMask(x: tf.Tensor, slope: number): tf.Tensor {
  // step(x, alpha) is 1 for x > 0 and alpha elsewhere; its gradient is zero, as it should be.
  return tf.step(x, slope);
}

/**
 * x * mask for a mask that is locally constant in x (a step of x, or of anything else): the
 * product with the gradient dy * mask and none for the mask. The stock product would also
 * compute dy * x for the mask, the step's zero gradient, and their sum with dy * mask at x
 * (three kernels per use, the same value). Exact to every order: the backward is a product
 * with the saved mask, recorded when the backward is itself differentiated.
 */
export function maskMul<T extends tf.Tensor>(x: T, mask: tf.Tensor): T {
  return unaryCustomOp((v, save) => {
    save([mask]);
    return { value: tf.mul(v, mask), gradFunc: (dy, saved) => tf.mul(dy, saved[0]) };
  })(x);
}

/** LeakyReLU written as x * mask(x): exact to every order (the mask is locally constant). */
export function leakyRelu<T extends tf.Tensor>(x: T, slope = DEFAULT_SLOPE): T {
  return maskMul(x, leakyMask(x, slope));
}

/** Inverse of LeakyReLU (slope > 0): x for x > 0, x / slope otherwise. */
export function leakyReluInv<T extends tf.Tensor>(x: T, slope = DEFAULT_SLOPE): T {
  if (!(slope > 0)) throw new Error(`leakyReluInv: slope must be > 0 to be invertible, got ${slope}`);
  return maskMul(x, tf.step(x, 1 / slope));
}

/** Derivative of LeakyReLU at x (a constant mask). */
export function leakyReluDeriv(x: tf.Tensor, slope = DEFAULT_SLOPE): tf.Tensor {
  return leakyMask(x, slope);
}

/**
 * exp with a gradient that calls itself, so every order is available. Stock tf.exp saves its
 * output for the backward pass, which breaks higher-order gradients.
 */
export const exp: (x: tf.Tensor) => tf.Tensor = unaryCustomOp((x, save) => {
  save([x]);
  return {
    value: tf.exp(x),
    gradFunc: (dy, saved) => tf.mul(dy, exp(saved[0])),
  };
});

/** Logistic sigmoid from the safe exp: 1 / (1 + exp(-x)). */
export function sigmoid(x: tf.Tensor): tf.Tensor {
  return tf.div(1, tf.add(1, exp(tf.neg(x))));
}

/** tanh from the safe sigmoid: 2 sigmoid(2x) - 1. */
export function tanh(x: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(2, sigmoid(tf.mul(2, x))), 1);
}

/**
 * A value with no gradient (tfjs has no stop_gradient). The identity forward and a zero
 * backward keep the value on the device, with no host round-trip.
 */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = unaryCustomOp((x, _save) => ({
  value: tf.clone(x),
  gradFunc: (dy) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

/**
 * x's value as a constant the tape does not link to x (it shares x's buffer; no kernel call).
 * Unlike stopGradient, whose zero gradient the backward still carries through everything
 * that made x, nothing before it is visited; a function of x only through it has no gradient
 * in x at all.
 */
export const detach = <T extends tf.Tensor>(x: T): T => shareBuffer(x);

/**
 * The max over `axis` (kept), as a constant: softmax and log-sum-exp do not depend on the
 * shift, so a zero gradient is exact. The max runs inside a custom op: tf.max's own gradient
 * uses Equal, which has no gradient, so a recorded max would break the second derivative.
 */
function maxShift(x: tf.Tensor, axis: number): tf.Tensor {
  return unaryCustomOp((l) => ({ value: tf.max(l, axis, true), gradFunc: () => tf.zerosLike(l) }))(x);
}

/**
 * Softmax over `axis`, correct to every order (stock tf.softmax is wrong at second order):
 * the safe exp of the max-shifted input over its sum.
 */
export function softmax(x: tf.Tensor, axis: number): tf.Tensor {
  const e = exp(tf.sub(x, maxShift(x, axis)));
  return tf.div(e, tf.sum(e, axis, true));
}

/**
 * Mean cross-entropy of logits [C, k] (classes along rows, a column per sample) against int32
 * class indices [k] (or [B, C, k] against [B, k]: mean over k for each problem). Written with
 * the safe exp and a constant max-shift, so its second derivative keeps the softmax Hessian
 * (tf.losses.softmaxCrossEntropy does not).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const rank = logits.rank;
  const classAxis = rank - 2;
  const c = logits.shape[classAxis];
  const z = tf.sub(logits, maxShift(logits, classAxis));
  const lse = tf.log(tf.sum(exp(z), classAxis)); // [k] or [B, k]
  const onehot = tf.oneHot(tf.cast(labels, 'int32'), c); // [k, C] or [B, k, C]
  const perm = rank === 2 ? [1, 0] : [0, 2, 1];
  const picked = tf.sum(tf.mul(z, tf.transpose(onehot, perm)), classAxis);
  return tf.mean(tf.sub(lse, picked), -1);
}
