// Bias-free MLP of the paper: h_{i+1} = s(W_i h_i), output W_{L-1} h_{L-1}.
// Shapes: ws[i] is [d_{i+1}, d_i]; x is [d_0, k] (a column per sample). A batch of B inner
// problems adds a leading dimension to every tensor ([B, d_{i+1}, d_i], [B, d_0, k], ...);
// losses are then returned per problem, shape [B].
import * as tf from '@tensorflow/tfjs';
import { leakyRelu, crossEntropy, softmax, DEFAULT_SLOPE } from '../ops/activations.js';

export type LossKind = 'mse' | 'ce';

export interface MlpOptions {
  /** 'mse' = 0.5 ||target - f(x)||_F^2 (a sum); 'ce' = mean cross-entropy over columns. */
  loss?: LossKind;
  /** LeakyReLU slope (0.1 by default; 1 makes the network linear). */
  slope?: number;
}

export const resolveMlpOptions = (o: MlpOptions = {}): Required<MlpOptions> => ({
  loss: o.loss ?? 'mse',
  slope: o.slope ?? DEFAULT_SLOPE,
});

const matMul = (a: tf.Tensor, b: tf.Tensor, ta = false, tb = false) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);

/** Activations entering each layer: inputs[i] is the input of ws[i] (inputs[0] = x). */
export function layerInputs(ws: readonly tf.Tensor[], x: tf.Tensor, slope = DEFAULT_SLOPE): tf.Tensor[] {
  const hs = [x];
  for (let i = 0; i < ws.length - 1; i++) hs.push(leakyRelu(matMul(ws[i], hs[i]), slope));
  return hs;
}

/** Network output f(x): [d_L, k] (or [B, d_L, k]). */
export function mlpForward(ws: readonly tf.Tensor[], x: tf.Tensor, slope = DEFAULT_SLOPE): tf.Tensor {
  let h = x;
  for (let i = 0; i < ws.length - 1; i++) h = leakyRelu(matMul(ws[i], h), slope);
  return matMul(ws[ws.length - 1], h);
}

/** Loss of network outputs against targets: [d_L, k] regression targets or int32 classes [k]. */
export function outputLoss(out: tf.Tensor, target: tf.Tensor, loss: LossKind): tf.Tensor {
  if (loss === 'ce') return crossEntropy(out, target);
  const axes = out.rank === 2 ? undefined : [-2, -1];
  return tf.mul(0.5, tf.sum(tf.square(tf.sub(target, out)), axes));
}

/** The loss of the MLP: a scalar, or [B] for a batch of problems. */
export function mlpLoss(ws: readonly tf.Tensor[], x: tf.Tensor, target: tf.Tensor, opts?: MlpOptions): tf.Scalar {
  const o = resolveMlpOptions(opts);
  return outputLoss(mlpForward(ws, x, o.slope), target, o.loss) as tf.Scalar;
}

/** dL/dW_i for every layer (per problem when batched: problems are independent). */
export function mlpGrads(ws: readonly tf.Tensor[], x: tf.Tensor, target: tf.Tensor, opts?: MlpOptions): tf.Tensor[] {
  return tf.grads((...w: tf.Tensor[]) => tf.sum(mlpLoss(w, x, target, opts)))([...ws]);
}

/** Sum over layers of the squared Frobenius norm of the partial derivative of the loss. */
export function sumSquares(ts: readonly tf.Tensor[]): tf.Tensor {
  const batched = ts[0].rank === 3;
  const parts = ts.map((t) => tf.sum(tf.square(t), batched ? [1, 2] : undefined));
  return parts.length === 1 ? parts[0] : tf.addN(parts);
}

/** ||dL/dW||^2 summed over layers: a scalar, or [B] for a batch. Differentiable (2nd order). */
export function gradNormSq(ws: readonly tf.Tensor[], x: tf.Tensor, target: tf.Tensor, opts?: MlpOptions): tf.Scalar {
  return sumSquares(mlpGrads(ws, x, target, opts)) as tf.Scalar;
}

/**
 * Mean cross-entropy [B] of the MLPs on x [B, d_0, k] against labels y [B, k] int32, and its
 * partial derivatives by backpropagation in closed form:
 *   D_L = (softmax(f) - onehot(y)) / k,  dW_i = D_i h_i^T,  D_{i-1} = s'(W_{i-1} h_{i-1}) * W_i^T D_i.
 * Built from matMul, the second-order-safe softmax and constant masks: differentiable again, so a
 * meta-gradient flows through it without a nested tf.grads.
 */
export function classificationLossAndGrads(
  ws: readonly tf.Tensor[],
  x: tf.Tensor3D,
  y: tf.Tensor2D,
  slope: number,
): { loss: tf.Tensor1D; grads: tf.Tensor3D[] } {
  const L = ws.length;
  const hs: tf.Tensor[] = [x];
  const masks: tf.Tensor[] = [];
  for (let i = 0; i < L - 1; i++) {
    const pre = matMul(ws[i]!, hs[i]!);
    masks.push(tf.step(pre, slope)); // constant: zero gradient, as the derivative of LeakyReLU should be
    hs.push(tf.mul(pre, masks[i]!));
  }
  const logits = matMul(ws[L - 1]!, hs[L - 1]!);
  const [, classes, k] = logits.shape as [number, number, number];
  const loss = crossEntropy(logits, y) as tf.Tensor1D;
  // cast oneHot's int32 result: its float32 dtype option returns the int bits on wasm (1 -> 1.4e-45)
  const onehot = tf.transpose(tf.cast(tf.oneHot(tf.cast(y, 'int32'), classes), 'float32'), [0, 2, 1]);
  let d: tf.Tensor = tf.div(tf.sub(softmax(logits, 1), onehot), k);
  const grads: tf.Tensor3D[] = new Array(L);
  for (let i = L - 1; i >= 0; i--) {
    grads[i] = matMul(d, hs[i]!, false, true) as tf.Tensor3D;
    if (i > 0) d = tf.mul(masks[i - 1]!, matMul(ws[i]!, d, true, false));
  }
  return { loss, grads };
}

/** The loss alone, [B]. */
export function classificationLoss(ws: readonly tf.Tensor[], x: tf.Tensor3D, y: tf.Tensor2D, slope: number): tf.Tensor1D {
  let h: tf.Tensor = x;
  for (let i = 0; i < ws.length - 1; i++) {
    const pre = matMul(ws[i]!, h);
    h = tf.mul(pre, tf.step(pre, slope));
  }
  return crossEntropy(matMul(ws[ws.length - 1]!, h), y) as tf.Tensor1D;
}
