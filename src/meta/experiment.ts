// The learning-to-teleport experiment as a library: meta-train every learned variant for every
// meta-seed, evaluate all on the same held-out trajectories, and write the table, JSON, plot
// and TensorBoard curves. The CLI (`symtele meta`, `npm start`) only parses flags and calls these.
import path from 'node:path';
import { isTrained, resolveOrThrow, warmStartOf, type LearnedEntry, type MetaExperiment } from './config.js';
import { trainVariant, evaluateTasks, logHeldout, loadTrained, type TrainRunOptions } from './run.js';
import { totalBatches } from './train.js';
import { lockDir, type DirLock } from '../run/dir-lock.js';
import { openStudy, type StartMode } from './study.js';
import { Interrupted, yieldToEventLoop } from './interrupt.js';
import { hasCheckpoint, logMarksOf } from './checkpoint.js';
import { repairUnitLogs } from './unit-logs.js';
import { checkpointDirOf, unitLogDirOf } from './paths.js';
import { unitPool } from '../distributed/jobs/unit-job.js';
import { redisUnitPool } from '../distributed/jobs/redis-units.js';
import { preflightMeta } from './preflight.js';
import { bestVsOthersTable, summaryTable, perSeedTable, plotResults, resultsByTask, writeResultsJson, type MetaResults } from './report.js';
import { slug } from '../run/slug.js';
import { disposeMeta, type MetaParams } from './params.js';
import { writeFileAtomic } from '../run/atomic.js';
import type { ProgressMode } from '../logging/progress.js';
import { evalLogdir, parseUnitKey, retrainUnit, sweepLeftovers, unitKey, withRetrainAdvice } from './run-dirs.js';

