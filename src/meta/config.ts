// The meta experiment's config: io-ts codecs (unknown keys rejected, errors name the field).
// Every entry of `variants` is one optimizer to compare on the same held-out problems:
//
//   { "label": "mine", "learned": { "kind": <a registered learned optimizer>, ...its fields },
//     "train": { ...meta-training settings }, "estimator": { "kind": "tbptt" | "pes" | ... } }
//   { "label": "Adam", "baseline": { "kind": "adam", "lr": [1e-4, 3e-4, 1e-3] } }
//
// An entry may start from a named preset (`"preset": "tuned/LSTM(update,tele)"`, see
// entry-presets.ts) and override any of its fields. Decoding resolves every entry, so a bad
// field anywhere is listed with the others at its path (`variants[2].train.batch`).
import fs from 'node:fs';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import {
  strict,
  withDefaults,
  optional,
  refine,
  NonNegativeInt,
  PositiveInt,
  arrayOf,
  deepMerge,
  ConfigError,
  isPlainObject,
  problemAt,
  reportErrors,
  withChecks,
} from '../config/codec.js';
import { Backend, Seed, OutDir } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import { TaskConfig } from '../tasks/registry.js';
import type { PartConfig } from '../config/parts.js';
import { BaselineConfig } from './baselines.js';
import { entryPreset, entryPresetNames } from './entry-presets.js';
import { EstimatorConfig } from './estimators/registry.js';
import { LearnedConfig, learnedOptimizers } from './learned/registry.js';
import { TrainCodec, type TrainConfig } from './train.js';
export { TrainCodec } from './train.js';

/** A task of the held-out evaluation: its label ('' for the experiment's own task), config and problem count. */
export interface EvalTask {
  label: string;
  task: PartConfig;
  trajectories: number;
}

/** The held-out evaluation's tasks: `evalTasks`, else the experiment's task. */
export const evalTasksOf = (exp: Pick<MetaExperiment, 'task' | 'heldout' | 'evalTasks'>): EvalTask[] =>
  exp.evalTasks?.map((e) => ({ label: e.label, task: e.task, trajectories: e.trajectories ?? exp.heldout.trajectories })) ?? [{ label: '', task: exp.task, trajectories: exp.heldout.trajectories }];

/** A label names folders and table rows: visible characters, no path separators. */
const Label = refine(t.string, (s) => s.trim() === s && s.length > 0 && !/[/\\]/.test(s), 'Label', 'a non-empty label without surrounding spaces or path separators');

/** One entry as written (before its preset is applied): every part optional. */
const EntryShape = strict(
  {
    /** Name in tables, logs, checkpoints and JSON (default: the preset's). */
    label: Label,
    /** A named entry to start from (overridden by the fields given here). */
    preset: optional(t.string),
    learned: optional(LearnedConfig),
    baseline: optional(BaselineConfig),
    train: optional(TrainCodec),
    estimator: optional(EstimatorConfig),
  },
  'Entry',
);

/** A hand-designed optimizer entry (evaluated once, not meta-trained). */
export interface BaselineEntry {
  label: string;
  preset?: string;
  baseline: BaselineConfig;
}

/** A learned optimizer entry with its preset applied and every default filled. */
export interface LearnedEntry {
  label: string;
  preset?: string;
  learned: LearnedConfig;
  train: TrainConfig;
  estimator: EstimatorConfig;
}

export type ResolvedEntry = BaselineEntry | LearnedEntry;

export const isBaseline = (e: ResolvedEntry): e is BaselineEntry => 'baseline' in e;

const MetaShape = strict(
  {
    backend: optional(Backend),
    /** Seed of the problems (training, validation and held-out streams). */
    seed: Seed,
    /** Meta-training seeds: each learned entry is trained once per seed. */
    metaSeeds: arrayOf(Seed, { min: 1 }),
    /** The inner problems: `{ kind, ... }` of a registered task family. */
    task: TaskConfig,
    heldout: strict({ trajectories: PositiveInt, steps: PositiveInt }, 'Heldout'),
    /**
     * Task families the held-out evaluation runs on instead of `task` (transfer to unseen tasks),
     * each with its label and its own number of held-out problems (default heldout.trajectories);
     * baselines are tuned on each one's validation problems.
     */
    evalTasks: optional(arrayOf(strict({ label: t.string, task: TaskConfig, trajectories: optional(PositiveInt) }, 'EvalTask'), { min: 1 })),
    /** Validation problems on which a baseline's list of learning rates is tuned (steps: heldout.steps). */
    baselineValidation: strict({ trajectories: PositiveInt }, 'BaselineValidation'),
    variants: arrayOf(t.unknown, { min: 1 }),
    logdir: OutDir,
    checkpointDir: OutDir,
    /** Write a resumable checkpoint every this many batches (0: only at the end). */
    checkpointEvery: NonNegativeInt,
    /** Summary table steps. */
    tableSteps: arrayOf(NonNegativeInt, { min: 1 }),
    /** Histograms every this many windows (0: never). */
    histogramEvery: NonNegativeInt,
  },
  'MetaExperiment',
);

