// Gradient estimators by config `kind`. A new estimator is one file exporting a part entry
// { kind, codec, create } (create: its fields -> an EstimatorFactory) plus one
// `registerEstimator` line (here for the built-in ones, in a plugin for a user's own).
import { PartRegistry, type PartConfig, type PartEntry } from '../../config/parts.js';
import type { EstimatorFactory, GradientEstimator } from '../estimator.js';
import type { LearnedOptimizer } from '../learned/learned.js';
import type { LossWeighting } from '../truncated.js';
import { pesEntry } from './pes.js';
import { tbpttEntry } from './tbptt.js';

export const estimators = new PartRegistry<EstimatorFactory>('gradient estimator');

export const registerEstimator = <C>(entry: PartEntry<EstimatorFactory, C>): void => estimators.register(entry);

registerEstimator(tbpttEntry);
registerEstimator(pesEntry);

/** An estimator config: `{ kind, ...its fields }`. */
export const EstimatorConfig = estimators.codec;
export type EstimatorConfig = PartConfig;

export const makeEstimator = (cfg: EstimatorConfig, learned: LearnedOptimizer, weighting: LossWeighting): GradientEstimator =>
  estimators.create(cfg)(learned, weighting);
