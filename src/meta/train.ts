// Meta-training (paper Algorithm 1, batched and sharded): B training trajectories advance in
// lockstep, split into fixed shards; every `unroll` steps the shards' gradient estimates are
// combined in shard order and the learner steps the meta-parameters; each shard's trajectories
// carry into the next window where they are computed. The trainer is a value (MetaTrainState)
// and a step function over it, so checkpoints, resume and logging sit outside.
import * as tf from '@tensorflow/tfjs';
import * as t from 'io-ts';
import { stream, restoreStream, type Stream, type StreamState } from '../rng/index.js';
import { SingularMatrixError } from '../ops/linalg.js';
import type { Split, Task, TaskFamily } from '../tasks/task.js';
import { combineEstimates, disposeEstimate, type Estimate } from './estimator.js';
import { describe, describeAs, isPlainObject, NonNegativeInt, NonNegativeNumber, numberIn, oneOf, PositiveInt, strict, nullable, optional, withDefaults, withShape } from '../config/codec.js';
import { Seed } from '../config/common.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { disposeOuter, learnerStep, outerInit, type OuterStates } from './learner.js';
import { cloneMeta, disposeMeta, type MetaParams } from './params.js';
import { shardIds, type ShardPool } from './shards.js';
import { yieldToEventLoop } from './interrupt.js';
import { disposeTrajectories, innerStep, startTrajectories, trajectoryTensors, windows as windowLengths, type Trajectories } from './truncated.js';

export const TrainShape = strict(
  {
    seed: Seed,
    /** Number of distinct training trajectories (each its own problem). */
    trajectories: PositiveInt,
    /** Passes over the training trajectories. */
    epochs: PositiveInt,
    trajectoryLength: PositiveInt,
    /** Truncation length (steps per meta-gradient). */
    unroll: PositiveInt,
    /** Trajectories advanced in lockstep. */
    batch: PositiveInt,
    /**
     * Meta learning rate of each module of the learned optimizer, by module name (the paper's
     * modules: 'update', 'tele'); `default` serves every module not named.
     */
    metaLr: t.record(t.string, NonNegativeNumber),
    /** Meta learning-rate schedule over all batches: constant, or cosine decay to `lrFloor` x lr. */
    lrSchedule: oneOf(['constant', 'cosine']),
    /** Fraction of the meta learning rates left at the end of a cosine schedule. */
    lrFloor: numberIn({ ge: 0, le: 1 }),
    /** Clip each module's meta-gradient to this global norm (0 = none). */
    clip: NonNegativeNumber,
    lossWeighting: oneOf(['sum', 'mean', 'log']),
    /** Held-out-style validation every this many batches (0 = never); the best is kept. */
    evalEvery: NonNegativeInt,
    valTrajectories: PositiveInt,
    /** Validation trajectories run this many steps. */
    valSteps: PositiveInt,
    /**
     * Label of another variant of the experiment whose trained update module (same meta-seed)
     * starts this one (a warm start: learn to update first, then to teleport); null = from scratch.
     */
    warmStart: nullable(t.string),
    /**
     * When a validation's trajectories overflow float32: 'rollback' to the best validated
     * meta-parameters with fresh outer moments, or 'continue' from where training is (that state
     * is never kept as best).
     */
    divergedValidation: optional(oneOf(['rollback', 'continue']), "'rollback'"),
    /**
     * Each return to the best validated meta-parameters multiplies the meta learning rates by
     * this from then on (1: unchanged). The return resets the outer Adam moments, so its next
     * step is a full-size sign step from the same point, which can diverge again (a loop of one
     * update and one diverged batch until the cosine schedule has lowered the rate).
     */
    rollbackLrFactor: optional(numberIn({ gt: 0, le: 1 }), '1'),
  },
  'MetaTrain',
);

/**
 * Meta-training settings; anything left out takes our defaults (batched trajectories, clipped
 * meta-gradients, the mean log loss, a cosine meta learning rate, validation every 2 batches).
 */
/** `metaLr` when none is given; a given map replaces it whole (a rate per module is not merged with a default). */
const DEFAULT_META_LR = { default: 1e-3 };
const withMetaLr = describeAs(
  new t.Type<t.TypeOf<typeof TrainShape>, t.OutputOf<typeof TrainShape>, unknown>(
    TrainShape.name,
    TrainShape.is,
    (u, c) => TrainShape.validate(isPlainObject(u) && u.metaLr === undefined ? { ...u, metaLr: DEFAULT_META_LR } : u, c),
    TrainShape.encode,
  ),
  describe(TrainShape),
);

