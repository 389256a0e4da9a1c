/**
 * Training of bias-free MLP classifiers (LeakyReLU, mean cross-entropy) with any `Optimizer`,
 * several independent models in lockstep: every parameter is [B, d_{i+1}, d_i] (model b in
 * slice b), each model has its own initialisation and its own order of mini-batches, and one
 * batched computation runs them all (per-op overhead dominates at these sizes).
 *
 *     const opt = optimizer({ name: 'sgd', lr: 0.01 });
 *     let state = initClassifier({ dims: [784, 16, 10, 10], models: [0, 1, 2], seed: 0 }, opt);
 *     const run = trainClassifier(state, { optimizer: opt, data: { train, test }, epochs: 40, batchSize: 20, seed: 0 });
 *     run.history;  // per epoch: train / test loss per model, seconds
 *
 * State in, state out: `trainClassifier` disposes the state it was given once it has moved on
 * (the caller keeps only the returned state). Randomness is per model and per epoch
 * (stream(seed, 'model', id, 'order', epoch)), so a run can be split, resumed or forked at any
 * epoch and gives the same batches.
 */
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../optim/types.js';
import type { DataSplit } from '../data/types.js';
import { gatherColumns, numBatches } from '../data/batches.js';
import { stream } from '../rng/index.js';
import { classificationLossAndGrads } from '../nn/mlp.js';
import { DEFAULT_SLOPE } from '../ops/activations.js';
import { evaluateLoss } from './evaluate.js';
import { initWeights, stackWeights } from '../nn/batched.js';

export interface ClassifierState<S> {
  /** One tensor per layer, [B, d_{i+1}, d_i]. */
  readonly params: tf.Tensor3D[];
  readonly opt: S;
  /** Epochs completed. */
  readonly epoch: number;
  /** Model ids (they name the random streams), one per slice. */
  readonly models: readonly number[];
}

export interface EpochRecord {
  epoch: number;
  /** Per model: mean batch loss over the epoch, or the full-split loss (`trainLoss: 'full'`). */
  trainLoss: number[];
  /** Per model: loss on the evaluation split after the epoch. */
  testLoss: number[];
  /** Wall-clock seconds of the epoch's training steps (evaluation excluded). */
  seconds: number;
}

export interface TrainHooks<S> {
  /** Runs before each epoch; may return a new state (e.g. teleported weights). It owns the state it gets. */
  beforeEpoch?: (epoch: number, state: ClassifierState<S>) => ClassifierState<S>;
  afterEpoch?: (record: EpochRecord, state: ClassifierState<S>) => void;
  /**
   * Runs before each mini-batch step (`step` counts from 0 within the epoch) and may return a
   * new state, e.g. teleported weights between two steps. Unlike `beforeEpoch` it does not own
   * the state it gets: it must not dispose it (the loop releases what was replaced).
   */
  beforeStep?: (step: number, state: ClassifierState<S>) => ClassifierState<S>;
}

export interface TrainOptions<S> {
  optimizer: Optimizer<S>;
  data: { train: DataSplit; test: DataSplit };
  /** Train until this many epochs are completed. */
  epochs: number;
  batchSize: number;
  seed: number;
  slope?: number;
  /** 'batches': mean of the epoch's mini-batch losses (as the paper plots); 'full': loss on the whole training split after the epoch. */
  trainLoss?: 'batches' | 'full';
  /** Samples per evaluation chunk (memory bound); default 5000. */
  evalChunk?: number;
  /** Dispose an optimizer state; default tf.dispose over its tensors. */
  disposeState?: (s: S) => void;
  /**
   * 'per-model' (default): each model its own order, reshuffled every epoch; 'shared': one
   * order for every model, the same every epoch (the reference code's fixed sequential order).
   */
  order?: 'per-model' | 'shared';
  hooks?: TrainHooks<S>;
}

export class DivergenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergenceError';
  }
}

export interface InitOptions {
  dims: readonly number[];
  /** Model ids; model id i always starts from the same weights for a seed. */
  models: readonly number[];
  seed: number;
  /** Every model starts from model 0's weights (a study that varies the batch order only). */
  sameInit?: boolean;
}

export function initClassifier<S>(o: InitOptions, opt: Optimizer<S>): ClassifierState<S> {
  const params = stackWeights(o.dims, o.models.map((m) => initWeights(o.dims, o.seed, o.sameInit ? 0 : m)));
  return { params, opt: opt.init(params), epoch: 0, models: [...o.models] };
}

const defaultDispose = <S>(s: S) => tf.dispose(s as unknown as tf.TensorContainer);

/** Release every tensor of a state. */
export function disposeClassifier<S>(state: ClassifierState<S>, disposeState: (s: S) => void = defaultDispose): void {
  tf.dispose(state.params);
  disposeState(state.opt);
}

/** The batch order of every model for one epoch. */
function epochOrders(models: readonly number[], seed: number, epoch: number, n: number, order: 'per-model' | 'shared' = 'per-model'): Int32Array[] {
  if (order === 'shared') {
    const perm = stream(seed, 'shared-order').permutation(n);
    return models.map(() => perm);
  }
  return models.map((m) => stream(seed, 'model', m, 'order', epoch).permutation(n));
}