export interface ExperimentOptions extends Pick<TrainRunOptions, 'pool' | 'shards' | 'stop'> {
  /**
   * Units (learned variant x meta-seed) trained at once, each on its own worker thread
   * (default 1: one after the other in this thread). The results do not depend on it.
   */
  jobs?: number;
  /**
   * Units as jobs on a Redis queue (`<queue>-units`), trained by `symtele worker` processes on
   * any machine; this process queues them, waits, and evaluates (see jobs/redis-units.ts).
   */
  units?: { redis: string; queue: string };
  json?: string;
  /**
   * What to do with an earlier run in the config's checkpointDir: `new` (default) refuses one,
   * `resume` finishes it (skipping the units that are done), `fresh` removes it first.
   */
  start?: StartMode;
  /** `meta eval`: checkpoint roots searched in order for each unit (default: the config checkpointDir). */
  checkpoints?: readonly string[];
  /** Units (`<label>#<seed>`) whose checkpoints and logs are removed so that they train again from the start (with `resume`). */
  retrain?: readonly string[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** A progress bar per unit trained in this process, with ETA and "unit k/N" (default: none). */
  progress?: ProgressMode;
}


/** Write the tables, JSON, plots and TensorBoard curves of held-out results (a section per evaluation task when several). */
export async function report(exp: MetaExperiment, results: MetaResults, json: string | undefined, log: (l: string) => void): Promise<void> {
  const files: string[] = [];
  const sections: string[] = [];
  for (const [task, r] of resultsByTask(results)) {
    const table = summaryTable(r, exp.tableSteps);
    const seeds = perSeedTable(r, exp.tableSteps);
    const paired = bestVsOthersTable(r, exp.tableSteps);
    const head = task === '' ? '' : `## ${task} (${r.heldout.trajectories} held-out problems)\n\n`;
    sections.push(`${head}Held-out loss (mean ± std over runs)\n${table}\n\nPer meta-training seed (mean)\n${seeds}\n\nThe best variant per step against the others (paired on the same problems)\n${paired}\n`);
    files.push(...(await plotResults(path.join(exp.logdir, task === '' ? 'heldout-loss' : `heldout-loss-${slug(task)}`), r)));
    logHeldout(exp, r, task);
  }
  const text = sections.join('\n');
  process.stdout.write(`\n${text}`);
  writeFileAtomic(path.join(exp.logdir, 'summary.md'), text);
  writeResultsJson(path.join(exp.logdir, 'results.json'), results);
  if (json) writeResultsJson(json, results);
  log(`wrote ${files.join(', ')}, ${path.join(exp.logdir, 'results.json')}${json ? `, ${json}` : ''}; TensorBoard: ${exp.logdir}`);
}

/** Lock the run's directories (checkpoints, logs) for this process; one error names the holder. */
function lockRun(exp: MetaExperiment): DirLock[] {
  const locks = [lockDir(exp.checkpointDir)];
  try {
    if (path.resolve(exp.logdir) !== path.resolve(exp.checkpointDir)) locks.push(lockDir(exp.logdir));
  } catch (e) {
    locks.forEach((l) => l.release());
    throw e;
  }
  return locks;
}

/**
 * Train every learned variant for every meta-seed, then evaluate all on held-out problems. The
 * run is a study (see study.ts): killed at any point, `start: 'resume'` finishes it with the
 * same results.
 */
export async function trainAndEvaluate(exp: MetaExperiment, source = 'experiment', opts: ExperimentOptions = {}): Promise<MetaResults> {
  const log = opts.log ?? (() => {});
  preflightMeta(exp, source, { json: opts.json }); // the checks of `config check`, before any work
  const resolved = resolveOrThrow(exp, source);
  const learned = resolved.filter(isTrained);
  const jobs = opts.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`jobs: expected a positive integer, got ${jobs}`);
  if (jobs > 1 && (opts.pool || (opts.shards ?? 1) > 1)) throw new Error('jobs > 1 trains whole units on threads: it does not combine with gradient workers (--workers, --redis)');
  if (opts.units && (jobs > 1 || opts.pool)) throw new Error('units on Redis workers train whole units there: they do not combine with --jobs or gradient workers');
  if ((opts.retrain ?? []).length > 0 && opts.start !== 'resume') throw new Error('--retrain-unit goes with --resume (it trains units of an earlier run again)');
  const locks = lockRun(exp);
  const metas = new Map<string, MetaParams>();
  try {
    const planned = learned.flatMap((rv) => exp.metaSeeds.map((metaSeed) => ({ label: rv.label, metaSeed, batches: totalBatches(rv.train) })));
    const retrain = (opts.retrain ?? []).map((k) => parseUnitKey(k, planned));
    const study = openStudy(exp, planned, opts.start ?? 'new', log);
    for (const u of retrain) {
      retrainUnit(exp, u);
      study.update(u.label, u.metaSeed, { state: 'pending' });
      log(`${unitKey(u.label, u.metaSeed)}: checkpoints and logs removed, it trains again from the start`);
    }
    const pool = opts.units ? await redisUnitPool({ ...opts.units, stop: opts.stop }) : jobs > 1 ? unitPool(jobs, opts.stop) : null;
    const started = new Map<string, Promise<void>>();
    const key = (label: string, s: number) => `${label}#${s}`;
    // each unit runs once; one warm-started from another starts after it
    const unitDone = (rv: LearnedEntry, s: number): Promise<void> => {
      if (!started.has(key(rv.label, s))) started.set(key(rv.label, s), runUnit(rv, s).catch((e: unknown) => Promise.reject(withRetrainAdvice(e, rv.label, s))));
      return started.get(key(rv.label, s))!;
    };
    // one unit: skipped when done, else trained (here, or on a thread once its warm-start source is done)
    const runUnit = async (rv: LearnedEntry, s: number): Promise<void> => {
      const unit = study.unit(rv.label, s);
      const saved = hasCheckpoint(checkpointDirOf(exp.checkpointDir, rv.label, s));
      if (unit.state === 'done' && saved) {
        log(`${rv.label} seed ${s}: done in an earlier run (from its checkpoint)`);
        // its logs may have been damaged since: cut back to what TensorBoard can read, said
        repairUnitLogs(unitLogDirOf(exp.logdir, rv.label, s), logMarksOf(checkpointDirOf(exp.checkpointDir, rv.label, s)), (l) => log(`${rv.label} seed ${s}: ${l}`));
        return;
      }
      // a unit that got somewhere but has no checkpoint left (deleted): said, not done silently
      if (unit.state !== 'pending' && !saved) log(`${rv.label} seed ${s}: no checkpoint left in ${checkpointDirOf(exp.checkpointDir, rv.label, s)}: it trains again from the start`);
      const from = warmStartOf(resolved, rv);
      if (from) await unitDone(from, s);
      const resume = opts.start === 'resume' && saved;
      study.update(rv.label, s, { state: 'running' });
      let seconds: number, trajectories: number;
      if (pool) {
        const r = await pool.run({ exp, source, label: rv.label, metaSeed: s, resume, runId: study.runId }, log);
        if (r.interrupted) throw new Interrupted(r.interrupted, r.where ?? `in ${rv.label} seed ${s}`);
        ({ seconds, trajectories } = r);
      } else {
        // warm start: the source trained earlier in this run, else its checkpoint
        const trained = from && metas.get(key(from.label, s));
        const warmFrom = from && !resume ? (trained ?? loadTrained(from, exp, s)) : undefined;
        const k = planned.findIndex((u) => u.label === rv.label && u.metaSeed === s) + 1;
        const progress = opts.progress ? { label: `unit ${k}/${planned.length} ${rv.label} seed ${s}`, mode: opts.progress } : undefined;
        const tv = await trainVariant(rv, exp, s, { resume: resume ? exp.checkpointDir : undefined, log, warmFrom, pool: opts.pool, shards: opts.shards, stop: opts.stop, progress });
        if (warmFrom && warmFrom !== trained) disposeMeta(warmFrom);
        metas.set(key(rv.label, s), tv.meta);
        ({ seconds, trajectories } = tv);
      }
      study.update(rv.label, s, { state: 'done', seconds, trajectories });
      log(`${rv.label} seed ${s}: ${trajectories > 0 ? `trained on ${trajectories} trajectories in ${seconds.toFixed(1)}s (${(trajectories / seconds).toFixed(2)} trajectories/s)` : 'nothing left to train (its checkpoint was at the last batch)'}`);
    };
    try {
      if (pool) {
        for (const rv of learned) for (const s of exp.metaSeeds) void unitDone(rv, s);
        // every unit settles before an error is reported (no thread is left writing)
        const settled = await Promise.allSettled(started.values());
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } else {
        for (const rv of learned) for (const s of exp.metaSeeds) await unitDone(rv, s);
      }
    } finally {
      await pool?.close();
    }
    // units trained elsewhere (threads, earlier runs) come from their checkpoints
    for (const rv of learned) {
      for (const s of exp.metaSeeds) {
        try {
          if (!metas.has(key(rv.label, s))) metas.set(key(rv.label, s), loadTrained(rv, exp, s));
        } catch (e) {
          throw withRetrainAdvice(e, rv.label, s);
        }
      }
    }
    await yieldToEventLoop();
    if (opts.stop?.requested) throw new Interrupted(opts.stop.requested, 'before the held-out evaluation (all units trained)');
    const results = evaluateTasks(resolved, metas, exp, log);
    for (const rv of learned) {
      const us = study.units.filter((u) => u.label === rv.label && u.seconds !== undefined);
      const seconds = us.reduce((a, u) => a + u.seconds!, 0);
      const trajectories = us.reduce((a, u) => a + u.trajectories!, 0);
      for (const [, r] of resultsByTask(results)) {
        r.variants[rv.label]!.trainSeconds = seconds;
        r.variants[rv.label]!.trajectoriesPerSecond = trajectories / seconds;
      }
    }
    await report(exp, results, opts.json, log);
    study.markEvaluated();
    // a finished run leaves nothing of the processes killed on its way
    sweepLeftovers(exp, planned, opts.json ? [path.dirname(path.resolve(opts.json))] : []);
    return results;
  } finally {
    for (const m of metas.values()) disposeMeta(m);
    locks.forEach((l) => l.release());
  }
}

/** Evaluate trained variants read from checkpoints. */
export async function evaluateFromCheckpoints(exp: MetaExperiment, source: string, opts: ExperimentOptions): Promise<MetaResults> {
  const log = opts.log ?? (() => {});
  preflightMeta(exp, source, { json: opts.json, train: false });
  const resolved = resolveOrThrow(exp, source);
  const metas = new Map<string, MetaParams>();
  for (const rv of resolved) {
    if (!isTrained(rv)) continue;
    for (const s of exp.metaSeeds) {
      const roots = opts.checkpoints ?? [exp.checkpointDir];
      const root = roots.find((r) => hasCheckpoint(checkpointDirOf(r, rv.label, s))) ?? roots[0];
      metas.set(`${rv.label}#${s}`, loadTrained(rv, exp, s, root));
    }
  }
  // another evaluation's report in logdir (the training run's) is kept
  const dest = evalLogdir(exp, resolved.map((rv) => rv.label));
  if (dest.why) log(dest.why);
  const results = evaluateTasks(resolved, metas, exp, log);
  for (const m of metas.values()) disposeMeta(m);
  await report({ ...exp, logdir: dest.logdir }, results, opts.json, log);
  return results;
}

