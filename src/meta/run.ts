// The learning-to-teleport experiment end to end: meta-train every learned variant (once per
// meta-seed) with TensorBoard logs, periodic validation and resumable checkpoints, then run
// all variants and GD on the same held-out trajectories and report.
import path from 'node:path';
import { removeAtomic, sweepTrash } from '../run/atomic.js';
import { createSummaryWriter, type SummaryWriter } from '../logging/tensorboard.js';
import { buildRunParts, entryRunSpec, type RunSpec } from './build.js';
import { backendChange } from '../backend/resume-check.js';
import { CheckpointError, hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointConfig, type LogMark } from './checkpoint.js';
import { evalTasksOf, isBaseline, isTrained, type EvalTask, type BaselineEntry, type LearnedEntry, type MetaExperiment, type ResolvedEntry } from './config.js';
import { baselineLrs, makeBaseline } from './baselines.js';
import { makeLearned } from './learned/registry.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { taskFamily } from '../tasks/registry.js';
import { cloneMeta, disposeMeta, type MetaParams } from './params.js';
import type { EvalResults, MetaResults, VariantResult } from './report.js';
import { localShards, type ShardPool } from './shards.js';
import {
  disposeTrainState,
  evaluate,
  initTrainState,
  initialMeta,
  totalBatches,
  trainBatch,
  rollbackToBest,
  validate,
  validationScore,
  type MetaTrainState,
  type TrainConfig,
  type TrajectoryRecord,
  type WindowLog,
} from './train.js';
import { workerLine, workerStats } from './worker-stats.js';
import { lockDir } from '../run/dir-lock.js';
import { Interrupted, yieldToEventLoop, type StopFlag } from './interrupt.js';
import { checkpointDirOf, heldoutLogDirOf, unitLogDirOf } from './paths.js';
import { slug } from '../run/slug.js';
import { openUnitLogs, type UnitLogs } from './unit-logs.js';
import { progress, type Progress, type ProgressMode } from '../logging/progress.js';

export interface TrainRunOptions {
  /** Root of an earlier run's checkpoints: continue each variant/seed from its latest checkpoint. */
  resume?: string;
  /** Stop after this many batches in this process (tests; simulates a kill). */
  stopAfterBatches?: number;
  log?: (line: string) => void;
  /** Write TensorBoard events (default true). */
  tensorboard?: boolean;
  /** Trained meta-parameters of the variant named by `train.warmStart` (same meta-seed). */
  warmFrom?: MetaParams;
  /**
   * Where the shards' gradient estimates are computed (default: all in this process). Given the
   * run's spec, a pool runs its parts wherever it likes: worker threads, other machines.
   */
  pool?: (spec: RunSpec, train: TrainConfig) => ShardPool | Promise<ShardPool>;
  /** Shards per batch (default 1): the unit of work a pool spreads; results do not depend on it beyond float rounding. */
  shards?: number;
  /** Polled after every batch: when set, checkpoint, flush the logs and throw `Interrupted`. */
  stop?: StopFlag;
  /** Keep the whole training state in the finished run's checkpoint (default: only the kept parameters). */
  fullFinalCheckpoint?: boolean;
  /** A progress bar over the unit's batches (with ETA), labelled, e.g. "unit 2/6 LSTM(update) seed 1"; none by default. */
  progress?: { label: string; mode: ProgressMode };
}

const seeded = (rv: LearnedEntry, metaSeed: number) => ({ ...rv.train, seed: rv.train.seed + metaSeed * 1000003 });

