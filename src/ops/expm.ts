// Matrix exponential from matMul only, so it is differentiable to any order: a degree-12
// Taylor polynomial of A / 2^s followed by s squarings. The scaling s is chosen from the
// (host-read) 1-norm and is locally constant, so it does not enter the derivatives.
import * as tf from '@tensorflow/tfjs';

const DEGREE = 12;

function scalingFor(a: tf.Tensor): number {
  // max over the batch of the 1-norm (max absolute column sum)
  const norm = tf.tidy(() => tf.max(tf.sum(tf.abs(a), -2)).dataSync()[0]);
  return norm > 0.5 ? Math.ceil(Math.log2(norm / 0.5)) : 0;
}

/** exp(A) for A of shape [..., n, n]. */
export function expm<T extends tf.Tensor>(a: T, opts: { scaling?: number } = {}): T {
  const n = a.shape[a.rank - 1];
  if (a.rank < 2 || a.shape[a.rank - 2] !== n) throw new Error(`expm: expected square matrices, got shape [${a.shape}]`);
  const s = opts.scaling ?? scalingFor(a);
  const batch = a.shape.slice(0, -2);
  const as = s > 0 ? tf.mul(a, 2 ** -s) : a;
  const eye = tf.eye(n, n, (batch.length ? batch : undefined) as [number] | undefined) as tf.Tensor;
  // Horner form: I + A(I + A/2 (I + A/3 (...)))
  let acc: tf.Tensor = eye;
  for (let k = DEGREE; k >= 1; k--) {
    acc = tf.add(eye, tf.mul(tf.matMul(as as tf.Tensor3D, acc as tf.Tensor3D), 1 / k));
  }
  for (let i = 0; i < s; i++) acc = tf.matMul(acc as tf.Tensor3D, acc as tf.Tensor3D);
  return acc as T;
}