export const TrainCodec = withDefaults(withShape(withMetaLr, TrainShape), {
  seed: 0,
  trajectories: 200,
  epochs: 1,
  trajectoryLength: 100,
  unroll: 10,
  batch: 8,
  lrSchedule: 'cosine',
  lrFloor: 0.05,
  clip: 1,
  lossWeighting: 'log',
  evalEvery: 2,
  valTrajectories: 16,
  valSteps: 100,
  warmStart: null,
});
export type TrainConfig = t.TypeOf<typeof TrainCodec>;

/**
 * Multiplier of the meta learning rates at `progress` in [0, 1] of training. Decaying matters
 * here: at a constant rate the validation score of consecutive checkpoints swings by 0.3-0.5
 * nats (measured), so which snapshot is kept is luck; a cosine decay lets training settle.
 */
export function lrFactor(c: Pick<TrainConfig, 'lrSchedule' | 'lrFloor'>, progress: number): number {
  if (c.lrSchedule === 'constant') return 1;
  const p = Math.min(1, Math.max(0, progress));
  return c.lrFloor + (1 - c.lrFloor) * 0.5 * (1 + Math.cos(Math.PI * p));
}

/** The truncation schedule: window boundaries of one trajectory. */
export const windows = (cfg: Pick<TrainConfig, 'trajectoryLength' | 'unroll'>): number[] => windowLengths(cfg.trajectoryLength, cfg.unroll);

export interface MetaTrainState {
  meta: MetaParams;
  /** Outer optimizer (Adam) state per module. */
  outer: OuterStates;
  /** Batches done so far (over all epochs). */
  batchesDone: number;
  /** Stream for the order of training trajectories. */
  order: Stream;
  /** Permutation of the current epoch. */
  perm: number[];
  bestValLoss: number;
  bestMeta: MetaParams | null;
  windowsSkipped: number;
  /** Multiplies the meta learning rates: rollbackLrFactor^(returns to the best so far). */
  lrScale: number;
}

export const batchesPerEpoch = (c: TrainConfig): number => Math.ceil(c.trajectories / c.batch);
export const totalBatches = (c: TrainConfig): number => batchesPerEpoch(c) * c.epochs;

/** The meta learning rate of a module (before the schedule); an error when the map has none for it. */
export function moduleLr(c: Pick<TrainConfig, 'metaLr'>, mod: string): number {
  const lr = c.metaLr[mod] ?? c.metaLr.default;
  if (lr === undefined) throw new Error(`train.metaLr: no rate for module "${mod}" (name it, or give a "default")`);
  return lr;
}

/**
 * Meta-parameters with their update module copied from `from`; the inputs are not disposed.
 * A missing or differently shaped tensor is an error.
 */
export function withUpdateFrom(meta: MetaParams, from: MetaParams, source: string): MetaParams {
  const out: MetaParams = { ...meta, update: { ...meta.update } };
  for (const k of Object.keys(meta.update ?? {})) {
    const f = from.update?.[k];
    if (!f) throw new Error(`warm start from ${source}: it has no update/${k}`);
    if (!tf.util.arraysEqual(f.shape, meta.update[k].shape)) {
      throw new Error(`warm start from ${source}: update/${k} is [${f.shape}], expected [${meta.update[k].shape}]`);
    }
    out.update[k] = tf.clone(f);
  }
  return out;
}

/** Shapes and symmetry of the family's problems (one problem sampled and dropped). */
function taskShape(family: TaskFamily, seed: number) {
  const t = family.sample(seed, 'train', [0]);
  const shape = { paramShapes: t.paramShapes, symmetry: t.symmetry };
  t.dispose();
  return shape;
}

/**
 * The meta-parameters a run starts from (a pure function of the meta-seed, and of `warm`, the
 * trained parameters named by `c.warmStart`, which replace the update module).
 */
export function initialMeta(learned: LearnedOptimizer, family: TaskFamily, c: TrainConfig, warm?: MetaParams): MetaParams {
  // Streams shared by all variants (not keyed by name): the update LSTM (initialised first)
  // starts from the same weights in LSTM(update) and LSTM(update,tele), and both see the
  // training trajectories in the same order, so per meta-seed the two differ only by the
  // teleport module (a paired comparison).
  const fresh = learned.init(stream(c.seed, 'meta-init'), taskShape(family, c.seed));
  if (c.warmStart === null) return fresh;
  if (!warm) throw new Error(`warm start from ${c.warmStart}: its trained meta-parameters are needed`);
  const meta = withUpdateFrom(fresh, warm, c.warmStart);
  tf.dispose(Object.values(fresh.update ?? {}));
  return meta;
}

