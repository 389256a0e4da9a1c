// The transfer study: meta-train the size-agnostic coordinate-wise LSTM update, with and without
// the learned teleport, on a mix of regression tasks, then evaluate on held-out task families the
// optimizer never saw (other widths, depths, datasets) against GD, momentum and Adam whose
// learning rates are tuned per family on the validation split.
//
// Meta-training is the library's trainer (initTrainState / trainBatch: truncated backprop over
// windows of `unroll` steps, meta-loss the mean log loss, the learner's per-module Adam and
// clipping, cosine meta learning rate) on a mixture family: each batch of training problems
// comes from one member (lockstep needs one shape), picked by the batch's first problem id.
//
// Resume: every tuned baseline, training run (its meta-parameters) and evaluation writes its
// JSON when done; a rerun skips what exists (a run cut off mid-training starts again), so
// evaluation tasks can be added to a finished study.
import fs from 'node:fs';
import path from 'node:path';
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { arrayOf, decodeOrThrow, refineConfig, NonEmptyString, optional, PositiveInt, PositiveNumber, strict, withDefaults } from '../config/codec.js';
import { OutDir, Seed } from '../config/common.js';
import { outputsPreflight } from '../config/preflight.js';
import { registerConfig, registerPreflight } from '../config/registry.js';
import { writeJsonAtomic } from '../logging/atomic.js';
import { optimizer as handOptimizer } from '../optim/hand.js';
import type { Optimizer } from '../optim/types.js';
import { stream } from '../rng/index.js';
import { TaskConfig, taskFamily } from '../tasks/registry.js';
import type { TaskFamily } from '../tasks/task.js';
import { markdownTable } from '../optim-experiments/report.js';
import { CoordinatewiseConfig } from './learned/coordinatewise.js';
import { makeLearned } from './learned/registry.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { makeEstimator } from './estimators/registry.js';
import { localShards } from './shards.js';
import { asLearned } from './baselines.js';
import { disposeTrainState, evaluate, initTrainState, totalBatches, trainBatch, TrainShape, type TrainConfig, type TrajectoryRecord } from './train.js';
import { LearnedTeleportConfig } from './learned/teleport.js';
import { disposeMeta, type MetaParams } from './params.js';

const LabelledTask = strict(
  {
    label: NonEmptyString,
    task: TaskConfig,
    /** Held-out problems for this task, if not eval.heldoutTrajectories (fewer for costly tasks). */
    trajectories: optional(PositiveInt),
  },
  'LabelledTask',
);

/**
 * The trainer's fields a study sets (TrainCodec's own codecs, bounds and docs); the rest are fixed
 * by the study (one epoch over `trajectories` problems, each batch from one member of the mix;
 * log loss weighting; truncated backprop; no validation during training).
 */
const STUDY_TRAIN_FIELDS = ['trajectories', 'batch', 'trajectoryLength', 'unroll', 'metaLr', 'clip', 'lrSchedule', 'lrFloor'] as const;
type StudyTrainField = (typeof STUDY_TRAIN_FIELDS)[number];
const studyTrainProps = Object.fromEntries(STUDY_TRAIN_FIELDS.map((k) => [k, TrainShape.props[k]])) as Pick<typeof TrainShape.props, StudyTrainField>;

const TransferStudyBase = withDefaults(
  strict(
    {
      seed: Seed,
      /** Units, summary.md and results.json. */
      out: OutDir,
      /** Trained meta-parameters (kept out of the repository). */
      checkpointDir: OutDir,
      metaSeeds: arrayOf(Seed, { min: 1, name: 'metaSeeds' }),
      train: strict({ tasks: arrayOf(TaskConfig, { min: 1, name: 'train.tasks' }), ...studyTrainProps }),
      update: CoordinatewiseConfig,
      tele: LearnedTeleportConfig,
      eval: strict({
        tasks: arrayOf(LabelledTask, { min: 1, name: 'eval.tasks' }),
        valTrajectories: PositiveInt,
        heldoutTrajectories: PositiveInt,
        steps: PositiveInt,
        tableSteps: arrayOf(PositiveInt, { min: 1, name: 'eval.tableSteps' }),
      }),
      /** Learning-rate grids of the hand-designed baselines (tuned per eval task on 'val'). */
      baselines: strict({ sgd: arrayOf(PositiveNumber), momentum: arrayOf(PositiveNumber), adam: arrayOf(PositiveNumber) }),
    },
    'TransferStudy',
  ),
  {
    seed: 0,
    out: 'results/meta-transfer',
    checkpointDir: 'checkpoints/meta-transfer',
    metaSeeds: [0, 1, 2],
    train: { trajectories: 64, batch: 8, trajectoryLength: 100, unroll: 10, metaLr: { update: 3e-3, tele: 1e-3 }, clip: 1, lrSchedule: 'cosine', lrFloor: 0.1 },
    update: {},
    tele: {},
    eval: { valTrajectories: 8, heldoutTrajectories: 16, steps: 100, tableSteps: [10, 30, 100] },
  },
);
export type TransferStudyConfig = t.TypeOf<typeof TransferStudyBase>;
/** The study config; its table steps are within the evaluated steps (a step beyond would print NaN). */
export const TransferStudyConfig = refineConfig(TransferStudyBase, (c) =>
  c.eval.tableSteps.flatMap((s, i) => (s > c.eval.steps ? [{ path: `eval.tableSteps.${i}`, message: `${s} is beyond eval.steps ${c.eval.steps}` }] : [])),
);
registerConfig('transfer', TransferStudyConfig, 'symtele run transfer: learned optimizers meta-trained on regression, evaluated on unseen tasks');
registerPreflight(
  'transfer',
  outputsPreflight((c: TransferStudyConfig) => [
    { field: 'out', path: c.out, kind: 'dir' },
    { field: 'checkpointDir', path: c.checkpointDir, kind: 'dir' },
  ]),
);

