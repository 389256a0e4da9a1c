/**
 * Mean cross-entropy (and accuracy) of B models [B, d_{i+1}, d_i] on a whole split, in large
 * chunks. The first layer runs as one [B·d1, d0] x [d0, k] product, so the chunk of data is
 * shared by all models and never copied B times.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../data/types.js';
import { gatherColumns } from '../data/batches.js';
import { crossEntropy } from '../ops/activations.js';
import { batchedLogits } from '../nn/batched.js';

export interface EvalOptions {
  slope?: number;
  /** Samples per chunk; default 5000. */
  chunk?: number;
}


function chunks(split: DataSplit, size: number): Array<{ x: tf.Tensor2D; y: Int32Array; k: number }> {
  const out = [];
  for (let s = 0; s < split.n; s += size) {
    const k = Math.min(size, split.n - s);
    const idx = Int32Array.from({ length: k }, (_, i) => s + i);
    out.push({ x: tf.tensor2d(gatherColumns(split, idx), [split.d, k]), y: split.y.subarray(s, s + k), k });
  }
  return out;
}

/** Per model: mean cross-entropy over the split and accuracy in [0, 1]. */
export function evaluate(params: readonly tf.Tensor[], split: DataSplit, o: EvalOptions = {}): { loss: number[]; accuracy: number[] } {
  const B = params[0]!.shape[0]!;
  const loss = new Float64Array(B);
  const correct = new Float64Array(B);
  for (const c of chunks(split, o.chunk ?? 5000)) {
    const [l, a] = tf.tidy(() => {
      const logits = batchedLogits(params, c.x, o.slope);
      const labels = tf.tile(tf.tensor2d(c.y, [1, c.k], 'int32'), [B, 1]);
      const ce = crossEntropy(logits, labels); // [B], mean over the chunk
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'), 1);
      return [ce.dataSync(), hits.dataSync()];
    });
    c.x.dispose();
    for (let b = 0; b < B; b++) {
      loss[b] += (l[b]! * c.k) / split.n;
      correct[b] += a[b]! / split.n;
    }
  }
  return { loss: Array.from(loss), accuracy: Array.from(correct) };
}

export const evaluateLoss = (params: readonly tf.Tensor[], split: DataSplit, o: EvalOptions = {}) => evaluate(params, split, o).loss;