/** The package's default experiment (what `npm start` runs): its fields are the codec's defaults. */
const DEFAULT_FILE = new URL('../../experiments/meta-default.json', import.meta.url);
const DEFAULTS = { baselineValidation: { trajectories: 16 }, ...(JSON.parse(fs.readFileSync(DEFAULT_FILE, 'utf8')) as Record<string, unknown>) };

/**
 * The experiment config. Beyond its shape, decoding resolves every entry against its preset
 * (so a bad override inside an entry is listed with the top-level problems, at its path),
 * checks warm starts and labels across entries, and keeps `tableSteps` within `heldout.steps`.
 */
export const MetaExperimentCodec = withDefaults(
  withChecks(MetaShape, (u, c) => experimentProblems(u, c)),
  DEFAULTS as never,
);
export type MetaExperiment = Omit<t.TypeOf<typeof MetaShape>, 'variants'> & { variants: unknown[] };
registerConfig('meta', MetaExperimentCodec, 'symtele meta train|eval: learned optimizers and baselines on held-out problems', (exp, source) => resolvedExperiment(exp, source));

const defaultTrain = (): TrainConfig => (TrainCodec.decode({}) as E.Right<TrainConfig>).right;

/** The fields given where the preset has no such part (null or absent): `path` -> the value. */
function newParts(base: unknown, over: unknown, path: string[] = []): string[][] {
  if (!isPlainObject(over)) return [];
  if (!isPlainObject(base)) return path.length > 0 ? [path] : [];
  return Object.entries(over).flatMap(([k, v]) => (isPlainObject(v) && !isPlainObject(base[k]) && base[k] !== undefined ? [[...path, k]] : newParts(base[k], v, [...path, k])));
}

/** The codec found at a path of nested strict codecs (for the error's look), else unknown. */
const codecAt = (keys: readonly string[]): Array<[string, t.Decoder<any, any>]> => keys.map((k) => [k, t.unknown]);

/**
 * Preset + overrides of one raw entry, decoded strictly under context `c` (the entry's place in
 * the experiment). Null when the entry is not an object (the shape reports it).
 */