export type Variant = 'LSTM(coord)' | 'LSTM(coord)+tele';
export const VARIANTS: readonly Variant[] = ['LSTM(coord)', 'LSTM(coord)+tele'];

export function learnedOf(v: Variant, c: TransferStudyConfig): LearnedOptimizer {
  return makeLearned(v === 'LSTM(coord)' ? { kind: 'coordinatewise', ...c.update } : { kind: 'coordinatewise+tele', inner: c.update, tele: c.tele });
}

// ---------------------------------------------------------------------------------------------
// Running an optimizer (no tape): the library's evaluate, for learned and hand-designed ones.

/** Loss curve of one run: mean over the problems before each step and after the last ([steps + 1]). */
export interface Curve {
  meanLoss: number[];
  /** Mean over problems of log loss, same steps. */
  meanLogLoss: number[];
  /** Problems whose loss became non-finite (they count as +inf from then on). */
  diverged: number;
}

/** Mean curves of a record ([steps + 1][B] losses); a problem stays diverged once its loss is not finite. */
export function curveOf(rec: TrajectoryRecord): Curve {
  const B = rec.loss[0].length;
  const dead = new Array<boolean>(B).fill(false);
  const meanLoss: number[] = [];
  const meanLogLoss: number[] = [];
  for (const row of rec.loss) {
    let s = 0;
    let ls = 0;
    for (let b = 0; b < B; b++) {
      if (!Number.isFinite(row[b])) dead[b] = true;
      s += dead[b] ? Infinity : row[b];
      ls += dead[b] ? Infinity : Math.log(Math.max(row[b], 1e-30));
    }
    meanLoss.push(s / B);
    meanLogLoss.push(ls / B);
  }
  return { meanLoss, meanLogLoss, diverged: dead.filter((d) => d).length };
}

/** A hand-designed optimizer seen as a LearnedOptimizer without meta-parameters (to share `evaluate`). */
const ids = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => offset + i);

/** Area under the mean-log-loss curve: the validation score (lower is better). */
export const score = (c: Curve): number => c.meanLogLoss.reduce((a, b) => a + b, 0) / c.meanLogLoss.length;

export type HandName = 'sgd' | 'momentum' | 'adam';

export interface BaselineResult {
  optimizer: HandName;
  task: string;
  lr: number;
  /** Validation score of every lr of the grid. */
  grid: { lr: number; score: number }[];
  heldout: Curve;
}

/** Validation and held-out problem counts of an eval task. */
export interface Counts {
  val: number;
  heldout: number;
}

const countsOf = (c: TransferStudyConfig, label: string): Counts => {
  const n = c.eval.tasks.find((e) => e.label === label)?.trajectories;
  return { val: c.eval.valTrajectories, heldout: n ?? c.eval.heldoutTrajectories };
};

export function tuneBaseline(name: HandName, lrs: readonly number[], family: TaskFamily, label: string, c: TransferStudyConfig): BaselineResult {
  const n = countsOf(c, label);
  const run = (lr: number, split: 'val' | 'heldout', k: number) =>
    curveOf(evaluate(asLearned(handOptimizer({ name, lr }) as Optimizer<unknown>), {}, family, c.seed, split, ids(k), c.eval.steps));
  const grid = lrs.map((lr) => ({ lr, score: score(run(lr, 'val', n.val)) }));
  const best = grid.reduce((a, b) => (b.score < a.score ? b : a));
  return { optimizer: name, task: label, lr: best.lr, grid, heldout: run(best.lr, 'heldout', n.heldout) };
}

