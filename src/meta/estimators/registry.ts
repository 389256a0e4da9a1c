// Gradient estimators by config `kind`. A new estimator is one file plus one entry here.
import * as t from 'io-ts';
import { PositiveInt, PositiveNumber, strict, taggedUnion, withDefaults } from '../../config/codec.js';
import type { GradientEstimator } from '../estimator.js';
import type { LearnedOptimizer } from '../learned/learned.js';
import type { LossWeighting } from '../truncated.js';
import { pes } from './pes.js';
import { tbptt } from './tbptt.js';

export const EstimatorConfig = taggedUnion('kind', {
  /** Truncated backprop through each window (the paper's). */
  tbptt: strict({}, 'Tbptt'),
  /** Persistent evolution strategies, antithetic. */
  pes: withDefaults(strict({ sigma: PositiveNumber, pairs: PositiveInt }, 'Pes'), { sigma: 0.01, pairs: 1 }),
});
export type EstimatorConfig = t.TypeOf<typeof EstimatorConfig>;

export function makeEstimator(cfg: EstimatorConfig, learned: LearnedOptimizer, weighting: LossWeighting): GradientEstimator {
  switch (cfg.kind) {
    case 'tbptt':
      return tbptt(learned, weighting) as GradientEstimator;
    case 'pes':
      return pes(learned, weighting, cfg) as GradientEstimator;
  }
}
