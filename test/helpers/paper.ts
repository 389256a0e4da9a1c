// The paper's variants as the tests use them: the fields of a 'paper' learned optimizer and the
// meta-training settings of a preset of experiments/presets/ (GD, a baseline there, as the
// 'paper' optimizer without modules, which steps exactly as the sgd baseline does).
import { resolvePreset, isBaseline } from '../../src/meta/config.js';
import type { TrainConfig } from '../../src/meta/train.js';
import type { VariantConfig } from '../../src/meta/variant.js';

export type PaperVariant = 'GD' | 'LSTM(update)' | 'LSTM(lr,tele)' | 'LSTM(update,tele)';
export type Recipe = 'reference' | 'paper' | 'tuned';

const PAPER_GD: VariantConfig = { lr: 3e-4, update: null, tele: null, preprocess: { kind: 'raw', p: 10, inputScale: 1 }, secondOrder: false };

/** A paper variant's fields and meta-training settings under a recipe. */
export function paperPreset(name: PaperVariant, recipe: Recipe = 'tuned'): { variant: VariantConfig; train: TrainConfig } {
  const e = resolvePreset(`${recipe}/${name === 'GD' ? 'LSTM(update)' : name}`);
  if (isBaseline(e)) throw new Error('unreachable');
  if (name === 'GD') return { variant: PAPER_GD, train: e.train };
  const { kind: _, ...variant } = e.learned;
  return { variant: variant as VariantConfig, train: e.train };
}

/** A learned entry of an experiment for a paper variant's fields. */
export const paperEntry = (label: string, variant: VariantConfig, train: TrainConfig, estimator: { kind: string } & Record<string, unknown> = { kind: 'tbptt' }) => ({
  label,
  learned: { kind: 'paper', ...variant },
  train,
  estimator,
});
