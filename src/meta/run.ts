// The learning-to-teleport experiment end to end: meta-train every learned variant (once per
// meta-seed) with TensorBoard logs, periodic validation and resumable checkpoints, then run
// all variants and GD on the same held-out trajectories and report.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSummaryWriter, type SummaryWriter } from '../logging/tensorboard.js';
import type { Params } from '../nn/lstm.js';
import { CheckpointError, hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointConfig } from './checkpoint.js';
import { taskSpec, type MetaExperiment, type ResolvedVariant } from './config.js';
import type { EvalResults, VariantResult } from './report.js';
import {
  disposeTrainState,
  evaluate,
  initTrainState,
  totalBatches,
  trainBatch,
  rollbackToBest,
  validate,
  type MetaTrainState,
} from './train.js';
import { isLearned } from './variant.js';
import type { TrajectoryRecord } from './unroll.js';

export const slug = (label: string): string => label.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');

export interface TrainRunOptions {
  /** Root of an earlier run's checkpoints: continue each variant/seed from its latest checkpoint. */
  resume?: string;
  /** Stop after this many batches in this process (tests; simulates a kill). */
  stopAfterBatches?: number;
  log?: (line: string) => void;
  /** Write TensorBoard events (default true). */
  tensorboard?: boolean;
  /** Trained meta-parameters of the variant named by `train.warmStart` (same meta-seed). */
  warmFrom?: Params;
}

export const checkpointDirOf = (root: string, label: string, metaSeed: number): string =>
  path.join(root, slug(label), `seed-${metaSeed}`);

const seeded = (rv: ResolvedVariant, metaSeed: number) => ({ ...rv.train, seed: rv.train.seed + metaSeed * 1000003 });

export interface TrainedVariant {
  label: string;
  metaSeed: number;
  meta: Params;
  seconds: number;
  trajectories: number;
  finished: boolean;
}

function histogramStats(w: SummaryWriter, rec: TrajectoryRecord, step: number): void {
  const flat = (a: number[][]) => a.flat();
  if (rec.updateNorm.length) w.histogram('val/update_norm', flat(rec.updateNorm), step);
  if (rec.teleDist.length) w.histogram('val/g_minus_I', flat(rec.teleDist), step);
  if (rec.eta.length) {
    w.histogram('val/step_size', flat(rec.eta), step);
    const e = flat(rec.eta);
    w.scalar('val/step_size_mean', e.reduce((a, b) => a + b, 0) / e.length, step);
  }
}

/** Meta-train one learned variant for one meta-seed (resuming when asked). */
export function trainVariant(rv: ResolvedVariant, exp: MetaExperiment, metaSeed: number, opts: TrainRunOptions = {}): TrainedVariant {
  const log = opts.log ?? (() => {});
  const task = taskSpec(exp);
  const train = seeded(rv, metaSeed);
  const ckptConfig: CheckpointConfig = { variant: rv.variant, train, task };
  const dir = checkpointDirOf(exp.checkpointDir, rv.label, metaSeed);
  let st: MetaTrainState;
  if (opts.resume) {
    const from = checkpointDirOf(opts.resume, rv.label, metaSeed);
    if (!hasCheckpoint(from)) throw new CheckpointError(from, 'nothing to resume (no manifest.json)');
    st = loadCheckpoint(from, ckptConfig).state;
    log(`${rv.label} seed ${metaSeed}: resumed at batch ${st.batchesDone}/${totalBatches(train)}`);
  } else st = initTrainState(rv.variant, train, task.dim, opts.warmFrom);
  const total = totalBatches(train);
  const writer = opts.tensorboard === false ? null : createSummaryWriter(path.join(exp.logdir, slug(rv.label), `seed-${metaSeed}`));
  writer?.text('config', '```json\n' + JSON.stringify({ variant: rv.variant, train, task }, null, 2) + '\n```', st.batchesDone);
  const t0 = performance.now();
  let trajectories = 0;
  let ran = 0;
  const windowsPerBatch = Math.ceil(train.trajectoryLength / train.unroll);
  const validateAndLog = (seconds: number) => {
    const b = st.batchesDone;
    const v = validate(st, rv.variant, train, task);
    st = v.state;
    writer?.scalar('val/score_mean_log_loss', v.score, b);
    for (const s of exp.tableSteps) {
      const row = v.record.loss[Math.min(s, v.record.loss.length - 1)];
      writer?.scalar(`val/loss_step_${s}`, row.reduce((p, q) => p + q, 0) / row.length, b);
    }
    if (writer && exp.histogramEvery > 0) histogramStats(writer, v.record, b);
    log(`${rv.label} seed ${metaSeed}: batch ${b}/${total} val ${v.score.toFixed(3)} (best ${st.bestValLoss.toFixed(3)}) ${seconds.toFixed(1)}s/batch`);
  };
  try {
    // a warm start is a candidate too: the kept optimizer is never worse on validation than its start
    if (train.warmStart !== null && train.evalEvery > 0 && st.batchesDone === 0) validateAndLog(0);
    while (st.batchesDone < total) {
      if (opts.stopAfterBatches !== undefined && ran >= opts.stopAfterBatches) break;
      const r = trainBatch(st, rv.variant, train, task);
      st = r.state;
      ran++;
      if (r.windows.length > 0 && r.windows.every((w) => w.skipped)) {
        st = rollbackToBest(st);
        log(`${rv.label} seed ${metaSeed}: batch ${st.batchesDone} diverged from its first window; back to the best validated meta-parameters`);
      }
      trajectories += Math.min(train.batch, train.trajectories);
      for (const w of r.windows) {
        const step = w.batch * windowsPerBatch + w.window;
        writer?.scalar('meta/window_loss', w.metaLoss, step);
        for (const [g, n] of Object.entries(w.gradNorms)) writer?.scalar(`meta/grad_norm_${g}`, n, step);
        writer?.scalar('train/loss_window_start', w.meanLoss[0], step);
      }
      const b = st.batchesDone;
      if (train.evalEvery > 0 && (b % train.evalEvery === 0 || b === total)) validateAndLog(r.seconds);
      if (exp.checkpointEvery > 0 && b % exp.checkpointEvery === 0 && b < total) saveCheckpoint(dir, st, ckptConfig);
    }
    const finished = st.batchesDone >= total;
    saveCheckpoint(dir, st, ckptConfig);
    const seconds = (performance.now() - t0) / 1000;
    const src = st.bestMeta ?? st.meta;
    const meta: Params = {};
    for (const [k, p] of Object.entries(src)) meta[k] = tf.clone(p);
    return { label: rv.label, metaSeed, meta, seconds, trajectories, finished };
  } finally {
    disposeTrainState(st);
    writer?.close();
  }
}

