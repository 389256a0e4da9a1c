// Meta-training by truncated backprop (paper Algorithm 1), batched: B training trajectories
// advance in lockstep; every `unroll` steps one meta-gradient (averaged over the batch) updates
// the LSTMs with Adam; the unroll state is carried, detached, into the next window.
// The trainer is a value (MetaTrainState) and a step function over it, so checkpoints, resume
// and logging sit outside.
import * as tf from '@tensorflow/tfjs';
import type { Params } from '../nn/lstm.js';
import { stream, restoreStream, type Stream, type StreamState } from '../rng/index.js';
import { sampleRegression, disposeBatch, type RegressionSpec, type Split } from '../tasks/regression.js';
import { SingularMatrixError } from '../ops/linalg.js';
import { adamInit, adamStep, clipGroups, type AdamState, DEFAULT_ADAM } from './adam.js';
import { metaGradWindow, runTrajectory, type LossWeighting, type TrajectoryRecord } from './unroll.js';
import { initMetaParams, initUnrollState, isLearned, disposeUnroll, type VariantConfig, type ProblemData } from './variant.js';

export interface TrainConfig {
  seed: number;
  /** Number of distinct training trajectories (each its own problem). */
  trajectories: number;
  /** Passes over the training trajectories. */
  epochs: number;
  trajectoryLength: number;
  /** Truncation length (steps per meta-gradient). */
  unroll: number;
  /** Trajectories advanced in lockstep. */
  batch: number;
  lrUpdate: number;
  lrTele: number;
  /** Meta learning-rate schedule over all batches: constant, or cosine decay to `lrFloor` x lr. */
  lrSchedule: 'constant' | 'cosine';
  /** Fraction of the meta learning rates left at the end of a cosine schedule. */
  lrFloor: number;
  /** Clip each module's meta-gradient to this global norm (0 = none). */
  clip: number;
  lossWeighting: LossWeighting;
  /** Held-out-style validation every this many batches (0 = never); the best is kept. */
  evalEvery: number;
  valTrajectories: number;
  /** Validation trajectories run this many steps. */
  valSteps: number;
  /**
   * Label of another variant of the experiment whose trained update LSTM (m1.*, same meta-seed)
   * starts this one (a warm start: learn to update first, then to teleport); null = from scratch.
   */
  warmStart: string | null;
}

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
export function windows(cfg: Pick<TrainConfig, 'trajectoryLength' | 'unroll'>): number[] {
  const w: number[] = [];
  for (let s = 0; s < cfg.trajectoryLength; s += cfg.unroll) w.push(Math.min(cfg.unroll, cfg.trajectoryLength - s));
  return w;
}

export interface MetaTrainState {
  meta: Params;
  adam: AdamState;
  /** Batches done so far (over all epochs). */
  batchesDone: number;
  /** Stream for the order of training trajectories. */
  order: Stream;
  /** Permutation of the current epoch. */
  perm: number[];
  bestValLoss: number;
  bestMeta: Params | null;
  windowsSkipped: number;
}

export const batchesPerEpoch = (c: TrainConfig): number => Math.ceil(c.trajectories / c.batch);
export const totalBatches = (c: TrainConfig): number => batchesPerEpoch(c) * c.epochs;

/**
 * Meta-parameters with their update LSTM (every 'm1.' tensor) copied from `from`; the inputs
 * are not disposed. A missing or differently shaped tensor is an error.
 */
export function withUpdateFrom(meta: Params, from: Params, source: string): Params {
  const out: Params = { ...meta };
  for (const k of Object.keys(meta).filter((k) => k.startsWith('m1.'))) {
    const f = from[k];
    if (!f) throw new Error(`warm start from ${source}: it has no ${k}`);
    if (!tf.util.arraysEqual(f.shape, meta[k].shape)) {
      throw new Error(`warm start from ${source}: ${k} is [${f.shape}], expected [${meta[k].shape}]`);
    }
    out[k] = tf.clone(f);
  }
  return out;
}

