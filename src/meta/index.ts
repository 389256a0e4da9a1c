// The meta-learning core as a library: tasks, learned optimizers, gradient estimators and
// baselines (each a registry of { kind, codec, create } entries), the trainer (truncated
// unrolls, the learner), evaluation, worker pools, and the experiment that ties them together.
export { PartRegistry, mlpTaskSize, type PartConfig, type PartEntry, type PartSize, type TaskShapeInfo } from '../config/parts.js';

// tasks
export type { Task, TaskFamily, TaskSymmetry, Split } from '../tasks/task.js';
export { unitDirection } from '../tasks/task.js';
export { taskFamilies, registerTaskFamily, taskFamily, TaskConfig } from '../tasks/registry.js';
export { mixtureFamily } from '../tasks/mixture.js';
export { regressionFamily, regressionTask, PAPER_REGRESSION_TASK, type RegressionFamilySpec } from '../tasks/regression.js';

// learned optimizers
export type { LearnedOptimizer, LearnedState, StepStats, TaskShape, Sinks } from './learned/learned.js';
export { disposeLearnedState } from './learned/learned.js';
export { learnedOptimizers, registerLearnedOptimizer, makeLearned, LearnedConfig } from './learned/registry.js';
export { paperLearned, paperEntry } from './learned/paper.js';
export { coordinatewise, coordinatewiseEntry } from './learned/coordinatewise.js';
export { withLearnedTeleport, teleportingEntry } from './learned/teleport.js';
export { VariantCodec, type VariantConfig } from './variant.js';
export { initLstm, lstmStep, zeroLstmState, lstmStateTensors, type LstmSpec, type LstmState } from '../nn/lstm.js';
export { cloneMeta, disposeMeta, mapMeta, metaTensors, type MetaParams } from './params.js';

// gradient estimators
export type { Estimate, EstimatorFactory, GradientEstimator, ShardContext } from './estimator.js';
export { combineEstimates, disposeEstimate } from './estimator.js';
export { estimators, registerEstimator, makeEstimator, EstimatorConfig } from './estimators/registry.js';
export { tbptt } from './estimators/tbptt.js';
export { pes } from './estimators/pes.js';
export { startTrajectories, innerStep, unrollWindow, disposeTrajectories, type LossWeighting, type Trajectories } from './truncated.js';

// baselines and entry presets
export { baselines, registerBaseline, makeBaseline, asLearned, BaselineConfig } from './baselines.js';
export { registerEntryPreset, registerPresetFile, entryPreset, entryPresetNames } from './entry-presets.js';

// the trainer and evaluation
export {
  TrainCodec,
  initTrainState,
  trainBatch,
  totalBatches,
  disposeTrainState,
  validate,
  validationScore,
  evaluate,
  runTrajectory,
  type TrainConfig,
  type MetaTrainState,
  type TrajectoryRecord,
  type WindowLog,
} from './train.js';
export { learnerStep, outerInit, disposeOuter, type OuterStates } from './learner.js';
export { buildRunParts, entryRunSpec, type RunSpec, type RunParts } from './build.js';
export { localShards, type ShardPool, type ShardWorkerParts } from './shards.js';
export { createShardPool, defaultWorkers, type CreatePoolOptions, type WorkerShardPool } from '../distributed/workers/index.js';

// the experiment: config, run, evaluation from checkpoints, report
export {
  MetaExperimentCodec,
  resolveAll,
  resolveOrThrow,
  resolvePreset,
  resolveLearnedPreset,
  resolvedExperiment,
  isBaseline,
  isTrained,
  evalTasksOf,
  type EvalTask,
  type MetaExperiment,
  type ResolvedEntry,
  type LearnedEntry,
  type BaselineEntry,
} from './config.js';
export { trainAndEvaluate, trainAndEvaluate as runExperiment, evaluateFromCheckpoints, type ExperimentOptions } from './experiment.js';
export { trainVariant, loadTrained, evaluateAll, evaluateTasks, tuneBaseline, type TrainedVariant, type TrainRunOptions } from './run.js';
export { resultsByTask, type EvalResults, type MetaResults, type VariantResult } from './report.js';