/** Meta-parameters to evaluate, read from checkpoints (best if validated, else last). */
export function loadTrained(rv: ResolvedVariant, exp: MetaExperiment, metaSeed: number, root = exp.checkpointDir): Params {
  const task = taskSpec(exp);
  const dir = checkpointDirOf(root, rv.label, metaSeed);
  const { state } = loadCheckpoint(dir, { variant: rv.variant, train: seeded(rv, metaSeed), task });
  const keep = state.bestMeta ?? state.meta;
  const other = keep === state.meta ? state.bestMeta : state.meta;
  tf.dispose([...Object.values(state.adam.m), ...Object.values(state.adam.v), ...(other ? Object.values(other) : [])]);
  return keep;
}

/** Held-out evaluation of every variant (GD once; learned ones once per meta-seed) on the same problems. */
export function evaluateAll(
  resolved: readonly ResolvedVariant[],
  metas: ReadonlyMap<string, Params>,
  exp: MetaExperiment,
  log: (l: string) => void = () => {},
): EvalResults {
  const task = taskSpec(exp);
  const ns = Array.from({ length: exp.heldout.trajectories }, (_, i) => i);
  const variants: Record<string, VariantResult> = {};
  for (const rv of resolved) {
    const seeds: (number | null)[] = isLearned(rv.variant) ? exp.metaSeeds : [null];
    const res: VariantResult = { loss: [], gradNormSq: [], time: [], metaSeed: [] };
    for (const s of seeds) {
      const meta = s === null ? {} : metas.get(`${rv.label}#${s}`);
      if (!meta) throw new Error(`no trained meta-parameters for ${rv.label} (meta-seed ${s})`);
      const rec = evaluate(meta, rv.variant, task, exp.seed, 'heldout', ns, exp.heldout.steps);
      // records are [step][problem]; results are [run][step]
      for (let b = 0; b < ns.length; b++) {
        res.loss.push(rec.loss.map((row) => row[b]));
        res.gradNormSq.push(rec.gradNormSq.map((row) => row[b]));
        res.time.push(rec.time);
        res.metaSeed.push(s);
      }
    }
    variants[rv.label] = res;
    log(`evaluated ${rv.label} on ${res.loss.length} held-out runs`);
  }
  return {
    variants,
    heldout: { seed: exp.seed, trajectories: exp.heldout.trajectories, steps: exp.heldout.steps, seedScheme: exp.task.seedScheme },
  };
}

/** TensorBoard: the held-out curves (mean over runs) of each variant, x = inner step. */
export function logHeldout(exp: MetaExperiment, r: EvalResults): void {
  for (const [label, v] of Object.entries(r.variants)) {
    const w = createSummaryWriter(path.join(exp.logdir, slug(label), 'heldout'));
    const steps = v.loss[0].length;
    for (let s = 0; s < steps; s++) {
      const col = v.loss.map((row) => row[s]);
      w.scalar('heldout/loss', col.reduce((a, b) => a + b, 0) / col.length, s);
      if (s < v.gradNormSq[0].length) {
        const g = v.gradNormSq.map((row) => row[s]);
        w.scalar('heldout/grad_norm_sq', g.reduce((a, b) => a + b, 0) / g.length, s);
      }
    }
    w.close();
  }
}
