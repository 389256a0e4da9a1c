// The transfer study: meta-train the size-agnostic coordinate-wise LSTM update, with and without
// the learned teleport, on a mix of regression tasks, then evaluate on held-out task families the
// optimizer never saw (other widths, depths, datasets) against GD, momentum and Adam whose
// learning rates are tuned per family on the validation split.
//
// Meta-training is truncated backprop over windows of `unroll` inner steps (the meta-loss of a
// window is the mean over its steps and problems of log loss), one Adam per module, gradients
// clipped by global norm; a window with a non-finite loss ends its trajectory without an update.
//
// Resume: every tuned baseline, training run (its meta-parameters) and evaluation writes its
// JSON when done; a rerun skips what exists (a run cut off mid-training starts again), so
// evaluation tasks can be added to a finished study.
import fs from 'node:fs';
import path from 'node:path';
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { arrayOf, decodeOrThrow, NonEmptyString, optional, NonNegativeNumber, PositiveInt, PositiveNumber, strict, withDefaults } from '../config/codec.js';
import { OutDir, Seed } from '../config/common.js';
import { writeJsonAtomic } from '../logging/atomic.js';
import { optimizer as handOptimizer } from '../optim/hand.js';
import { disposeState, type OptimizerState } from '../optim/state.js';
import type { Optimizer } from '../optim/types.js';
import { stream } from '../rng/index.js';
import { TaskConfig, taskFamily } from '../tasks/registry.js';
import type { Task, TaskFamily } from '../tasks/task.js';
import { markdownTable } from '../optim-experiments/report.js';
import { CoordinatewiseConfig, coordinatewise } from './learned/coordinatewise.js';
import { disposeLearnedState, type LearnedOptimizer, type LearnedState } from './learned/learned.js';
import { LearnedTeleportConfig, withLearnedTeleport } from './learned/teleport.js';
import { disposeMeta, type MetaParams } from './params.js';

const LabelledTask = strict(
  {
    label: NonEmptyString,
    task: TaskConfig,
    /** Held-out (and validation) problems for this task, if not eval.heldoutTrajectories / valTrajectories. */
    trajectories: optional(PositiveInt),
  },
  'LabelledTask',
);

export const TransferStudyConfig = withDefaults(
  strict(
    {
      seed: Seed,
      /** Units, summary.md and results.json. */
      out: OutDir,
      /** Trained meta-parameters (kept out of the repository). */
      checkpointDir: OutDir,
      metaSeeds: arrayOf(Seed, { min: 1, name: 'metaSeeds' }),
      train: strict({
        tasks: arrayOf(TaskConfig, { min: 1, name: 'train.tasks' }),
        /** Training trajectories (each on a task drawn from the mix). */
        trajectories: PositiveInt,
        batch: PositiveInt,
        trajectoryLength: PositiveInt,
        unroll: PositiveInt,
        lrUpdate: PositiveNumber,
        lrTele: PositiveNumber,
        /** Global-norm clip of the meta-gradient (0: none). */
        clip: NonNegativeNumber,
      }),
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
    train: { trajectories: 64, batch: 8, trajectoryLength: 100, unroll: 10, lrUpdate: 3e-3, lrTele: 1e-3, clip: 1 },
    update: {},
    tele: {},
    eval: { valTrajectories: 8, heldoutTrajectories: 16, steps: 100, tableSteps: [10, 30, 100] },
  },
);
export type TransferStudyConfig = t.TypeOf<typeof TransferStudyConfig>;

export type Variant = 'LSTM(coord)' | 'LSTM(coord)+tele';
export const VARIANTS: readonly Variant[] = ['LSTM(coord)', 'LSTM(coord)+tele'];

export function learnedOf(v: Variant, c: TransferStudyConfig): LearnedOptimizer {
  const inner = coordinatewise(c.update) as unknown as LearnedOptimizer;
  return v === 'LSTM(coord)' ? inner : (withLearnedTeleport(inner, c.tele) as unknown as LearnedOptimizer);
}

// ---------------------------------------------------------------------------------------------
// Running an optimizer (no tape).

/** Loss curve of one run: mean loss over the problems before each step and after the last ([steps + 1]). */
export interface Curve {
  meanLoss: number[];
  /** Mean over problems of log loss, same steps. */
  meanLogLoss: number[];
  /** Problems whose loss became non-finite (they count as +inf from then on). */
  diverged: number;
}

/** Run `opt` for `steps` steps on every problem of `task`; learned optimizers step inside a tidy. */
export function runCurve<S>(task: Task, opt: Optimizer<S>, steps: number, disposeS: (s: S) => void): Curve {
  let params = task.init();
  let state = opt.init(params);
  const B = task.size;
  const dead = new Array<boolean>(B).fill(false);
  const meanLoss: number[] = [];
  const meanLogLoss: number[] = [];
  const record = (loss: Float32Array | Int32Array | Uint8Array) => {
    let s = 0;
    let ls = 0;
    for (let b = 0; b < B; b++) {
      if (!Number.isFinite(loss[b])) dead[b] = true;
      s += dead[b] ? Infinity : loss[b];
      ls += dead[b] ? Infinity : Math.log(Math.max(loss[b], 1e-30));
    }
    meanLoss.push(s / B);
    meanLogLoss.push(ls / B);
  };
  try {
    for (let i = 0; i < steps; i++) {
      // The returned container holds every tensor of the new state (tidy keeps what it finds in it).
      const out = tf.tidy(() => {
        const { loss, grads } = task.lossAndGrads(params, i);
        const r = opt.step(params, grads, state);
        const st = r.state as unknown as LearnedState;
        const keep = st.tensors ? [...st.tensors, ...Object.values(st.stats ?? {})] : [];
        return { loss, params: r.params, state: r.state, keep } as unknown as tf.TensorContainer;
      }) as unknown as { loss: tf.Tensor1D; params: tf.Tensor[]; state: S };
      record(out.loss.dataSync());
      out.loss.dispose();
      tf.dispose(params);
      disposeS(state);
      params = out.params;
      state = out.state;
      if (dead.every((d) => d)) break;
    }
    if (meanLoss.length === steps) {
      const l = tf.tidy(() => task.loss(params, steps));
      record(l.dataSync());
      l.dispose();
    }
  } catch (e) {
    // A singular group element (a diverged trajectory) ends the run: the rest counts as diverged.
    if (!/singular/i.test((e as Error).message)) throw e;
    dead.fill(true);
  }
  while (meanLoss.length < steps + 1) record(new Float32Array(B).fill(Infinity));
  tf.dispose(params);
  disposeS(state);
  return { meanLoss, meanLogLoss, diverged: dead.filter((d) => d).length };
}

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
  return { val: n ?? c.eval.valTrajectories, heldout: n ?? c.eval.heldoutTrajectories };
};

