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
import type { PartSize } from '../config/parts.js';
import { taskFamilies } from '../tasks/registry.js';
import { baselines } from './baselines.js';
import { evalTasksOf, isBaseline, isTrained, resolveAll, type MetaExperiment, type ResolvedEntry } from './config.js';
import { learnedOptimizers } from './learned/registry.js';
import { totalBatches } from './train.js';

// Every figure comes from the parts (their registry entries' `size`): a task gives its parameter
// shapes, a learned optimizer its meta-parameter count and measured seconds and bytes per step.
// A part without figures gets no time estimate and the figures below for memory.

/** Heap bytes per stored held-out entry (a loss and a squared gradient norm per run and step). */
const BYTES_PER_HELDOUT_ENTRY = 18.2;
/** Characters of results.json per held-out entry (loss, squared gradient norm, time). */
const JSON_CHARS_PER_HELDOUT_ENTRY = 52;
/** The longest string V8 builds (64-bit): results.json is one JSON.stringify. */
const MAX_STRING_LENGTH = 2 ** 29 - 24;
/** Bytes per training trajectory held all run: its place in the epoch's permutation (Int32Array + array). */
const BYTES_PER_TRAINING_TRAJECTORY = 12;
/** Copies of the meta-parameters alive while training: current, gradient, two Adam moments, best, the checkpoint's. */
const META_COPIES = 6;
/** Peak step bytes per problem parameter for a part that gives none (the largest measured, both LSTM modules). */
const DEFAULT_STEP_BYTES_PER_PARAMETER = 375;
/** The largest tensor a backend allocates (the wasm heap is at most 4 GiB; typed arrays fail far beyond). */
const MAX_TENSOR_BYTES = 2 ** 31;

interface EntrySize extends PartSize {
  /** Where the part sits in the config, for messages. */
  field: string;
}

/** What the entry's part tells of its size on the experiment's task. */
function entrySize(rv: ResolvedEntry, i: number, task: PartSize): EntrySize {
  const shape = { paramShapes: task.paramShapes ?? [], symmetry: { groupSizes: task.groupSizes ?? [] } };
  if (isBaseline(rv)) return { field: `variants[${i}].baseline`, ...baselines.size(rv.baseline, shape) };
  return { field: `variants[${i}].learned`, ...learnedOptimizers.size(rv.learned, shape) };
}

/** Held-out problems over all evaluation tasks. */
const heldoutProblems = (exp: MetaExperiment): number => evalTasksOf(exp).reduce((s, t) => s + t.trajectories, 0);

const runsOf = (exp: MetaExperiment, rv: ResolvedEntry) => heldoutProblems(exp) * (isTrained(rv) ? exp.metaSeeds.length : 1);

/** Held-out entries stored over all entries, runs and evaluation tasks. */
const heldoutEntries = (exp: MetaExperiment, resolved: readonly ResolvedEntry[]): number =>
  resolved.reduce((s, rv) => s + runsOf(exp, rv) * (exp.heldout.steps + 1), 0);

/** Sizes no allocation can hold, each naming its field. */
/** Each evaluation task with its size (the experiment's own task's is `task`'s). */
const evalTaskSizes = (exp: MetaExperiment, task: PartSize) => evalTasksOf(exp).map((on) => ({ on, size: on.label === '' ? task : taskFamilies.size(on.task) }));

function sizeProblems(evalSizes: ReturnType<typeof evalTaskSizes>, sizes: readonly EntrySize[]): string[] {
  const out: string[] = [];
  const tooBig = (field: string, floats: number | undefined, what: string) => {
    if (floats !== undefined && floats * 4 > MAX_TENSOR_BYTES) out.push(`${field}: ${what} of ${floats.toExponential(2)} floats (${formatBytes(floats * 4)}), above the ${formatBytes(MAX_TENSOR_BYTES)} one tensor may hold; smaller sizes`);
  };
  for (const { on, size: z } of evalSizes) {
    const field = on.label === '' ? 'task' : `evalTasks "${on.label}"`;
    tooBig(field, z.largestTensor !== undefined ? z.largestTensor * on.trajectories : undefined, `a parameter tensor of the ${on.trajectories} held-out problems`);
  }
  for (const s of sizes) tooBig(s.field, s.largestTensor, 'a meta-parameter tensor');
  return out;
}

