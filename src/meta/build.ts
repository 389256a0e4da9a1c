// From plain config to the parts of a meta-training run: the task family, the learned
// optimizer and the gradient estimator. A RunSpec is JSON, so a worker thread or a remote
// worker builds the same parts from what the learner sends it.
import { taskFamily, type TaskConfig } from '../tasks/registry.js';
import type { TaskFamily } from '../tasks/task.js';
import type { GradientEstimator } from './estimator.js';
import { makeEstimator, type EstimatorConfig } from './estimators/registry.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { paperLearned } from './learned/paper.js';
import type { ShardWorkerParts } from './shards.js';
import type { LossWeighting } from './truncated.js';
import type { VariantConfig } from './variant.js';

export interface RunSpec {
  task: TaskConfig;
  variant: VariantConfig;
  estimator: EstimatorConfig;
  lossWeighting: LossWeighting;
}

export interface RunParts extends ShardWorkerParts {
  family: TaskFamily;
  learned: LearnedOptimizer;
  estimator: GradientEstimator;
}

export function buildRunParts(spec: RunSpec): RunParts {
  const learned = paperLearned(spec.variant);
  return { family: taskFamily(spec.task), learned, estimator: makeEstimator(spec.estimator, learned, spec.lossWeighting) };
}

/** The parts a gradient worker needs (the same as the learner's). */
export const buildShardWorkerParts = (spec: RunSpec): ShardWorkerParts => buildRunParts(spec);
