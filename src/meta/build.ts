// From plain config to the parts of a meta-training run: the task family, the learned
// optimizer and the gradient estimator. A RunSpec is JSON, so a worker thread or a remote
// worker builds the same parts from what the learner sends it.
import { taskFamily, type TaskConfig } from '../tasks/registry.js';
import type { TaskFamily } from '../tasks/task.js';
import type { GradientEstimator } from './estimator.js';
import { makeEstimator, type EstimatorConfig } from './estimators/registry.js';
import type { LearnedOptimizer } from './learned/learned.js';
import { makeLearned, type LearnedConfig } from './learned/registry.js';
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

/** The run of a learned experiment entry on `task`: its optimizer, estimator and meta-loss weighting. */
export const entryRunSpec = (task: TaskConfig, entry: { learned: LearnedConfig; estimator: EstimatorConfig; train: { lossWeighting: LossWeighting } }): RunSpec => ({
  task,
  learned: entry.learned,
  estimator: entry.estimator,
  lossWeighting: entry.train.lossWeighting,
});

/** The parts a gradient worker needs (the same as the learner's). */
export const buildShardWorkerParts = (spec: RunSpec): ShardWorkerParts => buildRunParts(spec);