/** Mini-batch `index` of every model: x [B, d, k] and labels [B, k]. */
function gatherBatch(split: DataSplit, orders: readonly Int32Array[], index: number, batchSize: number): { x: tf.Tensor3D; y: tf.Tensor2D } {
  const start = index * batchSize;
  const k = Math.min(batchSize, split.n - start);
  const B = orders.length;
  const xs = new Float32Array(B * split.d * k);
  const ys = new Int32Array(B * k);
  orders.forEach((perm, b) => {
    const idx = perm.subarray(start, start + k);
    xs.set(gatherColumns(split, idx), b * split.d * k);
    for (let i = 0; i < k; i++) ys[b * k + i] = split.y[idx[i]!]!;
  });
  return { x: tf.tensor3d(xs, [B, split.d, k]), y: tf.tensor2d(ys, [B, k], 'int32') };
}

/** One epoch of mini-batch steps. Returns the new state and the per-model mean batch loss. */
export function trainEpoch<S>(
  state: ClassifierState<S>,
  o: Pick<TrainOptions<S>, 'optimizer' | 'data' | 'batchSize' | 'seed' | 'slope' | 'disposeState' | 'order' | 'hooks'>,
): { state: ClassifierState<S>; meanLoss: number[] } {
  const split = o.data.train;
  const slope = o.slope ?? DEFAULT_SLOPE;
  const dispose = o.disposeState ?? defaultDispose;
  const orders = epochOrders(state.models, o.seed, state.epoch, split.n, o.order);
  const count = numBatches(split.n, o.batchSize);
  let params: tf.Tensor[] = state.params;
  let opt = state.opt;
  let sum: tf.Tensor = tf.zeros([state.models.length]);
  for (let i = 0; i < count; i++) {
    if (o.hooks?.beforeStep) {
      const h = o.hooks.beforeStep(i, { params: params as tf.Tensor3D[], opt, epoch: state.epoch, models: state.models });
      if (h.params !== params) {
        if (params !== state.params) tf.dispose(params.filter((p) => !h.params.includes(p as tf.Tensor3D)));
        params = h.params;
      }
      if (h.opt !== opt) {
        if (opt !== state.opt) dispose(opt);
        opt = h.opt;
      }
    }
    const { x, y } = gatherBatch(split, orders, i, o.batchSize);
    const { grads, loss } = tf.tidy(() => {
      // closed-form backpropagation: one forward pass for the loss and the gradients, no tape
      // (2x fewer kernels than tf.grads, which also recomputed the forward pass)
      const r = classificationLossAndGrads(params, x, y, slope);
      return { grads: r.grads, loss: tf.mul(r.loss, y.shape[1] / split.n) };
    });
    const next = o.optimizer.step(params, grads, opt);
    tf.dispose([x, y, ...grads]);
    if (params !== state.params) tf.dispose(params);
    if (opt !== state.opt) dispose(opt);
    params = next.params;
    opt = next.state;
    const s2 = tf.add(sum, loss);
    tf.dispose([sum, loss]);
    sum = s2;
  }
  const meanLoss = Array.from(sum.dataSync());
  sum.dispose();
  return { state: { params: params as tf.Tensor3D[], opt, epoch: state.epoch + 1, models: state.models }, meanLoss };
}

function checkFinite(losses: readonly number[], models: readonly number[], epoch: number, what: string): void {
  const bad = losses.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new DivergenceError(
      `training diverged: ${what} loss of model ${models[bad]} is ${losses[bad]} after epoch ${epoch}; lower the learning rate`,
    );
  }
}

/**
 * Train from `state` until `epochs` epochs are completed. Returns the final state and one
 * record per epoch run. Throws DivergenceError (after releasing the state) on a NaN/Inf loss.
 */
export function trainClassifier<S>(state0: ClassifierState<S>, o: TrainOptions<S>): { state: ClassifierState<S>; history: EpochRecord[] } {
  const history: EpochRecord[] = [];
  const slope = o.slope ?? DEFAULT_SLOPE;
  let state = state0;
  try {
    while (state.epoch < o.epochs) {
      const epoch = state.epoch;
      if (o.hooks?.beforeEpoch) state = o.hooks.beforeEpoch(epoch, state);
      const t0 = performance.now();
      const r = trainEpoch(state, o);
      const seconds = (performance.now() - t0) / 1000;
      disposeOwned(state, r.state, o.disposeState);
      state = r.state;
      checkFinite(r.meanLoss, state.models, epoch, 'training');
      const trainLoss = o.trainLoss === 'full' ? evaluateLoss(state.params, o.data.train, { slope, chunk: o.evalChunk }) : r.meanLoss;
      const testLoss = evaluateLoss(state.params, o.data.test, { slope, chunk: o.evalChunk });
      checkFinite(testLoss, state.models, epoch, 'test');
      const record: EpochRecord = { epoch, trainLoss, testLoss, seconds };
      history.push(record);
      o.hooks?.afterEpoch?.(record, state);
    }
  } catch (e) {
    if (state !== state0 || e instanceof DivergenceError) disposeClassifier(state, o.disposeState);
    throw e;
  }
  return { state, history };
}

/** Dispose what `prev` holds that `next` does not (the epoch replaced params and state). */
function disposeOwned<S>(prev: ClassifierState<S>, next: ClassifierState<S>, disposeState?: (s: S) => void): void {
  if (prev.params !== next.params) tf.dispose(prev.params.filter((p) => !next.params.includes(p)));
  if (prev.opt !== next.opt) (disposeState ?? defaultDispose)(prev.opt);
}