/** A fresh trainer; `warm` (the trained parameters named by `c.warmStart`) replaces the update LSTM. */
export function initTrainState(v: VariantConfig, c: TrainConfig, dim: number, warm?: Params): MetaTrainState {
  // Streams shared by all variants (not keyed by name): the update LSTM (initialised first)
  // starts from the same weights in LSTM(update) and LSTM(update,tele), and both see the
  // training trajectories in the same order, so per meta-seed the two differ only by the
  // teleport module (a paired comparison).
  const fresh = initMetaParams(v, dim, stream(c.seed, 'meta-init'));
  let meta = fresh;
  if (c.warmStart !== null) {
    if (!warm) throw new Error(`warm start from ${c.warmStart}: its trained meta-parameters are needed`);
    meta = withUpdateFrom(fresh, warm, c.warmStart);
    tf.dispose(Object.keys(fresh).filter((k) => k.startsWith('m1.')).map((k) => fresh[k]));
  }
  const order = stream(c.seed, 'order');
  return {
    meta,
    adam: adamInit(meta),
    batchesDone: 0,
    order,
    perm: [],
    bestValLoss: Infinity,
    bestMeta: null,
    windowsSkipped: 0,
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
}

export interface BatchResult {
  state: MetaTrainState;
  windows: WindowLog[];
  seconds: number;
}

const groupOf = (name: string) => name.slice(0, 2);

/** Indices of the trajectories of the next batch (a fresh permutation each epoch). */
function nextIndices(st: MetaTrainState, c: TrainConfig): { idx: number[]; perm: number[] } {
  const per = batchesPerEpoch(c);
  const inEpoch = st.batchesDone % per;
  const perm = inEpoch === 0 ? Array.from(st.order.permutation(c.trajectories)) : st.perm;
  return { idx: perm.slice(inEpoch * c.batch, Math.min((inEpoch + 1) * c.batch, c.trajectories)), perm };
}

export function problemData(b: ReturnType<typeof sampleRegression>, task: RegressionSpec): ProblemData {
  return { x: b.x, y: b.y, xInv: b.xInv, dim: task.dim, slope: task.slope };
}

/**
 * Meta-train on one batch of trajectories: all windows of the truncation schedule. Returns the
 * new state; the old state's tensors that were replaced are disposed.
 */
export function trainBatch(st: MetaTrainState, v: VariantConfig, c: TrainConfig, task: RegressionSpec): BatchResult {
  const t0 = performance.now();
  const { idx, perm } = nextIndices(st, c);
  const batch = sampleRegression(task, c.seed, 'train', idx);
  const data = problemData(batch, task);
  let unroll = initUnrollState(v, batch.ws);
  let meta = st.meta;
  let adam = st.adam;
  let skipped = st.windowsSkipped;
  const logs: WindowLog[] = [];
  const sched = windows(c);
  const total = totalBatches(c);
  for (let wi = 0; wi < sched.length; wi++) {
    let r: ReturnType<typeof metaGradWindow>;
    try {
      r = metaGradWindow(meta, v, data, unroll, sched[wi], c.lossWeighting);
    } catch (e) {
      // A diverged trajectory (non-finite weights) makes g or X singular: skip the rest of it.
      if (!(e instanceof SingularMatrixError)) throw e;
      skipped++;
      logs.push({ batch: st.batchesDone, window: wi, metaLoss: NaN, gradNorms: {}, meanLoss: [NaN], skipped: true });
      break;
    }
    disposeUnroll(unroll);
    unroll = r.state;
    const { grads, norms } = clipGroups(r.grads, groupOf, c.clip);
    tf.dispose(Object.values(r.grads));
    const finite = Number.isFinite(r.metaLoss) && Object.values(norms).every(Number.isFinite);
    if (finite) {
      const f = lrFactor(c, (st.batchesDone + wi / sched.length) / total);
      const next = adamStep(meta, grads, adam, (k) => f * (groupOf(k) === 'm1' ? c.lrUpdate : c.lrTele), DEFAULT_ADAM);
      if (meta !== st.meta) tf.dispose(Object.values(meta));
      if (adam !== st.adam) tf.dispose([...Object.values(adam.m), ...Object.values(adam.v)]);
      meta = next.params;
      adam = next.state;
    } else skipped++;
    tf.dispose(Object.values(grads));
    const mean = r.losses.map((l) => l.reduce((a, b) => a + b, 0) / l.length);
    logs.push({ batch: st.batchesDone, window: wi, metaLoss: r.metaLoss, gradNorms: norms, meanLoss: mean, skipped: !finite });
    // A diverged trajectory batch cannot teach anything more: stop its unroll.
    if (!finite) break;
  }
  disposeUnroll(unroll);
  disposeBatch(batch);
  if (meta !== st.meta) tf.dispose(Object.values(st.meta));
  if (adam !== st.adam) tf.dispose([...Object.values(st.adam.m), ...Object.values(st.adam.v)]);
  return {
    state: { ...st, meta, adam, batchesDone: st.batchesDone + 1, perm, windowsSkipped: skipped },
    windows: logs,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Run a variant (learned or GD) on the problems `ns` of a split; all problems in one batch. */
export function evaluate(
  meta: Params,
  v: VariantConfig,
  task: RegressionSpec,
  seed: number,
  split: Split,
  ns: readonly number[],
  steps: number,
): TrajectoryRecord {
  const batch = sampleRegression(task, seed, split, ns);
  const st = initUnrollState(v, batch.ws);
  try {
    return runTrajectory(meta, v, problemData(batch, task), st, steps);
  } finally {
    disposeUnroll(st);
    disposeBatch(batch);
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

/** Validate and keep a copy of the best meta-parameters so far. */
export function validate(st: MetaTrainState, v: VariantConfig, c: TrainConfig, task: RegressionSpec): { state: MetaTrainState; score: number; record: TrajectoryRecord } {
  const ns = Array.from({ length: c.valTrajectories }, (_, i) => i);
  const record = evaluate(st.meta, v, task, c.seed, 'val', ns, c.valSteps);
  const score = validationScore(record);
  if (score < st.bestValLoss || st.bestMeta === null) {
    if (st.bestMeta) tf.dispose(Object.values(st.bestMeta));
    const best: Params = {};
    for (const [k, p] of Object.entries(st.meta)) best[k] = tf.clone(p);
    return { state: { ...st, bestValLoss: Math.min(score, st.bestValLoss), bestMeta: best }, score, record };
  }
  return { state: st, score, record };
}

/**
 * Divergence guard: a batch whose first window already diverges gives no meta-gradient (its
 * windows are skipped), so the meta-parameters would stay where every trajectory diverges for
 * the rest of training (seen: the learned GD scale growing to e^2 x 3e-4). Return to the best
 * validated meta-parameters with fresh Adam moments instead. No-op before any validation.
 */
export function rollbackToBest(st: MetaTrainState): MetaTrainState {
  if (!st.bestMeta) return st;
  tf.dispose([...Object.values(st.meta), ...Object.values(st.adam.m), ...Object.values(st.adam.v)]);
  const meta: Params = {};
  for (const [k, p] of Object.entries(st.bestMeta)) meta[k] = tf.clone(p);
  return { ...st, meta, adam: adamInit(meta) };
}

export function disposeTrainState(st: MetaTrainState): void {
  tf.dispose([...Object.values(st.meta), ...Object.values(st.adam.m), ...Object.values(st.adam.v)]);
  if (st.bestMeta) tf.dispose(Object.values(st.bestMeta));
}

export { isLearned, restoreStream, type StreamState };
