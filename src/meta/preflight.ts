// The checks of a learning-to-teleport experiment before any work, shared by `symtele config
// check --kind meta` and the runs (`meta train|eval`, `main`): the variants resolved (decoding
// already listed their problems), the output paths writable, and the estimated memory and time
// within limits. Every problem is listed together in one ConfigError.
import * as E from 'fp-ts/lib/Either.js';
import { registerPreflight } from '../config/registry.js';
import {
  defaultLimits,
  describeEstimate,
  estimateProblems,
  formatBytes,
  formatDuration,
  outputPathProblems,
  throwProblems,
  type Estimate,
  type Limits,
} from '../config/preflight.js';
import { resolveAll, type MetaExperiment, type ResolvedVariant } from './config.js';
import { totalBatches } from './train.js';
import { isLearned, type VariantConfig } from './variant.js';

type Kind = 'GD' | 'update' | 'tele' | 'update+tele';
const kindOf = (v: VariantConfig): Kind => (v.update && v.tele ? 'update+tele' : v.update ? 'update' : v.tele ? 'tele' : 'GD');

// Measured constants. Held-out figures: scripts/measure-preflight.ts on wasm, the default
// 20x20x20 regression task (20 samples), preset hidden sizes, B = 64 problems in one batch, the
// faster of two runs on the shared 2-core machine (docs/results/learning-to-teleport.md gives both). Training figures: the fastest of the four `npm run bench --
// --only meta` runs of docs/results/learning-to-teleport.md ("Speed and memory", B = 16, 100-step trajectories).
// They scale with the task only through its parameter count; other widths, hidden sizes and
// machines move them, so the estimate is an order of magnitude, not a promise.

/** Seconds per held-out (or validation) trajectory-step, forward only. */
const EVAL_SECONDS_PER_STEP: Record<Kind, number> = { GD: 1.9e-4, update: 1.4e-3, tele: 1.1e-3, 'update+tele': 3.1e-3 };
/** Seconds per meta-training trajectory-step (1 / (trajectories/s x 100 steps)). */
const TRAIN_SECONDS_PER_STEP: Record<Kind, number> = { GD: 0, update: 1 / 721, tele: 1 / 1339, 'update+tele': 1 / 292 };
/** Peak tensor bytes of one held-out step per problem, per parameter of the problem (28.8 / 158 / 156 / 300 KB over 800 parameters). */
const STEP_BYTES_PER_PARAMETER: Record<Kind, number> = { GD: 36, update: 198, tele: 195, 'update+tele': 375 };
/** Heap bytes per stored held-out entry (a loss and a squared gradient norm per run and step). */
const BYTES_PER_HELDOUT_ENTRY = 18.2;
/** Characters of results.json per held-out entry (loss, squared gradient norm, time). */
const JSON_CHARS_PER_HELDOUT_ENTRY = 52;
/** The longest string V8 builds (64-bit): results.json is one JSON.stringify. */
const MAX_STRING_LENGTH = 2 ** 29 - 24;
/** Bytes per training trajectory held all run: its place in the epoch's permutation (Int32Array + array). */
const BYTES_PER_TRAINING_TRAJECTORY = 12;

/** Parameters of one inner problem: the weight matrices between consecutive widths. */
const parameters = (exp: MetaExperiment): number => exp.task.widths.slice(1).reduce((s, w, i) => s + w * exp.task.widths[i]!, 0);

const runsOf = (exp: MetaExperiment, rv: ResolvedVariant) => exp.heldout.trajectories * (isLearned(rv.variant) ? exp.metaSeeds.length : 1);

/** Held-out entries stored over all variants and runs. */
const heldoutEntries = (exp: MetaExperiment, resolved: readonly ResolvedVariant[]): number =>
  resolved.reduce((s, rv) => s + runsOf(exp, rv) * (exp.heldout.steps + 1), 0);

/**
 * Peak memory and work of the experiment from its sizes and the measured constants above.
 * `train` false: evaluation from checkpoints only (`meta eval`).
 */
