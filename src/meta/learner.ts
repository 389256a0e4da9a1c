// The learner: takes a combined gradient estimate, clips it per module, and steps the outer
// optimizer (Adam from src/optim, one per module so each trains at its own meta learning rate)
// on a schedule. It never sees a trajectory: estimates come from a ShardPool.
import * as tf from '@tensorflow/tfjs';
import { optimizer } from '../optim/hand.js';
import { disposeState, type OptimizerState } from '../optim/state.js';
import type { Estimate } from './estimator.js';
import type { MetaParams } from './params.js';

export type OuterStates = Record<string, OptimizerState>;

const names = (m: MetaParams, mod: string) => Object.keys(m[mod]).sort();
const list = (m: MetaParams, mod: string) => names(m, mod).map((k) => m[mod][k]);

export function outerInit(meta: MetaParams): OuterStates {
  return Object.fromEntries(Object.keys(meta).map((mod) => [mod, optimizer({ name: 'adam', lr: 1 }).init(list(meta, mod))]));
}

export function disposeOuter(o: OuterStates): void {
  for (const s of Object.values(o)) disposeState(s);
}

/** Global L2 norm of a group of gradients (a host number). */
export function globalNorm(gs: readonly tf.Tensor[]): number {
  if (gs.length === 0) return 0;
  return tf.tidy(() => Math.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
}

export interface LearnerStep {
  meta: MetaParams;
  outer: OuterStates;
  /** Pre-clip gradient norm per module. */
  norms: Record<string, number>;
  /** false: the estimate was not finite and nothing changed (inputs returned as they are). */
  applied: boolean;
}

/**
 * One outer step. `lr(mod)` is the module's meta learning rate at this point of the schedule;
 * each module's gradient is clipped to global norm `clip` (0 = none). On success the old meta
 * and outer states are disposed; the estimate never is.
 */
export function learnerStep(meta: MetaParams, outer: OuterStates, est: Estimate, lr: (mod: string) => number, clip: number): LearnerStep {
  const mods = Object.keys(meta).sort();
  const norms: Record<string, number> = {};
  for (const mod of mods) norms[mod] = globalNorm(list(est.grads, mod));
  if (!est.finite || !Number.isFinite(est.metaLoss) || !Object.values(norms).every(Number.isFinite)) {
    return { meta, outer, norms, applied: false };
  }
  const nextMeta: MetaParams = {};
  const nextOuter: OuterStates = {};
  for (const mod of mods) {
    const s = clip > 0 && norms[mod] > clip ? clip / norms[mod] : 1;
    const grads = list(est.grads, mod).map((g) => (s === 1 ? g : tf.mul(g, s)));
    const r = optimizer({ name: 'adam', lr: lr(mod) }).step(list(meta, mod), grads, outer[mod]);
    if (s !== 1) tf.dispose(grads);
    nextMeta[mod] = Object.fromEntries(names(meta, mod).map((k, i) => [k, r.params[i]]));
    nextOuter[mod] = r.state;
  }
  for (const mod of mods) tf.dispose(list(meta, mod));
  disposeOuter(outer);
  return { meta: nextMeta, outer: nextOuter, norms, applied: true };
}
