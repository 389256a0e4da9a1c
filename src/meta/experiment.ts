// The learning-to-teleport experiment as a library: meta-train every learned variant for every
// meta-seed, evaluate all on the same held-out trajectories, and write the table, JSON, plot
// and TensorBoard curves. The CLI (`symtele meta`, `npm start`) only parses flags and calls these.
import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { resolveAll, type MetaExperiment, type ResolvedVariant } from './config.js';
import { trainVariant, evaluateAll, logHeldout, loadTrained, type TrainRunOptions } from './run.js';
import { summaryTable, perSeedTable, plotResults, writeResultsJson, type EvalResults } from './report.js';
import { isLearned } from './variant.js';
import { disposeMeta, type MetaParams } from './params.js';
import { writeFileAtomic } from '../logging/atomic.js';

export interface ExperimentOptions extends Pick<TrainRunOptions, 'pool' | 'shards'> {
  json?: string;
  resume?: string;
  checkpoints?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The experiment's variants with presets and overrides applied; a bad entry throws its ConfigError. */
export function resolveOrThrow(exp: MetaExperiment, source: string): ResolvedVariant[] {
  const r = resolveAll(exp, source);
  if (E.isLeft(r)) throw r.left;
  return r.right;
}

/** Write the table, JSON, plot and TensorBoard curves of held-out results. */
export async function report(exp: MetaExperiment, results: EvalResults, json: string | undefined, log: (l: string) => void): Promise<void> {
  const table = summaryTable(results, exp.tableSteps);
  const seeds = perSeedTable(results, exp.tableSteps);
  process.stdout.write(`\nHeld-out loss (mean ± std over runs)\n${table}\n\nPer meta-training seed (mean)\n${seeds}\n`);
  writeFileAtomic(path.join(exp.logdir, 'summary.md'), `${table}\n\n${seeds}\n`);
  writeResultsJson(path.join(exp.logdir, 'results.json'), results);
  if (json) writeResultsJson(json, results);
  const files = await plotResults(path.join(exp.logdir, 'heldout-loss'), results);
  logHeldout(exp, results);
  log(`wrote ${files.join(', ')}, ${path.join(exp.logdir, 'results.json')}${json ? `, ${json}` : ''}; TensorBoard: ${exp.logdir}`);
}

/** Train every learned variant for every meta-seed, then evaluate all on held-out problems. */
export async function trainAndEvaluate(exp: MetaExperiment, source: string, opts: ExperimentOptions): Promise<EvalResults> {
  const log = opts.log ?? (() => {});
  const resolved = resolveOrThrow(exp, source);
  const metas = new Map<string, MetaParams>();
  const timing = new Map<string, { seconds: number; trajectories: number }>();
  for (const rv of resolved) {
    if (!isLearned(rv.variant)) continue;
    const from = resolved.find((r) => r.label === rv.train.warmStart);
    for (const s of exp.metaSeeds) {
      // warm start: the source trained earlier in this run, else its checkpoint
      const trained = from && metas.get(`${from.label}#${s}`);
      const warmFrom = from && !opts.resume ? (trained ?? loadTrained(from, exp, s)) : undefined;
      const tv = await trainVariant(rv, exp, s, { resume: opts.resume, log, warmFrom, pool: opts.pool, shards: opts.shards });
      if (warmFrom && warmFrom !== trained) disposeMeta(warmFrom);
      metas.set(`${rv.label}#${s}`, tv.meta);
      const t = timing.get(rv.label) ?? { seconds: 0, trajectories: 0 };
      timing.set(rv.label, { seconds: t.seconds + tv.seconds, trajectories: t.trajectories + tv.trajectories });
      log(`${rv.label} seed ${s}: trained on ${tv.trajectories} trajectories in ${tv.seconds.toFixed(1)}s (${(tv.trajectories / tv.seconds).toFixed(2)} trajectories/s)`);
    }
  }
  const results = evaluateAll(resolved, metas, exp, log);
  for (const [label, t] of timing) {
    results.variants[label].trainSeconds = t.seconds;
    results.variants[label].trajectoriesPerSecond = t.trajectories / t.seconds;
  }
  for (const m of metas.values()) disposeMeta(m);
  await report(exp, results, opts.json, log);
  return results;
}

/** Evaluate trained variants read from checkpoints. */
export async function evaluateFromCheckpoints(exp: MetaExperiment, source: string, opts: ExperimentOptions): Promise<EvalResults> {
  const log = opts.log ?? (() => {});
  const resolved = resolveOrThrow(exp, source);
  const metas = new Map<string, MetaParams>();
  for (const rv of resolved) {
    if (!isLearned(rv.variant)) continue;
    for (const s of exp.metaSeeds) metas.set(`${rv.label}#${s}`, loadTrained(rv, exp, s, opts.checkpoints ?? exp.checkpointDir));
  }
  const results = evaluateAll(resolved, metas, exp, log);
  for (const m of metas.values()) disposeMeta(m);
  await report(exp, results, opts.json, log);
  return results;
}

