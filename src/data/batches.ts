/**
 * Mini-batches of a split for one epoch, in a shuffled order drawn from a seeded stream:
 * each batch is `x` [d, k] (a column per sample, the convention of src/nn) and `y` [k] int32.
 *
 *     const order = stream(seed, 'batches');
 *     for (let epoch = 0; epoch < 40; epoch++)
 *       for (const { x, y } of batches(ds.train, 20, order)) { ...; tf.dispose([x, y]); }
 *
 * Each call draws one permutation from the stream, so successive epochs differ and the whole
 * sequence is fixed by the seed. Batches are produced lazily: per batch one Float32Array of
 * d * k values is filled from the split (the split itself is never copied). The caller owns
 * and disposes the yielded tensors.
 */
import * as tf from '@tensorflow/tfjs';
import type { Stream } from '../rng/index.js';
import type { DataSplit } from './types.js';

export interface Batch {
  /** [d, k]: column i is sample `indices[i]`. */
  readonly x: tf.Tensor2D;
  /** [k] int32 labels. */
  readonly y: tf.Tensor1D;
  /** Row numbers of the samples in the split. */
  readonly indices: Int32Array;
}

export interface BatchOptions {
  /** Leave out a last batch smaller than batchSize (default false, as torch's DataLoader). */
  readonly dropLast?: boolean;
}

export function numBatches(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** Samples `indices` of a split as columns: a [d, k] row-major Float32Array. */
export function gatherColumns(split: DataSplit, indices: ArrayLike<number>): Float32Array {
  const { d, x } = split;
  const k = indices.length;
  const out = new Float32Array(d * k);
  for (let i = 0; i < k; i++) {
    const src = indices[i]! * d;
    for (let j = 0; j < d; j++) out[j * k + i] = x[src + j]!;
  }
  return out;
}

/** One epoch of shuffled mini-batches (see the module comment). */
export function* batches(split: DataSplit, batchSize: number, order: Stream, opts: BatchOptions = {}): Generator<Batch, void, undefined> {
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const perm = order.permutation(split.n);
  const count = numBatches(split.n, batchSize, opts.dropLast ?? false);
  for (let b = 0; b < count; b++) {
    const indices = perm.subarray(b * batchSize, Math.min((b + 1) * batchSize, split.n));
    const k = indices.length;
    const y = new Int32Array(k);
    for (let i = 0; i < k; i++) y[i] = split.y[indices[i]!]!;
    yield {
      x: tf.tensor2d(gatherColumns(split, indices), [split.d, k]),
      y: tf.tensor1d(y, 'int32'),
      indices: indices.slice(),
    };
  }
}
