// Adam over a named parameter record, as pure functions over explicit state (checkpointable:
// the moments are ordinary tensors keyed like the parameters). Per-parameter learning rates
// let m1 and m2 train at different rates; clipping by global norm is per group.
import * as tf from '@tensorflow/tfjs';
import type { Params } from '../nn/lstm.js';

export interface AdamState {
  step: number;
  m: Params;
  v: Params;
}

export interface AdamConfig {
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_ADAM: AdamConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export function adamInit(params: Params): AdamState {
  const m: Params = {};
  const v: Params = {};
  for (const [k, p] of Object.entries(params)) {
    m[k] = tf.zerosLike(p);
    v[k] = tf.zerosLike(p);
  }
  return { step: 0, m, v };
}

/** Global L2 norm of a group of gradients (a host number). */
export function globalNorm(gs: readonly tf.Tensor[]): number {
  if (gs.length === 0) return 0;
  return tf.tidy(() => Math.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
}

/** Scale each group so its global norm is at most `clip` (0 = no clipping). Returns new grads and pre-clip norms. */
export function clipGroups(
  grads: Params,
  groupOf: (name: string) => string,
  clip: number,
): { grads: Params; norms: Record<string, number> } {
  const groups: Record<string, string[]> = {};
  for (const k of Object.keys(grads)) (groups[groupOf(k)] ??= []).push(k);
  const norms: Record<string, number> = {};
  const out: Params = {};
  for (const [g, names] of Object.entries(groups)) {
    const n = globalNorm(names.map((k) => grads[k]));
    norms[g] = n;
    const s = clip > 0 && n > clip ? clip / n : 1;
    for (const k of names) out[k] = s === 1 ? tf.clone(grads[k]) : tf.mul(grads[k], s);
  }
  return { grads: out, norms };
}

/** One Adam step; returns new params and state (inputs are not disposed). */
export function adamStep(
  params: Params,
  grads: Params,
  state: AdamState,
  lrOf: (name: string) => number,
  cfg: AdamConfig = DEFAULT_ADAM,
): { params: Params; state: AdamState } {
  const t = state.step + 1;
  const bc1 = 1 - Math.pow(cfg.beta1, t);
  const bc2 = 1 - Math.pow(cfg.beta2, t);
  const np: Params = {};
  const m: Params = {};
  const v: Params = {};
  for (const k of Object.keys(params)) {
    const g = grads[k];
    [np[k], m[k], v[k]] = tf.tidy(() => {
      const mk = tf.add(tf.mul(state.m[k], cfg.beta1), tf.mul(g, 1 - cfg.beta1));
      const vk = tf.add(tf.mul(state.v[k], cfg.beta2), tf.mul(tf.square(g), 1 - cfg.beta2));
      const upd = tf.div(tf.div(mk, bc1), tf.add(tf.sqrt(tf.div(vk, bc2)), cfg.eps));
      return [tf.sub(params[k], tf.mul(upd, lrOf(k))), mk, vk];
    });
  }
  return { params: np, state: { step: t, m, v } };
}
