// `symtele meta train|eval`: learning to teleport (paper section 5.2). `runMainJob` is the
// default experiment that `npm start` runs (experiments/meta-default.json).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs';
import { runCommand, loadConfigOrExit, useBackend, exitWithError } from '../run.js';
import { initBackend, type Job } from '../../backend/index.js';
import { MetaExperimentCodec, resolveAll, type MetaExperiment, type ResolvedVariant } from '../../meta/config.js';
import { trainVariant, evaluateAll, logHeldout, loadTrained } from '../../meta/run.js';
import { summaryTable, perSeedTable, plotResults, writeResultsJson, type EvalResults } from '../../meta/report.js';
import { isLearned } from '../../meta/variant.js';
import type { Params } from '../../nn/lstm.js';
import { writeFileAtomic } from '../../logging/atomic.js';
import { decodeConfig, readJsonFile } from '../../config/codec.js';

interface MetaOptions {
  config?: string;
  json?: string;
  resume?: string;
  checkpoints?: string;
  quiet?: boolean;
}

const say = (quiet?: boolean) => (line: string) => {
  if (!quiet) process.stderr.write(`[meta] ${line}\n`);
};

function resolveOrExit(exp: MetaExperiment, source: string): ResolvedVariant[] {
  const r = resolveAll(exp, source);
  if (E.isLeft(r)) exitWithError(r.left);
  return r.right;
}

/** Write the table, JSON, plot and TensorBoard curves of held-out results. */
async function report(exp: MetaExperiment, results: EvalResults, json: string | undefined, log: (l: string) => void): Promise<void> {
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
export async function trainAndEvaluate(exp: MetaExperiment, source: string, opts: MetaOptions): Promise<EvalResults> {
  const log = say(opts.quiet);
  const resolved = resolveOrExit(exp, source);
  const metas = new Map<string, Params>();
  const timing = new Map<string, { seconds: number; trajectories: number }>();
  for (const rv of resolved) {
    if (!isLearned(rv.variant)) continue;
    const from = resolved.find((r) => r.label === rv.train.warmStart);
    for (const s of exp.metaSeeds) {
      // warm start: the source trained earlier in this run, else its checkpoint
      const trained = from && metas.get(`${from.label}#${s}`);
      const warmFrom = from && !opts.resume ? (trained ?? loadTrained(from, exp, s)) : undefined;
      const tv = trainVariant(rv, exp, s, { resume: opts.resume, log, warmFrom });
      if (warmFrom && warmFrom !== trained) tf.dispose(Object.values(warmFrom));
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
  tf.dispose([...metas.values()].flatMap((m) => Object.values(m)));
  await report(exp, results, opts.json, log);
  return results;
}

/** Evaluate trained variants read from checkpoints. */
export async function evaluateFromCheckpoints(exp: MetaExperiment, source: string, opts: MetaOptions): Promise<EvalResults> {
  const log = say(opts.quiet);
  const resolved = resolveOrExit(exp, source);
  const metas = new Map<string, Params>();
  for (const rv of resolved) {
    if (!isLearned(rv.variant)) continue;
    for (const s of exp.metaSeeds) metas.set(`${rv.label}#${s}`, loadTrained(rv, exp, s, opts.checkpoints ?? exp.checkpointDir));
  }
  const results = evaluateAll(resolved, metas, exp, log);
  tf.dispose([...metas.values()].flatMap((m) => Object.values(m)));
  await report(exp, results, opts.json, log);
  return results;
}

/** experiments/meta-default.json, found from the module (works from src/ and dist/). */
export const defaultConfigPath = (): string =>
  fileURLToPath(new URL('../../../experiments/meta-default.json', import.meta.url));

/**
 * The main job (`npm start`): the default experiment (about five minutes on 2 cores).
 * Reads experiments/meta-default.json unless `config` names another file.
 */
export async function runMainJob(opts: { json?: string; config?: string; backend?: string; quiet?: boolean } = {}): Promise<EvalResults> {
  const file = opts.config ?? defaultConfigPath();
  const raw = await readJsonFile(file)();
  if (E.isLeft(raw)) throw raw.left;
  const dec = decodeConfig(MetaExperimentCodec, raw.right, file);
  if (E.isLeft(dec)) throw dec.left;
  const exp = dec.right;
  const name = await initBackend(opts.backend ?? exp.backend, metaJob(exp, file));
  if (!opts.quiet) process.stderr.write(`[symtele] backend: ${name} (tfjs ${tf.version_core})\n`);
  const t0 = performance.now();
  const r = await trainAndEvaluate(exp, file, { json: opts.json, quiet: opts.quiet });
  const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
  process.stdout.write(`\nmain job done in ${((performance.now() - t0) / 1000).toFixed(0)}s, rss ${rss} MiB\n`);
  return r;
}

/** What `--backend auto` chooses for: meta-training at the smallest batch of the experiment's variants. */
function metaJob(exp: MetaExperiment, source: string): Job {
  const r = resolveAll(exp, source);
  const batches = E.isRight(r) ? r.right.filter((v) => isLearned(v.variant)).map((v) => v.train.batch) : [];
  return { kind: 'metaTrain', batch: batches.length > 0 ? Math.min(...batches) : 1 };
}

/** A command action: validate the config (exit 2 on problems), start the backend, run. */
const withExperiment = (job: (exp: MetaExperiment, source: string, opts: MetaOptions) => Promise<unknown>) =>
  runCommand(async (opts: MetaOptions, cmd: Command) => {
    const exp = await loadConfigOrExit(MetaExperimentCodec, opts.config);
    resolveOrExit(exp, opts.config ?? 'defaults');
    await useBackend(cmd, exp.backend, metaJob(exp, opts.config ?? 'defaults'));
    await job(exp, opts.config ?? 'defaults', opts);
  });

export function register(program: Command): void {
  const meta = program.command('meta').description('learning to teleport: LSTM meta-optimizers (paper section 5.2)');
  meta
    .command('train')
    .description('meta-train the variants of the config, then evaluate them on held-out trajectories')
    .option('--config <file>', 'experiment config (JSON); default: built-in defaults')
    .option('--json <file>', 'also write the held-out results as JSON here')
    .option('--resume <dir>', "continue from this run's checkpoint directory")
    .option('--quiet', 'no progress lines')
    .action(withExperiment(trainAndEvaluate));
  meta
    .command('eval')
    .description('evaluate trained variants (from checkpoints) and GD on held-out trajectories')
    .option('--config <file>', 'experiment config (JSON)')
    .option('--json <file>', 'write the held-out results as JSON here')
    .option('--checkpoints <dir>', 'checkpoint root (default: the config checkpointDir)')
    .option('--quiet', 'no progress lines')
    .action(withExperiment(evaluateFromCheckpoints));
}
