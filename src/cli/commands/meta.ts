// `symtele meta train|eval`: learning to teleport (paper section 5.2). `mainJob` is what
// `npm start` runs: meta train on experiments/meta-default.json.
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { runCommand, loadConfigOrExit, useBackend, exitWithError, globalOptions } from '../run.js';
import { configLayers, presetHelp } from '../experiments/_preset.js';
import type { Job } from '../../backend/index.js';
import { addPoolOptions, poolOptions, positiveInt, type PoolFlags } from './_pool.js';
import { InvalidArgumentError } from 'commander';
import { deepMerge, overridesFromAssignments } from '../../config/codec.js';
import { createShardPool, defaultWorkers, DEFAULT_QUEUE } from '../../distributed/workers/index.js';
import { windows } from '../../meta/train.js';
import { isTrained, MetaExperimentCodec, resolveOrThrow, type MetaExperiment, type ResolvedEntry } from '../../meta/config.js';
import '../../meta/preflight.js'; // registers the checks loadConfigOrExit runs
import { trainAndEvaluate as trainAndEvaluateLib, evaluateFromCheckpoints as evaluateLib, type ExperimentOptions } from '../../meta/experiment.js';
import type { MetaResults } from '../../meta/report.js';
import { stopOnSignals, type StopFlag } from '../../meta/interrupt.js';

interface MetaOptions extends PoolFlags {
  set?: string[];
  preset?: string;
  config?: string;
  json?: string;
  /** true: the config's checkpointDir; a string: that directory. */
  resume?: string | boolean;
  fresh?: boolean;
  jobs?: number;
  units?: boolean;
  stop?: StopFlag;
  checkpoints?: string;
  quiet?: boolean;
  retrainUnit?: string[];
}

const say = (quiet?: boolean) => (line: string) => {
  if (!quiet) process.stderr.write(`[meta] ${line}\n`);
};

/** --units: the Redis queue whole units go to (an error without --redis). */
function unitQueue(opts: MetaOptions): { redis: string; queue: string } | undefined {
  if (!opts.units) return undefined;
  if (opts.redis === undefined) throw new InvalidArgumentError('--units needs --redis (the queue the workers take units from).');
  return { redis: opts.redis, queue: opts.queue ?? DEFAULT_QUEUE };
}

/** Library options from the flags; --workers / --redis choose where shard estimates are computed. */
function libOptions(opts: MetaOptions): ExperimentOptions {
  const po = poolOptions(opts);
  const inProcess = po.redis === undefined && po.workers === 0;
  const base: ExperimentOptions = {
    json: opts.json,
    start: opts.resume ? 'resume' : opts.fresh ? 'fresh' : 'new',
    jobs: opts.jobs,
    stop: opts.stop,
    checkpoints: opts.checkpoints?.split(',').filter((d) => d !== ''),
    retrain: opts.retrainUnit,
    log: say(opts.quiet),
    progress: opts.quiet ? 'quiet' : 'auto',
  };
  const units = unitQueue(opts);
  if (units) return { ...base, units };
  return { ...base, ...(inProcess ? {} : { pool: (spec, train) => createShardPool({ ...po, spec, schedule: windows(train) }), shards: po.workers }) };
}

/** Train every learned variant for every meta-seed, then evaluate all on held-out problems. */
export const trainAndEvaluate = (exp: MetaExperiment, source: string, opts: MetaOptions): Promise<MetaResults> =>
  trainAndEvaluateLib(exp, source, libOptions(opts));

/** Evaluate trained variants read from checkpoints. */
export const evaluateFromCheckpoints = (exp: MetaExperiment, source: string, opts: MetaOptions): Promise<MetaResults> =>
  evaluateLib(exp, source, libOptions(opts));

/**
 * The main job (`npm start`): `meta train` on experiments/meta-default.json (or `--config`),
 * through the same config and backend path, plus its wall time and peak memory.
 */
export const mainJob = async (exp: MetaExperiment, source: string, opts: MetaOptions): Promise<MetaResults> => {
  const t0 = performance.now();
  const r = await trainAndEvaluate(exp, source, opts);
  const rss = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`\nmain job done in ${((performance.now() - t0) / 1000).toFixed(0)}s, peak rss ${rss} MiB\n`);
  return r;
};

