// A learned optimizer is meta-parameters plus a function from them to an ordinary Optimizer
// (src/optim/types.ts) for a given task: training, evaluation and the teleport wrapper all go
// through that one `step`. Modules are namespaced in the meta-parameters ({update: ..., tele: ...}),
// each trained at its own meta learning rate.
import type * as tf from '@tensorflow/tfjs';
import type { WeightGradSink } from '../../nn/lstm.js';
import type { Optimizer } from '../../optim/types.js';
import type { Stream } from '../../rng/index.js';
import type { Task } from '../../tasks/task.js';
import type { MetaParams } from '../params.js';

/** Per-step diagnostics a learned optimizer may report, each [B]. */
export interface StepStats {
  /** ||update||. */
  updateNorm?: tf.Tensor1D;
  /** ||g - I||_F (over all group elements). */
  teleDist?: tf.Tensor1D;
  /** Learned step size. */
  eta?: tf.Tensor1D;
}

/** State of a learned optimizer: whatever it carries (recurrent states, step) plus the last step's stats. */
export interface LearnedState {
  readonly step: number;
  /** Tensors owned by the state (disposed with it). */
  readonly tensors: readonly tf.Tensor[];
  readonly stats?: StepStats;
}

/** What a learned optimizer may size itself by: parameter shapes and the task's symmetry. */
export type TaskShape = Pick<Task, 'paramShapes' | 'symmetry'>;

export interface LearnedOptimizer<S extends LearnedState = LearnedState> {
  readonly name: string;
  /** Module names and their meta learning-rate keys, e.g. {update: 'update', tele: 'tele'}. */
  readonly modules: readonly string[];
  /** Fresh meta-parameters (a size-agnostic optimizer ignores the task's shapes). */
  init(rng: Stream, task: TaskShape): MetaParams;
  /**
   * The optimizer these meta-parameters define on `task` (its data, shapes and symmetry). Its
   * `step` allocates and may be called under a tape: meta-gradients flow through it. The
   * `secondOrder: false` variants cut the gradient input out of the tape.
   */
  optimizer(meta: MetaParams, task: Task, sinks?: Sinks): Optimizer<S>;
  /**
   * true: `optimizer` routes every LSTM weight matmul through the given per-module sinks, so
   * truncated backprop may take the weights' gradients from them (see WeightGradSink);
   * otherwise it differentiates every meta-parameter through the tape.
   */
  readonly usesSinks?: boolean;
}

/** Deferred weight gradients per module (truncated backprop's memory saver). */
export type Sinks = Partial<Record<string, WeightGradSink>>;

export const disposeLearnedState = (s: LearnedState): void => {
  for (const t of s.tensors) t.dispose();
  if (s.stats) for (const t of Object.values(s.stats)) t?.dispose();
};