export function tuneBaseline(name: HandName, lrs: readonly number[], family: TaskFamily, label: string, c: TransferStudyConfig): BaselineResult {
  const n = countsOf(c, label);
  const run = (lr: number, split: 'val' | 'heldout', n: number) => {
    const task = family.sample(c.seed, split, ids(n));
    try {
      return runCurve(task, handOptimizer({ name, lr }), c.eval.steps, (s: OptimizerState) => disposeState(s));
    } finally {
      task.dispose();
    }
  };
  const grid = lrs.map((lr) => ({ lr, score: score(run(lr, 'val', n.val)) }));
  const best = grid.reduce((a, b) => (b.score < a.score ? b : a));
  return { optimizer: name, task: label, lr: best.lr, grid, heldout: run(best.lr, 'heldout', n.heldout) };
}

export function evaluateLearned(lo: LearnedOptimizer, meta: MetaParams, family: TaskFamily, label: string, c: TransferStudyConfig): Curve {
  const task = family.sample(c.seed, 'heldout', ids(countsOf(c, label).heldout));
  try {
    return runCurve(task, lo.optimizer(meta, task), c.eval.steps, (s) => disposeLearnedState(s));
  } finally {
    task.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Meta-training: truncated backprop through windows of the inner trajectory.

export interface TrainLog {
  /** Mean meta-loss (mean log loss) of each trajectory's windows, in order. */
  metaLoss: number[];
  /** Windows skipped for a non-finite loss. */
  skipped: number;
  seconds: number;
}

function globalNorm(gs: readonly tf.Tensor[]): number {
  return tf.tidy(() => Math.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
}

export function metaTrain(lo: LearnedOptimizer, c: TransferStudyConfig, metaSeed: number, onTrajectory?: (i: number, metaLoss: number) => void): { meta: MetaParams; log: TrainLog } {
  const t0 = performance.now();
  const families = c.train.tasks.map((tc) => taskFamily(tc));
  const probe = families[0].sample(c.seed, 'train', [0]);
  let meta = lo.init(stream(c.seed, 'transfer', metaSeed, 'init'), probe);
  probe.dispose();
  const names = Object.entries(meta).flatMap(([m, ps]) => Object.keys(ps).sort().map((k) => [m, k] as const));
  const lrOf = (m: string) => (m === 'tele' ? c.train.lrTele : c.train.lrUpdate);
  const adams = Object.fromEntries(Object.keys(meta).map((m) => [m, handOptimizer({ name: 'adam', lr: lrOf(m) })]));
  let adamStates = Object.fromEntries(Object.keys(meta).map((m) => [m, adams[m].init(Object.keys(meta[m]).sort().map((k) => meta[m][k]))]));
  const rebuild = (ts: readonly tf.Tensor[]): MetaParams => {
    const out: MetaParams = {};
    names.forEach(([m, k], i) => ((out[m] ??= {})[k] = ts[i]));
    return out;
  };
  const order = stream(c.seed, 'transfer', metaSeed, 'order');
  const log: TrainLog = { metaLoss: [], skipped: 0, seconds: 0 };
  const windows = Math.ceil(c.train.trajectoryLength / c.train.unroll);
  for (let traj = 0; traj < c.train.trajectories; traj++) {
    const fi = order.int(families.length);
    const task = families[fi].sample(c.seed + 1000 * metaSeed, 'train', ids(c.train.batch, traj * c.train.batch));
    let params = task.init();
    let state: LearnedState = lo.optimizer(meta, task).init(params);
    let sum = 0;
    let done = 0;
    for (let w = 0; w < windows; w++) {
      const start = w * c.train.unroll;
      const len = Math.min(c.train.unroll, c.train.trajectoryLength - start);
      let next: { params: tf.Tensor[]; state: LearnedState } | null = null;
      const flat = names.map(([m, k]) => meta[m][k]);
      let value: number;
      let grads: tf.Tensor[];
      try {
        const r = tf.valueAndGrads((...ts: tf.Tensor[]) => {
          const opt = lo.optimizer(rebuild(ts), task);
          let p = params;
          let s = state;
          let total: tf.Tensor = tf.scalar(0);
          for (let i = 0; i < len; i++) {
            const { grads: g } = task.lossAndGrads(p, start + i);
            ({ params: p, state: s } = opt.step(p, g, s));
            const l = i + 1 < len ? task.lossAndGrads(p, start + i + 1).loss : task.loss(p, start + len);
            total = tf.add(total, tf.mean(tf.log(tf.maximum(l, 1e-30))));
          }
          next = { params: p.map((x) => tf.keep(x)), state: s };
          for (const x of [...s.tensors, ...Object.values(s.stats ?? {})]) if (x) tf.keep(x);
          return tf.div(total, len) as tf.Scalar;
        })(flat);
        value = r.value.dataSync()[0];
        r.value.dispose();
        grads = r.grads;
      } catch (e) {
        if (!/singular/i.test((e as Error).message)) throw e;
        value = NaN;
        grads = [];
      }
      const finite = Number.isFinite(value) && grads.every((g) => tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0] === 1));
      const nx = next as { params: tf.Tensor[]; state: LearnedState } | null;
      if (!finite) {
        log.skipped++;
        tf.dispose(grads);
        if (nx) {
          tf.dispose(nx.params);
          disposeLearnedState(nx.state);
        }
        break;
      }
      sum += value;
      done++;
      const norm = globalNorm(grads);
      const scale = c.train.clip > 0 && norm > c.train.clip ? c.train.clip / norm : 1;
      const scaled = grads.map((g) => (scale === 1 ? g : tf.mul(g, scale)));
      const newMeta: MetaParams = {};
      const newStates: typeof adamStates = {};
      for (const m of Object.keys(meta)) {
        const keys = names.filter(([mm]) => mm === m).map(([, k]) => k);
        const idx = keys.map((k) => names.findIndex(([mm, kk]) => mm === m && kk === k));
        const r = adams[m].step(keys.map((k) => meta[m][k]), idx.map((i) => scaled[i]), adamStates[m]);
        newMeta[m] = Object.fromEntries(keys.map((k, j) => [k, r.params[j]]));
        newStates[m] = r.state;
        disposeState(adamStates[m]);
      }
      tf.dispose([...grads, ...scaled]);
      disposeMeta(meta);
      meta = newMeta;
      adamStates = newStates;
      tf.dispose(params);
      disposeLearnedState(state);
      params = nx!.params;
      state = nx!.state;
    }
    tf.dispose(params);
    disposeLearnedState(state);
    task.dispose();
    const ml = done > 0 ? sum / done : NaN;
    log.metaLoss.push(ml);
    onTrajectory?.(traj, ml);
  }
  for (const s of Object.values(adamStates)) disposeState(s);
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
export function runTransferStudy(
  input: unknown,
  log: (s: string) => void = () => {},
): { baselines: BaselineResult[]; learned: LearnedResult[]; summary: string } {
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
        const r = metaTrain(lo, c, metaSeed, (i, ml) => {
          if (i % 4 === 3) log(`${variant} seed ${metaSeed}: trajectory ${i + 1}/${c.train.trajectories}, meta-loss ${ml.toFixed(3)}`);
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