/** What `--backend auto` chooses for: meta-training at the smallest batch of the experiment's variants. */
function metaJob(resolved: readonly ResolvedEntry[]): Job {
  const batches = resolved.filter(isTrained).map((v) => v.train.batch);
  return { kind: 'metaTrain', batch: batches.length > 0 ? Math.min(...batches) : 1 };
}

/**
 * A command action: build the config from the presets' layers (defaults, --preset or the
 * default preset experiments/meta-default.json, --config), validate it and run the preflight
 * of `config check --kind meta` (output paths, estimated sizes; exit 2 on problems), start the
 * backend, run. `symtele main`, `meta train` and `meta eval` (`train` false) all come through here.
 */
export const withExperiment = (job: (exp: MetaExperiment, source: string, opts: MetaOptions) => Promise<unknown>, train = true) =>
  runCommand(async (opts: MetaOptions, cmd: Command) => {
    const files = configLayers('meta', 'default', opts);
    if (E.isLeft(files)) exitWithError(files.left);
    const source = files.right.join(' + ') || 'defaults';
    if (opts.resume && opts.fresh) throw new Error('--resume and --fresh exclude each other');
    // --resume <dir> is the run's checkpointDir: the output checks see it too; --seed the config's seed
    const sets = overridesFromAssignments(opts.set ?? []);
    if (E.isLeft(sets)) exitWithError(sets.left);
    const over = deepMerge(sets.right, { checkpointDir: typeof opts.resume === 'string' ? opts.resume : undefined, seed: globalOptions(cmd).seed });
    const exp = await loadConfigOrExit(MetaExperimentCodec, files.right, over, { train, json: opts.json });
    const resolved = resolveOrThrow(exp, source);
    poolOptions(opts); // bad worker flags are errors before any work
    unitQueue(opts);
    await useBackend(cmd, exp.backend, metaJob(resolved));
    // kept on a failure until the process exits: a second signal in that moment still exits 130
    const stop = stopOnSignals(say(false));
    await job(exp, source, { ...opts, stop });
    stop.dispose();
  });

/** --resume / --fresh: what a run does with an earlier run in its checkpoint directory. */
export const runDirOptions = (c: Command) =>
  c
    .option('--resume [dir]', 'finish the run in the checkpoint directory (default: the config checkpointDir), skipping what is done; starts it if there is none')
    .option('--fresh', 'remove the earlier run in the checkpoint directory (checkpoints and logs of its units) and start over')
    .option('--retrain-unit <label#seed>', 'with --resume: train this unit (variant label # meta-seed) again from the start, e.g. when its checkpoints are damaged; the other units are kept (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--jobs <n>', `units (variant x meta-seed) trained at once, each on its own thread; the results do not depend on it (cores here: ${defaultWorkers()})`, positiveInt, 1)
    .option('--units', 'with --redis: queue whole units (variant x meta-seed) as jobs for `symtele worker` processes on any machine, instead of gradient windows; evaluates here when all are done');

const presetOption = (c: Command) =>
  c
    .option('--preset <name>', presetHelp('meta', 'default'))
    .option('--config <file>', 'experiment config (JSON), over the preset when --preset is given too')
    .option('--set <key=value>', 'override a field of the config, e.g. heldout.steps=50 or variants.1.train.unroll=20 (repeatable)', (v: string, prev: string[] = []) => [...prev, v]);

export { presetOption };

export function register(program: Command): void {
  const meta = program.command('meta').description('learning to teleport: LSTM meta-optimizers (paper section 5.2)');
  runDirOptions(addPoolOptions(presetOption(meta.command('train'))))
    .description('meta-train the variants of the config, then evaluate them on held-out trajectories')
    .option('--json <file>', 'also write the held-out results as JSON here')
    .option('--quiet', 'no progress bar or lines')
    .action(withExperiment(trainAndEvaluate));
  presetOption(meta.command('eval'))
    .description('evaluate trained variants (from checkpoints) and GD on held-out trajectories')
    .option('--json <file>', 'write the held-out results as JSON here')
    .option('--checkpoints <dirs>', 'checkpoint roots, comma-separated, searched in order per unit (default: the config checkpointDir); runs trained in parallel each have their own')
    .option('--quiet', 'no progress lines')
    .action(withExperiment(evaluateFromCheckpoints, false));
}
