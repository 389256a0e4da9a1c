// Configs of the learning-to-teleport experiments: io-ts codecs (unknown keys rejected, errors
// name the field), and the presets. Each variant entry names one of the four variants of
// Figure 6 and a recipe ('reference': the reference code's settings; 'paper': the paper's
// text where it differs from the code; 'tuned': ours), then optionally overrides any field of
// the variant or of its meta-training settings.
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import {
  strict,
  withDefaults,
  optional,
  oneOf,
  PositiveInt,
  NonNegativeInt,
  numberIn,
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
import { VARIANT_NAMES, VariantCodec, type VariantConfig } from './variant.js';
export { PreprocessCodec, UpdateCodec, LrHeadCodec, TeleCodec, VariantCodec } from './variant.js';
import { TrainCodec, type TrainConfig } from './train.js';
export { TrainCodec } from './train.js';
import { TaskConfig } from '../tasks/registry.js';

export const RECIPES = ['reference', 'paper', 'tuned'] as const;

export const VariantEntryCodec = strict(
  {
    name: oneOf(VARIANT_NAMES),
    /** Label in tables, logs and JSON (default: name). */
    label: optional(t.string),
    recipe: optional(oneOf(RECIPES)),
    /** Overrides of the preset's variant fields (deep). */
    variant: optional(t.UnknownRecord),
    /** Overrides of the preset's meta-training settings (deep). */
    train: optional(t.UnknownRecord),
  },
  'VariantEntry',
);
export type VariantEntry = t.TypeOf<typeof VariantEntryCodec>;

const MetaShape = strict(
  {
    backend: optional(Backend),
    /** Seed of the problems (training, validation and held-out streams). */
    seed: Seed,
    /** Meta-training seeds: each learned variant is trained once per seed. */
    metaSeeds: arrayOf(Seed, { min: 1 }),
    /** The inner problems (a tagged union on `kind`). */
    task: TaskConfig,
    heldout: strict({ trajectories: PositiveInt, steps: PositiveInt }, 'Heldout'),
    /** Recipe of entries that do not name one. */
    recipe: oneOf(RECIPES),
    variants: arrayOf(VariantEntryCodec, { min: 1 }),
    logdir: OutDir,
    checkpointDir: OutDir,
    /** Write a resumable checkpoint every this many batches (0: only at the end). */
    checkpointEvery: NonNegativeInt,
    /** Summary table steps. */
    tableSteps: arrayOf(NonNegativeInt, { min: 1 }),
    /** Histograms every this many windows (0: never). */
    histogramEvery: NonNegativeInt,
    fractionTrain: optional(numberIn({ gt: 0, le: 1 })),
  },
  'MetaExperiment',
);

/**
 * The experiment config. Beyond its shape, decoding resolves every variant entry against its
 * preset (so a bad override inside a variant is listed with the top-level problems, at its
 * path: `variants[2].train.batch`), checks warm starts and labels across variants, and keeps
 * `tableSteps` within `heldout.steps`.
 */
export const MetaExperimentCodec = withDefaults(
  withChecks(MetaShape, (u, c) => experimentProblems(u, c)),
  {
    seed: 0,
    metaSeeds: [0],
    task: { kind: 'regression', widths: [20, 20, 20], samples: 20, slope: 0.1, seedScheme: 'stream' },
    heldout: { trajectories: 5, steps: 100 },
    recipe: 'tuned',
    variants: VARIANT_NAMES.map((name) => ({ name })),
    logdir: 'logs/meta',
    checkpointDir: 'checkpoints/meta',
    checkpointEvery: 10,
    tableSteps: [1, 10, 30, 100],
    histogramEvery: 10,
  },
);
export type MetaExperiment = t.TypeOf<typeof MetaExperimentCodec>;
registerConfig('meta', MetaExperimentCodec, 'symtele meta train|eval: learning to teleport (section 5.2)');

export type VariantName = (typeof VARIANT_NAMES)[number];
export type Recipe = (typeof RECIPES)[number];

const RAW = { kind: 'raw', p: 10, inputScale: 1 } as const;
const LOGSIGN = { kind: 'logsign', p: 10, inputScale: 1 } as const;

/**
 * The reference code's settings: raw gradients, sum of losses, no clipping, one trajectory per
 * meta-step, meta learning rates 1e-3 (update LSTM) and 1e-4 (teleport LSTM, also the step-size
 * LSTM of LSTM(lr,tele)).
 */
function referencePreset(name: VariantName): { variant: VariantConfig; train: TrainConfig } {
  const train: TrainConfig = {
    seed: 0,
    trajectories: 700,
    epochs: 1,
    trajectoryLength: 100,
    unroll: 10,
    batch: 1,
    lrUpdate: 1e-3,
    lrTele: 1e-4,
    lrSchedule: 'constant',
    lrFloor: 1,
    clip: 0,
    lossWeighting: 'sum',
    estimator: { kind: 'tbptt' },
    evalEvery: 0,
    valTrajectories: 5,
    valSteps: 100,
    warmStart: null,
  };
  const base: VariantConfig = { name, lr: 3e-4, update: null, tele: null, preprocess: RAW, secondOrder: false };
  switch (name) {
    case 'GD':
      return { variant: base, train: { ...train, trajectories: 1 } };
    case 'LSTM(update)':
      return { variant: { ...base, update: { hidden: 300, outputScale: 1, clamp: 1e7, gdSkip: 0, lrScaleRange: 0 } }, train: { ...train, trajectories: 600 } };
    case 'LSTM(lr,tele)':
      return {
        variant: { ...base, tele: { hidden: 20, magnitude: 0.01, action: 'inverse', inverse: 'host', lrHead: { min: 1e-7, max: 5e-3, param: 'clamp' }, headScale: 1, direction: 'none', learnedMagnitude: false } },
        train: { ...train, trajectories: 30, trajectoryLength: 300 },
      };
    case 'LSTM(update,tele)':
      return {
        variant: {
          ...base,
          update: { hidden: 300, outputScale: 1, clamp: 1e7, gdSkip: 0, lrScaleRange: 0 },
          tele: { hidden: 300, magnitude: 0.01, action: 'inverse', inverse: 'host', lrHead: null, headScale: 1, direction: 'none', learnedMagnitude: false },
        },
        train,
      };
  }
}

/**
 * Our recipe. What changed and why (see docs/results/learning-to-teleport.md):
 * log-magnitude+sign inputs (the raw gradient spans 1e-3..1e5 and saturates the gates), a
 * small output scale plus a fixed gradient-descent term (the LSTM learns a correction to GD
 * rather than the whole step, so an untrained optimizer is GD, not noise), the meta-loss as
 * the mean log loss (the sum of losses is dominated by the first window, so late steps are
 * never trained), clipped meta-gradients and batched trajectories.
 */
function tunedPreset(name: VariantName): { variant: VariantConfig; train: TrainConfig } {
  const p = referencePreset(name);
  const train: TrainConfig = {
    ...p.train,
    batch: 8,
    clip: 1,
    lossWeighting: 'log',
    lrUpdate: 1e-3,
    lrTele: 1e-3,
    lrSchedule: 'cosine',
    lrFloor: 0.05,
    evalEvery: 2,
    valTrajectories: 16,
  };
  const update = { hidden: 300, outputScale: 0.01, clamp: 0, gdSkip: 3e-4, lrScaleRange: 2 };
  const tele = { hidden: 300, magnitude: 0.05, action: 'inverse', inverse: 'host', lrHead: null, headScale: 0.01, direction: 'w2', learnedMagnitude: true } as const;
  switch (name) {
    case 'GD':
      return p;
    case 'LSTM(update)':
      return { variant: { ...p.variant, preprocess: LOGSIGN, update }, train: { ...train, trajectories: 200 } };
    case 'LSTM(lr,tele)':
      return {
        variant: { ...p.variant, preprocess: LOGSIGN, tele: { ...tele, hidden: 20, lrHead: { min: 1e-7, max: 5e-3, param: 'logsigmoid' } } },
        train: { ...train, trajectories: 30, epochs: 5 },
      };
    case 'LSTM(update,tele)':
      // Teleport size cap 0.2: with 0.05 the learned size sat at the cap from step ~5 in every
      // meta-seed; with 0.2 the validation score improved for all three (docs/results/learning-to-teleport.md).
      return { variant: { ...p.variant, preprocess: LOGSIGN, update, tele: { ...tele, magnitude: 0.2 } }, train: { ...train, trajectories: 200 } };
  }
}

/** The paper's text (section 5.2): the reference's recipe with meta learning rates 1e-4 (m1) and 1e-3 (m2). */
function paperPreset(name: VariantName): { variant: VariantConfig; train: TrainConfig } {
  const p = referencePreset(name);
  return { ...p, train: { ...p.train, lrUpdate: 1e-4, lrTele: 1e-3 } };
}

export function preset(name: VariantName, recipe: Recipe): { variant: VariantConfig; train: TrainConfig } {
  return recipe === 'reference' ? referencePreset(name) : recipe === 'paper' ? paperPreset(name) : tunedPreset(name);
}

export interface ResolvedVariant {
  label: string;
  name: VariantName;
  variant: VariantConfig;
  train: TrainConfig;
}

/**
 * Preset + overrides of one entry (raw or decoded), decoded strictly under context `c` (the
 * entry's place in the experiment): the problems name their full path, e.g.
 * `variants[2].train.batch`. Entries without a valid name have no preset: the shape reports them.
 */
function resolveEntry(entry: unknown, recipe: Recipe, c: t.Context): E.Either<t.Errors, ResolvedVariant> | null {
  if (!isPlainObject(entry) || !VariantEntryCodec.props.name.is(entry.name)) return null;
  const name = entry.name;
  const own = entry.recipe;
  const p = preset(name, typeof own === 'string' && (RECIPES as readonly string[]).includes(own) ? (own as Recipe) : recipe);
  const label = typeof entry.label === 'string' ? entry.label : name;
  const override = (key: 'variant' | 'train') => (isPlainObject(entry[key]) ? entry[key] : {});
  const vRaw = deepMerge({ ...p.variant, name: label }, override('variant'));
  const trRaw = deepMerge(p.train, override('train'));
  const v = VariantCodec.validate(vRaw, t.appendContext(c, 'variant', VariantCodec, vRaw));
  const tr = TrainCodec.validate(trRaw, t.appendContext(c, 'train', TrainCodec, trRaw));
  const errors = [...(E.isLeft(v) ? v.left : []), ...(E.isLeft(tr) ? tr.left : [])];
  if (E.isLeft(v) || E.isLeft(tr)) return E.left(errors);
  return E.right({ label, name, variant: v.right as VariantConfig, train: tr.right as TrainConfig });
}

/**
 * Every variant entry resolved, or every problem of every entry and across entries (warm
 * starts, labels), each at its path under `c` (the experiment's context).
 */
function resolveEntries(entries: readonly unknown[], recipe: Recipe, c: t.Context): E.Either<t.Errors, ResolvedVariant[]> {
  const variantsCodec = MetaShape.props.variants;
  const at = t.appendContext(c, 'variants', variantsCodec, entries);
  const errors: t.ValidationError[] = [];
  const out: ResolvedVariant[] = [];
  entries.forEach((entry, i) => {
    const r = resolveEntry(entry, recipe, t.appendContext(at, String(i), VariantEntryCodec, entry));
    if (r !== null && E.isLeft(r)) errors.push(...r.left);
    else if (r !== null) out.push(r.right);
  });
  // checks across entries need them all (an entry without a valid name is the shape's problem)
  if (out.length < entries.length) return E.left(errors);
  out.forEach((_, i) => {
    const problem = warmStartProblem(out, i);
    if (problem) errors.push(problemAt(at, [[String(i), VariantEntryCodec], ['train', TrainCodec], ['warmStart', TrainCodec.props.warmStart]], problem));
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
    const recipe = MetaShape.props.recipe.is(u.recipe) ? u.recipe : 'tuned';
    const r = resolveEntries(u.variants, recipe, c);
    if (E.isLeft(r)) errors.push(...r.left);
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

/** The variants of a decoded experiment with presets and overrides applied; a bad entry is a ConfigError naming its path. */
export function resolveAll(exp: MetaExperiment, source: string): E.Either<ConfigError, ResolvedVariant[]> {
  const r = resolveEntries(exp.variants, exp.recipe, [{ key: '', type: MetaExperimentCodec, actual: exp }]);
  return E.isLeft(r) ? E.left(new ConfigError(source, reportErrors(r.left))) : r;
}

/** The experiment's variants with presets and overrides applied; a bad entry throws its ConfigError. */
export function resolveOrThrow(exp: MetaExperiment, source: string): ResolvedVariant[] {
  const r = resolveAll(exp, source);
  if (E.isLeft(r)) throw r.left;
  return r.right;
}

/** Why entry i's warm start cannot work (it must name an earlier variant with the same update LSTM), or null. */
function warmStartProblem(all: readonly ResolvedVariant[], i: number): string | null {
  const from = all[i].train.warmStart;
  if (from === null) return null;
  const j = all.findIndex((r) => r.label === from);
  if (j < 0 || j >= i) return `expected the label of an earlier variant, got "${from}"`;
  const [a, b] = [all[i].variant, all[j].variant];
  if (!a.update) return 'this variant has no update LSTM to start';
  if (!b.update || b.update.hidden !== a.update.hidden || b.preprocess.kind !== a.preprocess.kind) {
    return `"${from}" has no update LSTM of the same size and inputs`;
  }
  return null;
}