export function evaluateLearned(lo: LearnedOptimizer, meta: MetaParams, family: TaskFamily, label: string, c: TransferStudyConfig): Curve {
  return curveOf(evaluate(lo, meta, family, c.seed, 'heldout', ids(countsOf(c, label).heldout), c.eval.steps));
}

// ---------------------------------------------------------------------------------------------
// Meta-training with the library's trainer.

/** One family over several: a batch of problems comes from the member picked by its first id. */
export function mixtureFamily(members: readonly TaskFamily[]): TaskFamily {
  if (members.length === 0) throw new Error('mixtureFamily: no member families');
  return {
    name: `mixture of ${members.map((m) => m.name).join('; ')}`,
    sample: (seed, split, ns) => members[stream(seed, 'mixture', split, ns[0]).int(members.length)].sample(seed, split, ns),
  };
}

export interface TrainLog {
  /** Mean meta-loss (mean log loss) of each batch's windows, in order. */
  metaLoss: number[];
  /** Windows skipped for a non-finite estimate. */
  skipped: number;
  seconds: number;
}

/** The trainer's config for one meta-seed (its problems and meta-init derive from the seed). */
export const trainConfigOf = (c: TransferStudyConfig, metaSeed: number): TrainConfig => ({
  ...(Object.fromEntries(STUDY_TRAIN_FIELDS.map((k) => [k, c.train[k]])) as Pick<TrainConfig, StudyTrainField>),
  seed: c.seed + metaSeed * 1000003,
  epochs: 1,
  lossWeighting: 'log',
  evalEvery: 0,
  valTrajectories: 1,
  valSteps: 1,
  warmStart: null,
});

export async function metaTrain(
  lo: LearnedOptimizer,
  c: TransferStudyConfig,
  metaSeed: number,
  onBatch?: (i: number, total: number, metaLoss: number) => void,
): Promise<{ meta: MetaParams; log: TrainLog }> {
  const t0 = performance.now();
  const tc = trainConfigOf(c, metaSeed);
  const family = mixtureFamily(c.train.tasks.map((task) => taskFamily(task)));
  const pool = localShards({ family, estimator: makeEstimator({ kind: 'tbptt' }, lo, tc.lossWeighting) });
  let st = initTrainState(lo, family, tc);
  const log: TrainLog = { metaLoss: [], skipped: 0, seconds: 0 };
  const total = totalBatches(tc);
  try {
    for (let b = 0; b < total; b++) {
      const r = await trainBatch(st, tc, pool);
      st = r.state;
      const done = r.windows.filter((w) => !w.skipped);
      const ml = done.length > 0 ? done.reduce((a, w) => a + w.metaLoss, 0) / done.length : NaN;
      log.metaLoss.push(ml);
      onBatch?.(b, total, ml);
    }
  } finally {
    await pool.close();
  }
  log.skipped = st.windowsSkipped;
  const meta = st.meta;
  disposeTrainState({ ...st, meta: {}, bestMeta: st.bestMeta === st.meta ? null : st.bestMeta });
  log.seconds = (performance.now() - t0) / 1000;
  return { meta, log };
}

// ---------------------------------------------------------------------------------------------
// The study: units with resume, then the table.

export interface LearnedResult {
  variant: Variant;
  metaSeed: number;
  train: TrainLog;
  /** Held-out curve per eval task label. */
  heldout: Record<string, Curve>;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9.]+/g, '_');

function cached<T>(file: string, compute: () => T): T {
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  const v = compute();
  writeJsonAtomic(file, v);
  return v;
}

/** Meta-parameters as JSON ({module: {name: {shape, data}}}), for evaluation on later tasks. */
function saveMeta(file: string, meta: MetaParams): void {
  const out: Record<string, Record<string, { shape: number[]; data: number[] }>> = {};
  for (const [m, ps] of Object.entries(meta)) {
    out[m] = {};
    for (const [k, v] of Object.entries(ps)) out[m][k] = { shape: v.shape, data: Array.from(v.dataSync()) };
  }
  writeJsonAtomic(file, out, { indent: 0 });
}

function loadMeta(file: string): MetaParams {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, { shape: number[]; data: number[] }>>;
  const out: MetaParams = {};
  for (const [m, ps] of Object.entries(raw)) {
    out[m] = {};
    for (const [k, v] of Object.entries(ps)) out[m][k] = tf.tensor(v.data, v.shape);
  }
  return out;
}

/**
 * Run the study (or its missing parts): `out` gets units/ (one JSON per tuned baseline, training
 * log and evaluation) and summary.md / results.json at the end, `checkpointDir` the trained
 * meta-parameters.
 */
