// `symtele meta train|eval`: learning to teleport (paper section 5.2). `runMainJob` is the
// default experiment that `npm start` runs (experiments/meta-default.json).
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs';
import { runCommand, loadConfigOrExit, useBackend, exitWithError } from '../run.js';
import { initBackend } from '../../backend/index.js';
import { MetaExperimentCodec, resolveAll, type MetaExperiment, type ResolvedVariant } from '../../meta/config.js';
import { trainAndEvaluate as trainAndEvaluateLib, evaluateFromCheckpoints as evaluateLib, type ExperimentOptions } from '../../meta/experiment.js';
import type { EvalResults } from '../../meta/report.js';
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

const libOptions = (opts: MetaOptions): ExperimentOptions => ({ json: opts.json, resume: opts.resume, checkpoints: opts.checkpoints, log: say(opts.quiet) });

/** Train every learned variant for every meta-seed, then evaluate all on held-out problems. */
export const trainAndEvaluate = (exp: MetaExperiment, source: string, opts: MetaOptions): Promise<EvalResults> =>
  trainAndEvaluateLib(exp, source, libOptions(opts));

/** Evaluate trained variants read from checkpoints. */
export const evaluateFromCheckpoints = (exp: MetaExperiment, source: string, opts: MetaOptions): Promise<EvalResults> =>
  evaluateLib(exp, source, libOptions(opts));

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
  const name = await initBackend(opts.backend ?? exp.backend);
  if (!opts.quiet) process.stderr.write(`[symtele] backend: ${name} (tfjs ${tf.version_core})\n`);
  const t0 = performance.now();
  const r = await trainAndEvaluate(exp, file, { json: opts.json, quiet: opts.quiet });
  const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
  process.stdout.write(`\nmain job done in ${((performance.now() - t0) / 1000).toFixed(0)}s, rss ${rss} MiB\n`);
  return r;
}

/** A command action: validate the config (exit 2 on problems), start the backend, run. */
const withExperiment = (job: (exp: MetaExperiment, source: string, opts: MetaOptions) => Promise<unknown>) =>
  runCommand(async (opts: MetaOptions, cmd: Command) => {
    const exp = await loadConfigOrExit(MetaExperimentCodec, opts.config);
    resolveOrExit(exp, opts.config ?? 'defaults');
    await useBackend(cmd, exp.backend);
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
