// Many MLPs of one shape in lockstep: weights [B, d_{i+1}, d_i] (a leading model axis), their
// initialisation by model id, and the batched forward pass. The classifier trainer, the
// classification task family and the paper studies share them.
import * as tf from '@tensorflow/tfjs';
import { leakyRelu, DEFAULT_SLOPE } from '../ops/activations.js';
import { stream } from '../rng/index.js';

/** Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights of one model, [d_{i+1}, d_i] per layer, as flat arrays. */
export function initWeights(dims: readonly number[], seed: number | string, model: number): Float32Array[] {
  const rng = stream(seed, 'model', model, 'init');
  return dims.slice(0, -1).map((d, i) => {
    const b = 1 / Math.sqrt(d);
    return rng.uniformArray(dims[i + 1]! * d, -b, b);
  });
}

/** Stack per-model flat weights into batched parameters [B, d_{i+1}, d_i]. */
export function stackWeights(dims: readonly number[], perModel: readonly Float32Array[][]): tf.Tensor3D[] {
  return dims.slice(0, -1).map((d, i) => {
    const size = dims[i + 1]! * d;
    const buf = new Float32Array(perModel.length * size);
    perModel.forEach((ws, b) => buf.set(ws[i]!, b * size));
    return tf.tensor3d(buf, [perModel.length, dims[i + 1]!, d]);
  });
}

/** Model b's weights as flat arrays (a checkpoint's content). */
export function modelWeights(params: readonly tf.Tensor[], b: number): Float32Array[] {
  return params.map((p) => {
    const [, r, c] = p.shape as [number, number, number];
    return (p.dataSync() as Float32Array).slice(b * r * c, (b + 1) * r * c);
  });
}

/** Model b's weights as 2-D tensors (for the single-model toolkit: teleport, metrics). */
export function modelTensors(params: readonly tf.Tensor[], b: number): tf.Tensor2D[] {
  return tf.tidy(() => params.map((p) => tf.squeeze(tf.slice(p, [b, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D));
}


/** Logits [B, C, k] of B models on shared data x [d0, k]. */
export function batchedLogits(params: readonly tf.Tensor[], x: tf.Tensor2D, slope = DEFAULT_SLOPE): tf.Tensor3D {
  const [B, d1, d0] = params[0]!.shape as [number, number, number];
  const k = x.shape[1];
  let h = tf.reshape(tf.matMul(tf.reshape(params[0]!, [B * d1, d0]) as tf.Tensor2D, x), [B, d1, k]) as tf.Tensor3D;
  for (let i = 1; i < params.length; i++) h = tf.matMul(params[i] as tf.Tensor3D, leakyRelu(h, slope));
  return h;
}
