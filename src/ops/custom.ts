// A typed wrapper around tf.customGrad for one-input ops.
import * as tf from '@tensorflow/tfjs';

export interface UnaryGrad {
  value: tf.Tensor;
  /** Receives the upstream gradient and the tensors passed to save (inputs only: a saved output or intermediate makes higher-order gradients silently wrong). */
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor;
}

export function unaryCustomOp(f: (x: tf.Tensor, save: tf.GradSaveFunc) => UnaryGrad): <T extends tf.Tensor>(x: T) => T {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => T;
}