export async function runTransferStudy(
  input: unknown,
  log: (s: string) => void = () => {},
): Promise<{ baselines: BaselineResult[]; learned: LearnedResult[]; summary: string }> {
  const c = decodeOrThrow(TransferStudyConfig, input, 'transfer study');
  const { out, checkpointDir: checkpoints } = c;
  const evalFamilies = c.eval.tasks.map((e) => ({ label: e.label, family: taskFamily(e.task) }));
  const units = path.join(out, 'units');
  const baselines: BaselineResult[] = [];
  for (const { label, family } of evalFamilies) {
    for (const name of ['sgd', 'momentum', 'adam'] as const) {
      baselines.push(
        cached(path.join(units, `baseline-${name}-${safe(label)}.json`), () => {
          const r = tuneBaseline(name, c.baselines[name], family, label, c);
          log(`baseline ${name} on ${label}: lr ${r.lr}, held-out final loss ${r.heldout.meanLoss.at(-1)}`);
          return r;
        }),
      );
    }
  }
  const learned: LearnedResult[] = [];
  for (const metaSeed of c.metaSeeds) {
    for (const variant of VARIANTS) {
      const lo = learnedOf(variant, c);
      const unit = `${safe(variant)}-seed${metaSeed}`;
      const ckpt = path.join(checkpoints, `${unit}.json`);
      const trainFile = path.join(units, `train-${unit}.json`);
      let train: TrainLog;
      if (fs.existsSync(trainFile) && fs.existsSync(ckpt)) train = JSON.parse(fs.readFileSync(trainFile, 'utf8')) as TrainLog;
      else {
        const r = await metaTrain(lo, c, metaSeed, (i, total, ml) => {
          if (i % 2 === 1 || i === total - 1) log(`${variant} seed ${metaSeed}: batch ${i + 1}/${total}, meta-loss ${ml.toFixed(3)}`);
        });
        saveMeta(ckpt, r.meta);
        disposeMeta(r.meta);
        train = r.log;
        writeJsonAtomic(trainFile, train);
        log(`${variant} seed ${metaSeed}: trained in ${train.seconds.toFixed(0)} s, ${train.skipped} windows skipped`);
      }
      let meta: MetaParams | null = null;
      const heldout: Record<string, Curve> = {};
      for (const { label, family } of evalFamilies) {
        heldout[label] = cached(path.join(units, `eval-${unit}-${safe(label)}.json`), () => {
          meta ??= loadMeta(ckpt);
          const r = evaluateLearned(lo, meta, family, label, c);
          log(`${variant} seed ${metaSeed} on ${label}: final loss ${r.meanLoss.at(-1)!.toPrecision(4)}, ${r.diverged} diverged`);
          return r;
        });
      }
      disposeMeta(meta);
      learned.push({ variant, metaSeed, train, heldout });
    }
  }
  const summary = transferTable(c, baselines, learned);
  fs.writeFileSync(path.join(out, 'summary.md'), summary + '\n');
  writeJsonAtomic(path.join(out, 'results.json'), { config: c, baselines, learned });
  return { baselines, learned, summary };
}

const fmt = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-2 ? x.toExponential(2) : x.toPrecision(3)) : 'diverged');

/** Held-out mean loss at the table steps: baselines (one run each), learned (mean ± sd over meta-seeds). */
export function transferTable(c: TransferStudyConfig, baselines: readonly BaselineResult[], learned: readonly LearnedResult[]): string {
  const header = ['task', 'optimizer', ...c.eval.tableSteps.map((s) => `step ${s}`), 'diverged'];
  const rows: string[][] = [];
  for (const { label } of c.eval.tasks) {
    const n = countsOf(c, label).heldout;
    for (const b of baselines.filter((x) => x.task === label)) {
      rows.push([label, `${b.optimizer} (lr ${b.lr})`, ...c.eval.tableSteps.map((s) => fmt(b.heldout.meanLoss[s])), `${b.heldout.diverged}/${n}`]);
    }
    for (const v of VARIANTS) {
      const runs = learned.filter((x) => x.variant === v).map((x) => x.heldout[label]);
      if (runs.length === 0) continue;
      const cell = (s: number) => {
        const xs = runs.map((r) => r.meanLoss[s]);
        if (!xs.every(Number.isFinite)) return `${xs.map(fmt).join(' / ')}`;
        const m = xs.reduce((a, b) => a + b, 0) / xs.length;
        const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1));
        return `${fmt(m)} ± ${fmt(sd)}`;
      };
      rows.push([label, `${v} (${runs.length} seeds)`, ...c.eval.tableSteps.map(cell), runs.map((r) => `${r.diverged}`).join('+') + `/${n}`]);
    }
  }
  return markdownTable(header, rows);
}