function resolveEntry(entry: unknown, c: t.Context): E.Either<t.Errors, ResolvedEntry> | null {
  if (!isPlainObject(entry)) return null;
  const errors: t.ValidationError[] = [];
  const at = (keys: string[], message: string, value?: unknown) => problemAt(c, codecAt(keys), message, value);
  for (const old of ['name', 'recipe', 'variant'] as const) {
    if (old in entry) errors.push(at([old], `entries name a preset and their parts: { "preset": "<recipe>/<variant>", "learned": {...}, "train": {...} } (${old} is not a field; presets: symtele list)`, entry[old]));
  }
  const { preset: presetName, ...own } = entry;
  let base: Record<string, unknown> = {};
  if (presetName !== undefined) {
    const p = typeof presetName === 'string' ? entryPreset(presetName) : undefined;
    if (!p) errors.push(at(['preset'], `expected one of ${entryPresetNames().map((n) => JSON.stringify(n)).join(', ')}`, presetName));
    else base = p;
  }
  if (errors.length > 0) return E.left(errors);
  // An override of a part the preset does not have (a null module, a baseline's learned part)
  // is reported once, at that part, instead of as every field it lacks.
  const missing = presetName !== undefined ? newParts(base, own) : [];
  const merged = deepMerge(base, own) as Record<string, unknown>;
  const r = EntryShape.validate(merged, c);
  if (E.isLeft(r)) {
    const within = (e: t.ValidationError, p: string[]) => p.every((k, i) => e.context[c.length + i]?.key === k);
    const kept = r.left.filter((e) => !missing.some((p) => within(e, p)));
    for (const p of missing) {
      if (r.left.some((e) => within(e, p))) {
        kept.push(at(p, `"${String(presetName)}" has no "${p[p.length - 1]}" to override (it is null or absent there): to add one, give all its fields`));
      }
    }
    return E.left(kept);
  }
  const d = r.right;
  if ((d.learned === undefined) === (d.baseline === undefined)) {
    return E.left([at([], `expected exactly one of "learned" (a learned optimizer) or "baseline" (a hand-designed optimizer)`, entry)]);
  }
  if (d.baseline !== undefined) {
    const extra = (['train', 'estimator'] as const).filter((k) => own[k] !== undefined);
    if (extra.length > 0) return E.left(extra.map((k) => at([k], `a baseline is not meta-trained: "${d.label}" has no ${k}`, own[k])));
    return E.right({ label: d.label, ...(typeof presetName === 'string' ? { preset: presetName } : {}), baseline: d.baseline });
  }
  const train = (d.train as TrainConfig | undefined) ?? defaultTrain();
  const learned = d.learned!;
  // every module of the learned optimizer has a meta learning rate, and every rate a module
  let modules: readonly string[] = [];
  try {
    modules = learnedOptimizers.create(learned).modules;
  } catch (e) {
    return E.left([at(['learned'], (e as Error).message)]);
  }
  const lrProblems = [
    ...modules.filter((m) => train.metaLr[m] === undefined && train.metaLr.default === undefined).map((m) => `no rate for module "${m}" (name it, or give a "default")`),
    ...Object.keys(train.metaLr)
      .filter((k) => k !== 'default' && !modules.includes(k))
      .map((k) => `"${k}": the learned optimizer has no such module (its modules: ${modules.join(', ') || 'none'})`),
  ];
  if (lrProblems.length > 0) return E.left(lrProblems.map((m) => at(['train', 'metaLr'], m)));
  return E.right({ label: d.label, ...(typeof presetName === 'string' ? { preset: presetName } : {}), learned, train, estimator: d.estimator ?? { kind: 'tbptt' } });
}

/** Every entry resolved, or every problem of every entry and across entries, each at its path under `c`. */
function resolveEntries(entries: readonly unknown[], c: t.Context): E.Either<t.Errors, ResolvedEntry[]> {
  const at = t.appendContext(c, 'variants', MetaShape.props.variants, entries);
  const errors: t.ValidationError[] = [];
  const out: ResolvedEntry[] = [];
  entries.forEach((entry, i) => {
    const ctx = t.appendContext(at, String(i), EntryShape, entry);
    const r = resolveEntry(entry, ctx);
    if (r === null) errors.push({ value: entry, context: ctx, message: `expected an entry object ({ "label", "learned" | "baseline", ... } or { "preset": ... }), got ${JSON.stringify(entry)}` });
    else if (E.isLeft(r)) errors.push(...r.left);
    else out.push(r.right);
  });
  // checks across entries need them all
  if (out.length < entries.length) return E.left(errors);
  out.forEach((_, i) => {
    const problem = warmStartProblem(out, i);
    if (problem) errors.push(problemAt(at, [[String(i), EntryShape], ['train', t.unknown], ['warmStart', t.unknown]], problem));
  });
  const labels = out.map((r) => r.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup !== undefined) errors.push({ value: entries, context: at, message: `label "${dup}" used twice (give one a "label")` });
  return errors.length > 0 ? E.left(errors) : E.right(out);
}

/** The problems of an experiment beyond its shape (see MetaExperimentCodec), from its raw input. */
function experimentProblems(u: unknown, c: t.Context): t.Errors {
  if (!isPlainObject(u)) return [];
  const errors: t.ValidationError[] = [];
  if (Array.isArray(u.variants)) {
    const r = resolveEntries(u.variants, c);
    if (E.isLeft(r)) errors.push(...r.left);
  }
  if (Array.isArray(u.evalTasks)) {
    const names = u.evalTasks.map((e) => (isPlainObject(e) ? e.label : undefined));
    const dup = names.find((l, i) => typeof l === 'string' && names.indexOf(l) !== i);
    if (dup !== undefined) errors.push(problemAt(c, [['evalTasks', t.unknown]], `label "${dup}" used twice`, u.evalTasks));
  }
  // table steps within the held-out steps (a step beyond printed NaN)
  const steps = MetaShape.props.heldout.is(u.heldout) ? u.heldout.steps : undefined;
  if (steps !== undefined && MetaShape.props.tableSteps.is(u.tableSteps)) {
    const at = t.appendContext(c, 'tableSteps', MetaShape.props.tableSteps, u.tableSteps);
    u.tableSteps.forEach((s, i) => {
      if (s > steps) errors.push(problemAt(at, [[String(i), t.number]], `${s} is beyond heldout.steps ${steps}`, s));
    });
  }
  return errors;
}

