// The one optimizer interface of symtele, shared by hand-designed and learned optimizers:
// a pair of pure functions over explicit state (the optax shape). `step` must not dispose its
// inputs; callers own and dispose what they no longer need.
import type * as tf from '@tensorflow/tfjs';

export interface Optimizer<S> {
  readonly name: string;
  init(params: tf.Tensor[]): S;
  step(params: tf.Tensor[], grads: tf.Tensor[], state: S): { params: tf.Tensor[]; state: S };
}
