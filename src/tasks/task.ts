// Inner problems for meta-learning, batched: a TaskFamily samples B problems of a split by id;
// the resulting Task gives their initial parameters, losses and gradients in lockstep (every
// tensor has a leading [B]). A task that knows its parameter-space symmetry exposes it, so a
// teleporting optimizer (hand-designed or learned) can act on any task of that kind.
import * as tf from '@tensorflow/tfjs';
import { rescaleFrobenius } from '../symmetry/action.js';

export type Split = 'train' | 'val' | 'heldout';

/** GL(n) symmetry of a task: one group element per hidden layer (between consecutive layers). */
export interface TaskSymmetry {
  /** n of each GL(n), in layer order. */
  readonly groupSizes: readonly number[];
  /**
   * g . params for group elements `gs` ([B, n_i, n_i] each, same order as groupSizes), acting on
   * the data of inner step `step`; the loss at the result equals the loss at `params` (up to
   * rounding) for invertible g where the task's action is exact for its data; a mini-batch task
   * may drift (classification: exact only for k <= every hidden width). Differentiable (second order where the task says so).
   * `inverses`, when given, stand in for g^-1 (an approximation such as I - T, or an inverse
   * computed elsewhere); otherwise the task inverts g itself.
   */
  act(params: readonly tf.Tensor[], gs: readonly tf.Tensor3D[], step: number, inverses?: readonly tf.Tensor3D[]): tf.Tensor[];
  /** Names of the candidate directions, in the order `directions` lists them ('gradNorm' first). */
  readonly directionKinds: readonly string[];
  /**
   * Size-agnostic candidate directions in each group's Lie algebra: per hidden layer, a list of
   * [B, n_i, n_i] tensors (unit Frobenius norm per problem). The first of each list is the
   * first-order ascent direction of the squared gradient norm, so a teleport towards a larger
   * gradient is always among them. Differentiable: a caller that treats them as constants
   * detaches them (stopGradient from src/ops/activations).
   */
  directions(params: readonly tf.Tensor[], grads: readonly tf.Tensor[], step: number): tf.Tensor3D[][];
  /**
   * One kind of `directions` (per hidden layer), the same tensors without computing the others;
   * a task that lacks it is asked for all of them.
   */
  direction?(params: readonly tf.Tensor[], grads: readonly tf.Tensor[], step: number, kind: string): tf.Tensor3D[];
}

/** The candidate direction of one kind per hidden layer, through `direction` where the task has it. */
export function directionOf(sym: TaskSymmetry, params: readonly tf.Tensor[], grads: readonly tf.Tensor[], step: number, kind: string): tf.Tensor3D[] {
  if (sym.direction) return sym.direction(params, grads, step, kind);
  const i = sym.directionKinds.indexOf(kind);
  return sym.directions(params, grads, step).map((l) => l[i]);
}

/** Per-problem unit Frobenius norm of [B, n, n] directions (a zero direction stays zero). */
export const unitDirection = (d: tf.Tensor): tf.Tensor3D => rescaleFrobenius(d as tf.Tensor3D, 1);

/** B problems of one family, advanced in lockstep. Owns its tensors until `dispose`. */
export interface Task {
  /** Problems in the batch (B). */
  readonly size: number;
  /** Shape of each parameter without the leading [B]. */
  readonly paramShapes: readonly (readonly number[])[];
  /** Fresh initial parameters, each [B, ...shape] (the caller owns them). */
  init(): tf.Tensor[];
  /**
   * Loss [B] at `params` on the data of inner step `step` (a mini-batch task picks its batch by
   * step) and its gradients, in closed form or by autodiff; differentiable again, so a
   * meta-gradient can flow through it.
   */
  lossAndGrads(params: readonly tf.Tensor[], step: number): { loss: tf.Tensor1D; grads: tf.Tensor[] };
  /** Loss [B] at `params` on the data of step `step`. */
  loss(params: readonly tf.Tensor[], step: number): tf.Tensor1D;
  readonly symmetry?: TaskSymmetry;
  dispose(): void;
}

/** A distribution over problems; problem `id` of a split is the same on every call. */
export interface TaskFamily {
  /** A short description for logs ("regression 20x20x20, slope 0.1"). */
  readonly name: string;
  sample(seed: number, split: Split, ids: readonly number[]): Task;
}