export interface TrainedVariant {
  label: string;
  metaSeed: number;
  meta: MetaParams;
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

export const runSpec = (rv: LearnedEntry, exp: MetaExperiment, train = rv.train): RunSpec => entryRunSpec(exp.task, { ...rv, train });

/** Meta-train one learned variant for one meta-seed (resuming when asked). */
export async function trainVariant(rv: LearnedEntry, exp: MetaExperiment, metaSeed: number, opts: TrainRunOptions = {}): Promise<TrainedVariant> {
  const log = opts.log ?? (() => {});
  const task = exp.task;
  const train = seeded(rv, metaSeed);
  const spec = runSpec(rv, exp, train);
  const parts = buildRunParts(spec);
  const ckptConfig = checkpointConfigOf(rv, train, task);
  const dir = checkpointDirOf(exp.checkpointDir, rv.label, metaSeed);
  const who = `${rv.label} seed ${metaSeed}`;
  // two processes never write one checkpoint directory (a clear error names the holder)
  const lock = lockDir(dir);
  let st: MetaTrainState;
  let logMarks: LogMark[] | null = null;
  let compacted = false;
  try {
    if (opts.resume) {
      const from = checkpointDirOf(opts.resume, rv.label, metaSeed);
      if (!hasCheckpoint(from)) throw new CheckpointError(from, 'nothing to resume (no checkpoint)');
      const ck = loadCheckpoint(from, ckptConfig);
      for (const why of ck.skipped) log(`${who}: skipped a damaged checkpoint: ${why}`);
      // a unit may move between machines by design (a worker pool), so this is reported, not refused
      const moved = backendChange(ck.backend);
      if (moved !== undefined) log(`${who}: resuming on another backend: ${moved}`);
      st = ck.state;
      logMarks = ck.logs;
      compacted = ck.final;
      log(`${who}: resumed at batch ${st.batchesDone}/${totalBatches(train)} from ${path.basename(ck.from)}`);
    } else st = initTrainState(parts.learned, parts.family, train, opts.warmFrom);
  } catch (e) {
    lock.release();
    throw e;
  }
  // from here on a failure (a pool that does not start, logs that cannot open) still frees the
  // state and releases the lock
  let poolRef: ShardPool | undefined;
  let logsRef: UnitLogs | undefined;
  let barRef: Progress | undefined;
  try {
    const pool = (poolRef = opts.pool ? await opts.pool(spec, train) : localShards(parts));
    const total = totalBatches(train);
    barRef = opts.progress ? progress(opts.progress.label, total, { mode: opts.progress.mode, start: st.batchesDone }) : undefined;
    const logs: UnitLogs = (logsRef = openUnitLogs(unitLogDirOf(exp.logdir, rv.label, metaSeed), logMarks, opts.tensorboard !== false, (l) => log(`${who}: ${l}`)));
    const writer = logs.tb;
    if (logMarks === null) writer?.text('config', '```json\n' + JSON.stringify(ckptConfig, null, 2) + '\n```', 0);
    const t0 = performance.now();
    let trajectories = 0;
    let ran = 0;
    const windowsPerBatch = Math.ceil(train.trajectoryLength / train.unroll);
    // windows since the last validation line, for its per-worker figures
    const sinceValidation: WindowLog[] = [];
    const validateAndLog = (seconds: number) => {
      const b = st.batchesDone;
      const v = validate(st, parts.learned, parts.family, train);
      st = v.state;
      writer?.scalar('val/score_mean_log_loss', v.score, b);
      const steps: Record<string, number> = {};
      for (const s of exp.tableSteps) {
        const row = v.record.loss[Math.min(s, v.record.loss.length - 1)];
        steps[s] = row.reduce((p, q) => p + q, 0) / row.length;
        writer?.scalar(`val/loss_step_${s}`, steps[s], b);
      }
      if (writer && exp.histogramEvery > 0) histogramStats(writer, v.record, b);
      logs.jsonl.write({ batch: b, val: { score: v.score, best: st.bestValLoss, lossAtStep: steps } });
      logs.commit(); // a validation point survives a crash (a resume cuts back to its checkpoint and redoes it)
      const note = Number.isFinite(v.score) ? '' : ' (a validation trajectory diverged: its loss overflowed float32; this meta-parameter state is never kept as best)';
      const workers = workerStats(sinceValidation.splice(0), train.trajectoryLength);
      const perWorker = workers.size > 0 ? `; workers: ${workerLine(workers)}` : '';
      log(`${who}: batch ${b}/${total} val ${v.score.toFixed(3)}${note} (best ${st.bestValLoss.toFixed(3)}) ${seconds.toFixed(1)}s/batch${perWorker}`);
      // A batch that diverged part-way can leave meta-parameters whose validation trajectories
      // overflow: training on from there rarely recovers, so go back to the best validated ones.
      if (!Number.isFinite(v.score) && st.bestMeta && train.divergedValidation !== 'continue') {
        st = rollbackToBest(st, train.rollbackLrFactor);
        log(`${who}: validation diverged at batch ${b}: back to the best validated meta-parameters (outer optimizer state reset)`);
      }
    };
    let savedAt = compacted ? st.batchesDone : -1;
    const checkpoint = (final = false) => {
      if (savedAt === st.batchesDone) return;
      saveCheckpoint(dir, st, ckptConfig, { logs: logs.commit(), final: final && !opts.fullFinalCheckpoint });
      savedAt = st.batchesDone;
    };
    let interrupted: NodeJS.Signals | null = null;
    // a warm start is a candidate too: the kept optimizer is never worse on validation than its start
    if (train.warmStart !== null && train.evalEvery > 0 && st.batchesDone === 0) validateAndLog(0);
    while (st.batchesDone < total) {
      if (opts.stopAfterBatches !== undefined && ran >= opts.stopAfterBatches) break;
      const r = await trainBatch(st, train, pool, opts.shards ?? 1);
      st = r.state;
      ran++;
      if (r.windows.length > 0 && r.windows.every((w) => w.skipped)) {
        const to = st.bestMeta !== null ? 'the best validated meta-parameters' : 'the initial meta-parameters (none validated yet)';
        st = rollbackToBest(st, train.rollbackLrFactor, () => initialMeta(parts.learned, parts.family, train, opts.warmFrom));
        const lr = (train.rollbackLrFactor ?? 1) !== 1 ? ` (meta learning rates now x${+st.lrScale.toPrecision(3)})` : '';
        log(`${who}: batch ${st.batchesDone} diverged from its first window; back to ${to}${lr}`);
      }
      trajectories += Math.min(train.batch, train.trajectories);
      const done = r.windows.filter((w) => !w.skipped);
      barRef?.tick(1, done.length > 0 ? { metaLoss: done.reduce((a, w) => a + w.metaLoss, 0) / done.length } : {});
      for (const w of r.windows) {
        const step = w.batch * windowsPerBatch + w.window;
        writer?.scalar('meta/window_loss', w.metaLoss, step);
        for (const [g, n] of Object.entries(w.gradNorms)) writer?.scalar(`meta/grad_norm_${g}`, n, step);
        writer?.scalar('train/loss_window_start', w.meanLoss[0], step);
        for (const [worker, s] of workerStats([w], train.trajectoryLength)) {
          writer?.scalar(`workers/${slug(worker)}/trajectories_per_second`, s.trajectoriesPerSecond, step);
          if (s.maxStaleness !== undefined) writer?.scalar(`workers/${slug(worker)}/staleness`, s.maxStaleness, step);
        }
      }
      // only a run that validates prints progress lines (without, the list would grow all run)
      if (train.evalEvery > 0) sinceValidation.push(...r.windows);
      const workers = workerStats(r.windows, train.trajectoryLength);
      logs.jsonl.write({
        batch: st.batchesDone,
        seconds: r.seconds,
        windows: r.windows.map((w) => ({ window: w.window, metaLoss: w.metaLoss, skipped: w.skipped })),
        ...(workers.size > 0 ? { workers: Object.fromEntries(workers) } : {}),
      });
      const b = st.batchesDone;
      if (train.evalEvery > 0 && (b % train.evalEvery === 0 || b === total)) validateAndLog(r.seconds);
      if (exp.checkpointEvery > 0 && b % exp.checkpointEvery === 0 && b < total) checkpoint();
      await yieldToEventLoop();
      interrupted = opts.stop?.requested ?? null;
      if (interrupted) break;
    }
    const finished = st.batchesDone >= total;
    checkpoint(finished);
    if (interrupted) throw new Interrupted(interrupted, `in ${who} at batch ${st.batchesDone}/${total} (checkpointed)`);
    const seconds = (performance.now() - t0) / 1000;
    const meta = cloneMeta(st.bestMeta ?? st.meta);
    return { label: rv.label, metaSeed, meta, seconds, trajectories, finished };
  } finally {
    barRef?.stop();
    disposeTrainState(st);
    logsRef?.close();
    await poolRef?.close();
    lock.release();
  }
}

/** What a resume must find unchanged in a unit's checkpoint: the learned part, its training and the task. */
const checkpointConfigOf = (rv: LearnedEntry, train: TrainConfig, task: MetaExperiment['task']): CheckpointConfig => ({ learned: rv.learned, estimator: rv.estimator, train, task });

/** Meta-parameters to evaluate, read from checkpoints (best if validated, else last). */
export function loadTrained(rv: LearnedEntry, exp: MetaExperiment, metaSeed: number, root = exp.checkpointDir): MetaParams {
  const dir = checkpointDirOf(root, rv.label, metaSeed);
  const { state } = loadCheckpoint(dir, checkpointConfigOf(rv, seeded(rv, metaSeed), exp.task));
  const keep = state.bestMeta ?? state.meta;
  const other = keep === state.meta ? state.bestMeta : state.meta;
  disposeMeta(other);
  state.bestMeta = null;
  state.meta = keep;
  disposeTrainState({ ...state, meta: {}, bestMeta: null });
  return keep;
}

/**
 * A baseline's rate on an evaluation task: its one `lr`, or of a list the one whose validation
 * problems score best (mean log loss over `exp.baselineValidation.trajectories` problems of the
 * 'val' split and `heldout.steps` steps), chosen without any held-out problem.
 */
export function tuneBaseline(rv: BaselineEntry, exp: MetaExperiment, on: EvalTask = evalTasksOf(exp)[0]!): { lr: number; grid?: { lr: number; score: number }[] } {
  const lrs = baselineLrs(rv.baseline);
  if (lrs.length === 1) return { lr: lrs[0]! };
  const family = taskFamily(on.task);
  const ns = Array.from({ length: exp.baselineValidation.trajectories }, (_, i) => i);
  const grid = lrs.map((lr) => ({ lr, score: validationScore(evaluate(makeBaseline(rv.baseline, lr), {}, family, exp.seed, 'val', ns, exp.heldout.steps)) }));
  return { lr: grid.reduce((a, b) => (b.score < a.score ? b : a)).lr, grid };
}

/**
 * Held-out evaluation of every entry (baselines once, learned ones once per meta-seed) on the
 * same problems of one evaluation task (default: the experiment's own task).
 */
export function evaluateAll(
  resolved: readonly ResolvedEntry[],
  metas: ReadonlyMap<string, MetaParams>,
  exp: MetaExperiment,
  log: (l: string) => void = () => {},
  on: EvalTask = evalTasksOf(exp)[0]!,
): EvalResults {
  const ns = Array.from({ length: on.trajectories }, (_, i) => i);
  const family = taskFamily(on.task);
  const where = on.label === '' ? '' : ` on ${on.label}`;
  const variants: Record<string, VariantResult> = {};
  for (const rv of resolved) {
    const trained = isTrained(rv);
    const seeds: (number | null)[] = trained ? exp.metaSeeds : [null];
    const res: VariantResult = { loss: [], gradNormSq: [], time: [], metaSeed: [] };
    let learned: LearnedOptimizer;
    if (isBaseline(rv)) {
      const t = tuneBaseline(rv, exp, on);
      learned = makeBaseline(rv.baseline, t.lr);
      res.lr = t.lr;
      if (t.grid) {
        res.lrGrid = t.grid;
        log(`${rv.label}${where}: lr ${t.lr} (validation scores ${t.grid.map((g) => `${g.lr}: ${g.score.toFixed(3)}`).join(', ')})`);
      }
    } else learned = makeLearned(rv.learned);
    for (const s of seeds) {
      const meta = s === null ? {} : metas.get(`${rv.label}#${s}`);
      if (!meta) throw new Error(`no trained meta-parameters for ${rv.label} (meta-seed ${s})`);
      const rec = evaluate(learned, meta, family, exp.seed, 'heldout', ns, exp.heldout.steps);
      // records are [step][problem]; results are [run][step]
      for (let b = 0; b < ns.length; b++) {
        res.loss.push(rec.loss.map((row) => row[b]));
        res.gradNormSq.push(rec.gradNormSq.map((row) => row[b]));
        res.time.push(rec.time);
        res.metaSeed.push(s);
      }
    }
    variants[rv.label] = res;
    log(`evaluated ${rv.label}${where} on ${res.loss.length} held-out runs`);
  }
  const scheme = on.task.seedScheme;
  return {
    variants,
    heldout: { seed: exp.seed, trajectories: on.trajectories, steps: exp.heldout.steps, seedScheme: typeof scheme === 'string' ? scheme : 'stream' },
  };
}

/** Held-out evaluation on every evaluation task: one task's results, or per task of `evalTasks`. */
export function evaluateTasks(resolved: readonly ResolvedEntry[], metas: ReadonlyMap<string, MetaParams>, exp: MetaExperiment, log: (l: string) => void = () => {}): MetaResults {
  if (!exp.evalTasks) return evaluateAll(resolved, metas, exp, log);
  return { tasks: Object.fromEntries(evalTasksOf(exp).map((on) => [on.label, evaluateAll(resolved, metas, exp, log, on)])) };
}

/** TensorBoard: the held-out curves (mean over runs) of each variant, x = inner step; under the task's label when several. */
export function logHeldout(exp: MetaExperiment, r: EvalResults, task = ''): void {
  for (const [label, v] of Object.entries(r.variants)) {
    // derived from results.json: rewritten whole (a resumed run's report replaces the earlier one)
    const dir = heldoutLogDirOf(task === '' ? exp.logdir : path.join(exp.logdir, 'heldout-tasks', slug(task)), label);
    removeAtomic(dir);
    sweepTrash(path.dirname(dir));
    const w = createSummaryWriter(dir);
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