/** A fresh trainer; `warm` (the trained parameters named by `c.warmStart`) replaces the update module. */
export function initTrainState(learned: LearnedOptimizer, family: TaskFamily, c: TrainConfig, warm?: MetaParams): MetaTrainState {
  const meta = initialMeta(learned, family, c, warm);
  return {
    meta,
    outer: outerInit(meta),
    batchesDone: 0,
    order: stream(c.seed, 'order'),
    perm: [],
    bestValLoss: Infinity,
    bestMeta: null,
    windowsSkipped: 0,
    lrScale: 1,
  };
}

export interface WindowLog {
  batch: number;
  window: number;
  metaLoss: number;
  gradNorms: Record<string, number>;
  /** Mean loss over the batch before each step of the window. */
  meanLoss: number[];
  skipped: boolean;
  /** Where each shard's estimate was computed (worker pools only), in shard order. */
  shards?: ShardLog[];
}

export interface ShardLog {
  worker: string;
  /** Trajectories of the shard. */
  trajectories: number;
  /** Seconds of the shard's window where it ran. */
  seconds: number;
  staleness?: number;
}

const shardLogOf = (e: Estimate): ShardLog[] =>
  e.worker === undefined ? [] : [{ worker: e.worker, trajectories: e.weight, seconds: e.seconds ?? NaN, ...(e.staleness !== undefined ? { staleness: e.staleness } : {}) }];

export interface BatchResult {
  state: MetaTrainState;
  windows: WindowLog[];
  seconds: number;
}

/** Indices of the trajectories of the next batch (a fresh permutation each epoch). */
function nextIndices(st: MetaTrainState, c: TrainConfig): { idx: number[]; perm: number[] } {
  const per = batchesPerEpoch(c);
  const inEpoch = st.batchesDone % per;
  const perm = inEpoch === 0 ? Array.from(st.order.permutation(c.trajectories)) : st.perm;
  return { idx: perm.slice(inEpoch * c.batch, Math.min((inEpoch + 1) * c.batch, c.trajectories)), perm };
}

/**
 * Meta-train on one batch of trajectories: all windows of the truncation schedule, the batch
 * split into `shards` shards on `pool`. Returns the new state; replaced tensors are disposed.
 * A window whose estimate is not finite (a diverged trajectory) is skipped and ends the batch.
 */
