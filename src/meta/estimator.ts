// Gradient estimators of outer (meta) training, the seam between a learner and its workers:
// an estimator owns the inner trajectories of a shard of problems (their parameters, optimizer
// state and its own bookkeeping: the worker state) and turns one truncation window of them into
// an estimate of the meta-gradient. Only meta-parameters go in and estimates come out, so the
// same estimator runs in-process, on worker threads or behind a queue.
import * as tf from '@tensorflow/tfjs';
import type { Task } from '../tasks/task.js';
import type { MetaParams } from './params.js';
import type { LearnedOptimizer } from './learned/learned.js';
import type { LossWeighting } from './truncated.js';

/** Where a shard's trajectories sit in the run: all randomness derives from these. */
export interface ShardContext {
  /** Seed of the meta-training run. */
  seed: number;
  /** Index of the batch of trajectories (over all epochs). */
  batch: number;
  /** Problem ids of the shard (ids of the 'train' split), in order. */
  ids: readonly number[];
}

/** One window's estimate over a shard (host numbers except the gradients). */
export interface Estimate {
  /** Mean meta-gradient over the shard's trajectories, shaped like the meta-parameters. */
  grads: MetaParams;
  /** Trajectories the mean is over (the weight when shards are combined). */
  weight: number;
  /** Mean meta-loss of the window over the shard. */
  metaLoss: number;
  /** Mean inner loss before each step of the window, over the shard. */
  meanLoss: number[];
  /** false when a trajectory diverged (non-finite loss or a singular group element): grads are zeros then. */
  finite: boolean;
  /** Seconds the shard's window took where it ran (set by ShardRunner). */
  seconds?: number;
  /** Who computed it, when not this process (a worker thread, a Redis worker). */
  worker?: string;
  /** Meta-parameter versions behind the learner's newest when it was computed (Redis asynchronous mode). */
  staleness?: number;
}

export interface GradientEstimator<S = unknown> {
  readonly name: string;
  /** Start the shard's trajectories on `task` (sampled for ctx.ids; the state owns nothing of it). */
  init(meta: MetaParams, task: Task, ctx: ShardContext): S;
  /** Advance the shard by one window of `length` inner steps under `meta`; the old state is disposed. */
  estimate(meta: MetaParams, task: Task, state: S, length: number): { estimate: Estimate; state: S };
  dispose(state: S): void;
}

/**
 * Combine shard estimates into one, weighted by trajectory count, summed in the given order
 * (fixed by shard index, so the result does not depend on which worker finished first).
 * Inputs are not disposed. Not finite when any shard is not.
 */
export function combineEstimates(es: readonly Estimate[]): Estimate {
  if (es.length === 0) throw new Error('combineEstimates: no estimates');
  const total = es.reduce((a, e) => a + e.weight, 0);
  const grads: MetaParams = {};
  for (const mod of Object.keys(es[0].grads)) {
    grads[mod] = {};
    for (const k of Object.keys(es[0].grads[mod])) {
      grads[mod][k] = tf.tidy(() => es.map((e) => tf.mul(e.grads[mod][k], e.weight / total)).reduce((a, b) => tf.add(a, b)));
    }
  }
  const steps = es[0].meanLoss.length;
  const meanLoss = Array.from({ length: steps }, (_, i) => es.reduce((a, e) => a + e.meanLoss[i] * e.weight, 0) / total);
  return {
    grads,
    weight: total,
    metaLoss: es.reduce((a, e) => a + e.metaLoss * e.weight, 0) / total,
    meanLoss,
    finite: es.every((e) => e.finite),
  };
}

export function disposeEstimate(e: Estimate): void {
  for (const m of Object.values(e.grads)) tf.dispose(Object.values(m));
}

/**
 * What an estimator's registry entry creates from its config: the estimator for a learned
 * optimizer and a meta-loss weighting (both set per experiment entry).
 */
export type EstimatorFactory = (learned: LearnedOptimizer, weighting: LossWeighting) => GradientEstimator;