/**
 * Peak memory and work of the experiment from the parts' sizes. `train` false: evaluation from
 * checkpoints only (`meta eval`).
 */
export function estimateMeta(exp: MetaExperiment, resolved: readonly ResolvedEntry[], train = true): Estimate & { problems: string[] } {
  const task = taskFamilies.size(exp.task);
  const sizes = resolved.map((rv, i) => entrySize(rv, i, task));
  const seeds = exp.metaSeeds.length;
  let trainSeconds = 0;
  let metaBytes = 0;
  const unknown: string[] = [];
  resolved.forEach((rv, i) => {
    if (!train || !isTrained(rv)) return;
    const c = rv.train;
    const z = sizes[i]!;
    metaBytes = Math.max(metaBytes, (z.floats ?? 0) * 4 * META_COPIES);
    if (z.trainSecondsPerStep === undefined) unknown.push(rv.label);
    const validations = c.evalEvery > 0 ? Math.ceil(totalBatches(c) / c.evalEvery) : 0;
    trainSeconds += seeds * (c.trajectories * c.epochs * c.trajectoryLength * (z.trainSecondsPerStep ?? 0) + validations * c.valTrajectories * c.valSteps * (z.evalSecondsPerStep ?? 0));
  });
  const evalSeconds = resolved.reduce((s, rv, i) => s + runsOf(exp, rv) * exp.heldout.steps * (sizes[i]!.evalSecondsPerStep ?? 0), 0);
  const entries = heldoutEntries(exp, resolved);
  const records = entries * BYTES_PER_HELDOUT_ENTRY;
  // entries are evaluated one after another, all held-out problems in one batch
  // one task's problems at a time
  const evalSizes = evalTaskSizes(exp, task);
  const problemsTimesParameters = Math.max(...evalSizes.map(({ on, size }) => on.trajectories * (size.floats ?? 0)));
  const step = Math.max(...sizes.map((z) => problemsTimesParameters * (z.stepBytesPerParameter ?? DEFAULT_STEP_BYTES_PER_PARAMETER)));
  const perm = Math.max(0, ...resolved.filter(isTrained).filter(() => train).map((rv) => rv.train.trajectories * BYTES_PER_TRAINING_TRAJECTORY));
  const memory = [
    `held-out records ${formatBytes(records)} (${entries.toExponential(2)} entries: runs x ${exp.heldout.steps + 1} steps, ${BYTES_PER_HELDOUT_ENTRY} B each)`,
    `held-out step tensors ${formatBytes(step)} (${problemsTimesParameters} problem parameters in one batch)`,
  ];
  if (metaBytes > 0) memory.push(`meta-parameters ${formatBytes(metaBytes)} (the largest learned optimizer, ${META_COPIES} copies)`);
  if (perm > 0) memory.push(`training order ${formatBytes(perm)} (${BYTES_PER_TRAINING_TRAJECTORY} B per trajectory)`);
  const time = [`held-out evaluation ${formatDuration(evalSeconds)}`];
  const trained = resolved.filter(isTrained).length;
  if (train && trained > 0) time.push(`meta-training ${formatDuration(trainSeconds)} (${trained} learned entr${trained === 1 ? 'y' : 'ies'} x ${seeds} meta-seed(s)${unknown.length > 0 ? `; no figures for ${unknown.join(', ')}: not counted` : ''})`);
  return { bytes: records + step + perm + metaBytes, seconds: trainSeconds + evalSeconds, memory, time, problems: sizeProblems(evalSizes, sizes) };
}

export interface MetaPreflightOptions {
  /** Meta-training runs (checkpoints are written); false for `meta eval`. */
  train?: boolean;
  /** --json: the results file. */
  json?: string;
  limits?: Limits;
}

export interface MetaPreflight {
  resolved: ResolvedEntry[];
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
    ...estimate.problems,
    ...estimateProblems(estimate, opts.limits ?? defaultLimits()),
    ...(jsonChars > MAX_STRING_LENGTH
      ? [`heldout: results.json would be ~${jsonChars.toExponential(2)} characters, above the longest string Node can write (${MAX_STRING_LENGTH}); fewer trajectories or steps`]
      : []),
  ]);
  return { resolved, estimate };
}

registerPreflight<MetaExperiment>('meta', (exp, source, flags = {}) => describeEstimate(preflightMeta(exp, source, flags as MetaPreflightOptions).estimate));
