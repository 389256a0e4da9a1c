// From plain config to the parts of a meta-training run: the task family, the learned
// optimizer and the gradient estimator. A RunSpec is JSON, so a worker thread or a remote
// worker builds the same parts from what the learner sends it.
import { taskFamily, type TaskConfig } from '../tasks/registry.js';
import type { TaskFamily } from '../tasks/task.js';
import type { GradientEstimator } from './estimator.js';
import { makeEstimator, type EstimatorConfig } from './estimators/registry.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { makeLearned, paperConfig, type LearnedConfig } from './learned/registry.js';
import type { VariantConfig } from './variant.js';
import type { ShardWorkerParts } from './shards.js';
import type { LossWeighting } from './truncated.js';

export interface RunSpec {
  task: TaskConfig;
  learned: LearnedConfig;
  estimator: EstimatorConfig;
  lossWeighting: LossWeighting;
}

export interface RunParts extends ShardWorkerParts {
  family: TaskFamily;
  learned: LearnedOptimizer;
  estimator: GradientEstimator;
}

export function buildRunParts(spec: RunSpec): RunParts {
  const learned = makeLearned(spec.learned);
  return { family: taskFamily(spec.task), learned, estimator: makeEstimator(spec.estimator, learned, spec.lossWeighting) };
}

/** The run of a paper variant on `task` with the estimator and loss weighting of its meta-training settings. */
export const paperRunSpec = (task: TaskConfig, variant: VariantConfig, train: Pick<RunSpec, 'estimator' | 'lossWeighting'>): RunSpec => ({
  task,
  learned: paperConfig(variant),
  estimator: train.estimator,
  lossWeighting: train.lossWeighting,
});

/** The parts a gradient worker needs (the same as the learner's). */
export const buildShardWorkerParts = (spec: RunSpec): ShardWorkerParts => buildRunParts(spec);
