// Inner trajectories in lockstep and truncation windows over them: the pieces every gradient
// estimator and the evaluation share. A trajectory batch is a value (parameters, optimizer
// state, step); a step calls the task for loss and gradients and the optimizer's own `step`.
import * as tf from '@tensorflow/tfjs';
import { unaryCustomOp } from '../ops/custom.js';
import { shareOrClone } from '../ops/tape-overrides.js';
import type { Optimizer } from '../optim/types.js';
import { stateTensors, type OptimizerState } from '../optim/state.js';
import type { Task } from '../tasks/task.js';
import type { LearnedState, StepStats } from './learned/learned.js';

export interface Trajectories<S> {
  params: tf.Tensor[];
  opt: S;
  /** Inner steps taken. */
  step: number;
}

/**
 * How the losses of a window make the meta-loss (always over L(w_{t+1}) .. L(w_{t+U}), the
 * losses after each update, averaged over the B problems):
 * 'sum' the reference (sum of losses); 'mean' the same / U; 'log' mean of log losses, which
 * weighs a halving of the loss equally early (L ~ 1e5) and late (L ~ 10).
 */
export type LossWeighting = 'sum' | 'mean' | 'log';

/** Tensors an optimizer state owns: a learned state lists them, a hand-designed one has slots. */
export function ownedTensors(s: unknown): tf.Tensor[] {
  if (s && typeof s === 'object' && 'tensors' in s) {
    const l = s as LearnedState;
    return [...l.tensors, ...Object.values(l.stats ?? {}).filter((t): t is tf.Tensor1D => t !== undefined)];
  }
  if (s && typeof s === 'object' && 'slots' in s) return stateTensors(s as OptimizerState);
  return [];
}

export const trajectoryTensors = <S>(tr: Trajectories<S>): tf.Tensor[] => [...tr.params, ...ownedTensors(tr.opt)];

export function disposeTrajectories<S>(tr: Trajectories<S>): void {
  tf.dispose(trajectoryTensors(tr));
}

export function startTrajectories<S>(opt: Optimizer<S>, task: Task): Trajectories<S> {
  const params = task.init();
  return { params, opt: opt.init(params), step: 0 };
}

export interface InnerStep<S> {
  next: Trajectories<S>;
  /** Loss before the step, [B]. */
  loss: tf.Tensor1D;
  /** Squared gradient norm before the step, [B]. */
  gradNormSq: tf.Tensor1D;
  stats: StepStats;
}

/** One step of every trajectory. Allocates; run under tidy or a tape. */
export function innerStep<S>(opt: Optimizer<S>, task: Task, tr: Trajectories<S>): InnerStep<S> {
  const { loss, grads } = task.lossAndGrads(tr.params, tr.step);
  const gradNormSq = tf.addN(grads.map((g) => tf.sum(tf.square(g), g.shape.slice(1).map((_, i) => i + 1)))) as tf.Tensor1D;
  const r = opt.step(tr.params, grads, tr.opt);
  const stats = (r.state as Partial<LearnedState>).stats ?? {};
  return { next: { params: r.params, opt: r.state, step: tr.step + 1 }, loss, gradNormSq, stats };
}

export function windowLossTerm(l: tf.Tensor1D, w: LossWeighting): tf.Scalar {
  return (w === 'log' ? meanLog(l) : tf.mean(l)) as tf.Scalar;
}

/**
 * mean(log(l + 1e-12)) with the stock backward's numbers in two kernels instead of four:
 * (dy / B) / (l + 1e-12), the quotient by B first as tf.mean's gradient takes it (its product
 * with ones and its reshape are exact). First order: the meta-loss is differentiated once.
 */
const meanLog = unaryCustomOp((l, save) => {
  const shifted = tf.add(l, 1e-12);
  save([shifted]);
  return {
    value: tf.mean(tf.log(shifted)),
    gradFunc: (dy, [s]) => tf.div(tf.div(dy, s.size), s),
  };
});

/**
 * tf.addN of the window's loss terms, whose gradient hands each term the upstream gradient
 * itself (a shared buffer) rather than a copy (an Identity kernel per term).
 */
export function sumTerms(terms: tf.Scalar[]): tf.Scalar {
  if (terms.length === 1) return terms[0];
  const op = tf.customGrad(((...args: unknown[]) => {
    const ts = args.slice(0, -1) as tf.Tensor[];
    return { value: tf.addN(ts), gradFunc: (dy: tf.Tensor) => ts.map(() => shareOrClone(dy)) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...ts: tf.Tensor[]) => tf.Scalar;
  return op(...terms);
}

export interface Window<S> {
  next: Trajectories<S>;
  /** The window's meta-loss. */
  value: tf.Scalar;
  /** Mean loss over the batch before each step of the window, [length]. */
  meanLoss: tf.Tensor1D;
}

/** `length` steps and the window's meta-loss; differentiable when run under a tape. */
export function unrollWindow<S>(opt: Optimizer<S>, task: Task, tr0: Trajectories<S>, length: number, weighting: LossWeighting): Window<S> {
  let tr = tr0;
  const terms: tf.Scalar[] = [];
  const means: tf.Scalar[] = [];
  for (let k = 0; k < length; k++) {
    const r = innerStep(opt, task, tr);
    if (k > 0) terms.push(windowLossTerm(r.loss, weighting));
    means.push(tf.mean(r.loss) as tf.Scalar);
    tr = r.next;
  }
  terms.push(windowLossTerm(task.loss(tr.params, tr.step), weighting));
  const total = sumTerms(terms);
  const value = (weighting === 'sum' ? total : tf.div(total, terms.length)) as tf.Scalar;
  return { next: tr, value, meanLoss: tf.stack(means) as tf.Tensor1D };
}

/** The truncation schedule: window lengths of one trajectory. */
export function windows(trajectoryLength: number, unroll: number): number[] {
  const w: number[] = [];
  for (let s = 0; s < trajectoryLength; s += unroll) w.push(Math.min(unroll, trajectoryLength - s));
  return w;
}