/** The entries of a decoded experiment with presets and defaults applied; a bad entry is a ConfigError naming its path. */
export function resolveAll(exp: MetaExperiment, source: string): E.Either<ConfigError, ResolvedEntry[]> {
  const r = resolveEntries(exp.variants, [{ key: '', type: MetaExperimentCodec, actual: exp }]);
  return E.isLeft(r) ? E.left(new ConfigError(source, reportErrors(r.left))) : r;
}

/** The experiment's entries resolved; a bad entry throws its ConfigError. */
export function resolveOrThrow(exp: MetaExperiment, source: string): ResolvedEntry[] {
  const r = resolveAll(exp, source);
  if (E.isLeft(r)) throw r.left;
  return r.right;
}

/** A preset resolved as an experiment entry `{ preset: name, ...over }` would be; a ConfigError otherwise. */
export function resolvePreset(name: string, over: Record<string, unknown> = {}): ResolvedEntry {
  const entry = { preset: name, ...over };
  const r = resolveEntry(entry, [{ key: '', type: EntryShape, actual: entry }]);
  if (r === null || E.isLeft(r)) throw new ConfigError(`preset ${name}`, r === null ? ['expected an entry'] : reportErrors(r.left));
  return r.right;
}

/** A learned preset resolved (see resolvePreset); an error for a baseline. */
export function resolveLearnedPreset(name: string, over: Record<string, unknown> = {}): LearnedEntry {
  const e = resolvePreset(name, over);
  if (isBaseline(e)) throw new Error(`preset ${name} is a baseline, not a learned optimizer`);
  return e;
}

/** The experiment as it runs: every entry resolved (what `config check` and `config defaults` print). */
export const resolvedExperiment = (exp: MetaExperiment, source: string): Omit<MetaExperiment, 'variants'> & { variants: ResolvedEntry[] } => ({
  ...exp,
  variants: resolveOrThrow(exp, source),
});

/** Whether an entry is meta-trained (a learned optimizer with at least one module), once per meta-seed. */
export const isTrained = (e: ResolvedEntry): e is LearnedEntry => !isBaseline(e) && learnedOptimizers.create(e.learned).modules.length > 0;

/** The meta-trained entry of that label (units are named by it); an error naming `source` otherwise. */
export function trainedEntry(resolved: readonly ResolvedEntry[], label: string, source: string): LearnedEntry {
  const e = resolved.find((r) => r.label === label);
  if (!e || !isTrained(e)) throw new Error(`no meta-trained entry "${label}" in ${source}`);
  return e;
}

/** The entry whose trained update module starts `e` (its `train.warmStart`), if any. */
export const warmStartOf = (resolved: readonly ResolvedEntry[], e: LearnedEntry): LearnedEntry | undefined =>
  e.train.warmStart === null ? undefined : trainedEntry(resolved, e.train.warmStart, 'the experiment');

/** Why entry i's warm start cannot work (it must name an earlier entry with the same update module), or null. */
function warmStartProblem(all: readonly ResolvedEntry[], i: number): string | null {
  const e = all[i]!;
  const from = isBaseline(e) ? null : e.train.warmStart;
  if (from === null) return null;
  const j = all.findIndex((r) => r.label === from);
  if (j < 0 || j >= i) return `expected the label of an earlier entry, got "${from}"`;
  const other = all[j]!;
  const [a, b] = [(e as LearnedEntry).learned, isBaseline(other) ? undefined : other.learned];
  const update = (l: LearnedConfig | undefined) => (l && isPlainObject(l.update) ? l.update : null);
  if (!update(a)) return 'this entry has no update module to start';
  if (!b || b.kind !== a!.kind || update(b)?.hidden !== update(a)!.hidden || (b.preprocess as { kind?: string } | undefined)?.kind !== (a!.preprocess as { kind?: string } | undefined)?.kind) {
    return `"${from}" has no update module of the same kind, size and inputs`;
  }
  return null;
}