export async function trainBatch(st: MetaTrainState, c: TrainConfig, pool: ShardPool, shards = 1): Promise<BatchResult> {
  const t0 = performance.now();
  const { idx, perm } = nextIndices(st, c);
  let meta = st.meta;
  let outer = st.outer;
  let skipped = st.windowsSkipped;
  const logs: WindowLog[] = [];
  const sched = windows(c);
  const total = totalBatches(c);
  await pool.begin({ seed: c.seed, batch: st.batchesDone, shards: shardIds(idx, shards) }, meta);
  try {
    for (let wi = 0; wi < sched.length; wi++) {
      const parts = await pool.window(meta, st.batchesDone * sched.length + wi, sched[wi]);
      const est = combineEstimates(parts);
      const shardLogs = parts.flatMap(shardLogOf);
      parts.forEach(disposeEstimate);
      const f = lrFactor(c, (st.batchesDone + wi / sched.length) / total);
      const r = learnerStep(meta, outer, est, (mod) => f * st.lrScale * moduleLr(c, mod), c.clip);
      disposeEstimate(est);
      meta = r.meta;
      outer = r.outer;
      if (!r.applied) skipped++;
      logs.push({
        batch: st.batchesDone,
        window: wi,
        metaLoss: est.metaLoss,
        gradNorms: r.applied ? r.norms : {},
        meanLoss: est.meanLoss,
        skipped: !r.applied,
        ...(shardLogs.length > 0 ? { shards: shardLogs } : {}),
      });
      // A diverged trajectory batch cannot teach anything more: stop its unroll.
      if (!r.applied) break;
      await yieldToEventLoop(); // a signal (stop after this batch, or exit now) is seen within a window
    }
  } finally {
    await pool.end();
  }
  return {
    state: { ...st, meta, outer, batchesDone: st.batchesDone + 1, perm, windowsSkipped: skipped },
    windows: logs,
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface TrajectoryRecord {
  /** [steps + 1][B]: loss before each step and after the last. */
  loss: number[][];
  gradNormSq: number[][];
  /** Per-step statistics [steps][B] when the optimizer produces them. */
  updateNorm: number[][];
  teleDist: number[][];
  eta: number[][];
  /** Wall-clock seconds since the start, after each step. */
  time: number[];
}

/** Run `steps` steps of `meta`'s optimizer on `task` without a tape (evaluation). */
export function runTrajectory(learned: LearnedOptimizer, meta: MetaParams, task: Task, steps: number): TrajectoryRecord {
  const rec: TrajectoryRecord = { loss: [], gradNormSq: [], updateNorm: [], teleDist: [], eta: [], time: [] };
  const opt = learned.optimizer(meta, task);
  const t0 = performance.now();
  let tr: Trajectories<unknown> = startTrajectories(opt, task);
  const host = (t?: tf.Tensor) => (t ? Array.from(t.dataSync()) : []);
  try {
    for (let k = 0; k < steps; k++) {
      let next!: Trajectories<unknown>;
      try {
        tf.tidy(() => {
          const r = innerStep(opt, task, tr as Trajectories<never>);
          rec.loss.push(host(r.loss));
          rec.gradNormSq.push(host(r.gradNormSq));
          if (r.stats.updateNorm) rec.updateNorm.push(host(r.stats.updateNorm));
          if (r.stats.teleDist) rec.teleDist.push(host(r.stats.teleDist));
          if (r.stats.eta) rec.eta.push(host(r.stats.eta));
          trajectoryTensors(r.next).forEach((t) => tf.keep(t));
          next = r.next;
        });
      } catch (e) {
        // Diverged (singular g or non-finite weights): the rest of the trajectory is NaN.
        if (!(e instanceof SingularMatrixError)) throw e;
        while (rec.loss.length <= steps) rec.loss.push(new Array(task.size).fill(NaN));
        while (rec.gradNormSq.length < steps) rec.gradNormSq.push(new Array(task.size).fill(NaN));
        while (rec.time.length < steps) rec.time.push(NaN);
        return rec;
      }
      disposeTrajectories(tr);
      tr = next;
      rec.time.push((performance.now() - t0) / 1000);
    }
    const last = tf.tidy(() => task.loss(tr.params, tr.step));
    rec.loss.push(Array.from(last.dataSync()));
    last.dispose();
    return rec;
  } finally {
    disposeTrajectories(tr);
  }
}

/** Run an optimizer on the problems `ns` of a split; all problems in one batch. */
export function evaluate(learned: LearnedOptimizer, meta: MetaParams, family: TaskFamily, seed: number, split: Split, ns: readonly number[], steps: number): TrajectoryRecord {
  const task = family.sample(seed, split, ns);
  try {
    return runTrajectory(learned, meta, task, steps);
  } finally {
    task.dispose();
  }
}

/** Validation score: mean over steps and problems of log loss (lower is better; NaN = +inf). */
export function validationScore(rec: TrajectoryRecord): number {
  let s = 0;
  let n = 0;
  for (const row of rec.loss) for (const l of row) {
    s += Number.isFinite(l) ? Math.log(Math.max(l, 1e-30)) : Infinity;
    n++;
  }
  return Number.isFinite(s) ? s / n : Infinity;
}

/** Validate and keep a copy of the best meta-parameters so far (a diverged validation never is). */
export function validate(st: MetaTrainState, learned: LearnedOptimizer, family: TaskFamily, c: TrainConfig): { state: MetaTrainState; score: number; record: TrajectoryRecord } {
  const ns = Array.from({ length: c.valTrajectories }, (_, i) => i);
  const record = evaluate(learned, st.meta, family, c.seed, 'val', ns, c.valSteps);
  const score = validationScore(record);
  if (score < st.bestValLoss) {
    disposeMeta(st.bestMeta);
    return { state: { ...st, bestValLoss: score, bestMeta: cloneMeta(st.meta) }, score, record };
  }
  return { state: st, score, record };
}

/**
 * Divergence guard: a batch whose first window already diverges gives no meta-gradient (its
 * windows are skipped), so the meta-parameters would stay where every trajectory diverges for
 * the rest of training (seen: the learned GD scale growing to e^2 x 3e-4). Return to the best
 * validated meta-parameters with fresh Adam moments instead; before any validation that did not
 * diverge, to the start (`start()`, when given; else a no-op).
 */
export function rollbackToBest(st: MetaTrainState, lrFactor = 1, start?: () => MetaParams): MetaTrainState {
  if (!st.bestMeta && !start) return st;
  disposeMeta(st.meta);
  disposeOuter(st.outer);
  const meta = st.bestMeta ? cloneMeta(st.bestMeta) : start!();
  return { ...st, meta, outer: outerInit(meta), lrScale: st.lrScale * lrFactor };
}

export function disposeTrainState(st: MetaTrainState): void {
  disposeMeta(st.meta);
  disposeOuter(st.outer);
  disposeMeta(st.bestMeta);
}

export { restoreStream, type StreamState };