export function estimateMeta(exp: MetaExperiment, resolved: readonly ResolvedVariant[], train = true): Estimate {
  const P = parameters(exp);
  const learned = train ? resolved.filter((rv) => isLearned(rv.variant)) : [];
  const seeds = exp.metaSeeds.length;
  const trainSeconds = learned.reduce((s, rv) => {
    const c = rv.train;
    const k = kindOf(rv.variant);
    const validations = c.evalEvery > 0 ? Math.ceil(totalBatches(c) / c.evalEvery) : 0;
    return s + seeds * (c.trajectories * c.epochs * c.trajectoryLength * TRAIN_SECONDS_PER_STEP[k] + validations * c.valTrajectories * c.valSteps * EVAL_SECONDS_PER_STEP[k]);
  }, 0);
  const evalSeconds = resolved.reduce((s, rv) => s + runsOf(exp, rv) * exp.heldout.steps * EVAL_SECONDS_PER_STEP[kindOf(rv.variant)], 0);
  const entries = heldoutEntries(exp, resolved);
  const records = entries * BYTES_PER_HELDOUT_ENTRY;
  // variants are evaluated one after another, all held-out problems in one batch
  const step = Math.max(...resolved.map((rv) => exp.heldout.trajectories * P * STEP_BYTES_PER_PARAMETER[kindOf(rv.variant)]));
  const perm = Math.max(0, ...learned.map((rv) => rv.train.trajectories * BYTES_PER_TRAINING_TRAJECTORY));
  const memory = [
    `held-out records ${formatBytes(records)} (${entries.toExponential(2)} entries: runs x ${exp.heldout.steps + 1} steps, ${BYTES_PER_HELDOUT_ENTRY} B each)`,
    `held-out step tensors ${formatBytes(step)} (${exp.heldout.trajectories} problems x ${P} parameters)`,
  ];
  if (perm > 0) memory.push(`training order ${formatBytes(perm)} (${BYTES_PER_TRAINING_TRAJECTORY} B per trajectory)`);
  const time = [`held-out evaluation ${formatDuration(evalSeconds)}`];
  if (learned.length > 0) time.push(`meta-training ${formatDuration(trainSeconds)} (${learned.length} variant(s) x ${seeds} meta-seed(s))`);
  return { bytes: records + step + perm, seconds: trainSeconds + evalSeconds, memory, time };
}

export interface MetaPreflightOptions {
  /** Meta-training runs (checkpoints are written); false for `meta eval`. */
  train?: boolean;
  /** --json: the results file. */
  json?: string;
  limits?: Limits;
}

export interface MetaPreflight {
  resolved: ResolvedVariant[];
  estimate: Estimate;
}

/**
 * Everything a run checks before any work; throws one ConfigError of `source` listing every
 * problem. The commands call it after decoding; `config check --kind meta` calls it too.
 */
export function preflightMeta(exp: MetaExperiment, source: string, opts: MetaPreflightOptions = {}): MetaPreflight {
  const train = opts.train ?? true;
  const r = resolveAll(exp, source);
  if (E.isLeft(r)) throw r.left;
  const resolved = r.right;
  const estimate = estimateMeta(exp, resolved, train);
  const jsonChars = heldoutEntries(exp, resolved) * JSON_CHARS_PER_HELDOUT_ENTRY;
  throwProblems(source, [
    ...outputPathProblems([
      { field: 'logdir', path: exp.logdir, kind: 'dir' },
      { field: 'checkpointDir', path: train ? exp.checkpointDir : undefined, kind: 'dir' },
      { field: '--json', path: opts.json, kind: 'file' },
    ]),
    ...estimateProblems(estimate, opts.limits ?? defaultLimits()),
    ...(jsonChars > MAX_STRING_LENGTH
      ? [`heldout: results.json would be ~${jsonChars.toExponential(2)} characters, above the longest string Node can write (${MAX_STRING_LENGTH}); fewer trajectories or steps`]
      : []),
  ]);
  return { resolved, estimate };
}

registerPreflight<MetaExperiment>('meta', (exp, source, flags = {}) => describeEstimate(preflightMeta(exp, source, flags as MetaPreflightOptions).estimate));
