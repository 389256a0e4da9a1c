/**
 * Teleporting along a curve to change its curvature, as the reference code does
 * (gradient_descent_mlp_utils.teleport_curvature): for each teleport batch, draw a fresh M
 * (entries U[0,1), not normalised) on one hidden layer (the last by default), compute
 * kappa'(0) of the curve t -> exp(t M)·w on that batch, take one step t = ±lr·kappa'(0) along
 * the curve and move the weights to exp(t M)·w. Unlike the paper-text variant (gradient
 * ascent on psi over every layer's group element, src/teleport), only the scalar t moves.
 */
import * as tf from '@tensorflow/tfjs';
import type { ActionKind } from '../../symmetry/action.js';
import { groupAction, expGroup } from '../../symmetry/action.js';
import { curveAt, vectorDerivative, curvatureFromDerivatives, curvatureDerivativeFromDerivatives } from '../../symmetry/curve.js';
import type { Stream } from '../../rng/index.js';
import { SingularMatrixError } from '../../ops/linalg.js';

export interface CurveTeleportOptions {
  /** Step size of t (the reference's lr_teleport_curvature). */
  lr: number;
  direction: 'increase' | 'decrease';
  /** Hidden layer the curve moves; default the last (the reference's `layer = 1`). */
  layer?: number;
  /** Group action; default 'pinv' (the reference's group_action_exp). */
  kind?: ActionKind;
  slope?: number;
  /** Draws each step's M. */
  rng: Stream;
  /** Ours, not the reference's: clip t so that ||t M||_F <= this (default: no bound, as the reference). */
  maxStepNorm?: number;
}

type Curve = { ws: readonly tf.Tensor[]; x: tf.Tensor; ms: readonly (tf.Tensor | null)[]; opts: { kind: ActionKind; slope?: number } };

/** kappa(t) and kappa'(t) of the curve s -> exp(s M)·w at s = t (derivatives of that one curve). */
export function curvatureAlong(c: Curve, t: number): { kappa: number; kappaPrime: number } {
  return tf.tidy(() => {
    const f = (s: tf.Scalar) => curveAt(c.ws, c.x, c.ms, s, c.opts);
    const [g1, g2, g3] = [1, 2, 3].map((n) => vectorDerivative(f, n, t));
    return {
      kappa: curvatureFromDerivatives(g1!, g2!).dataSync()[0]!,
      kappaPrime: curvatureDerivativeFromDerivatives(g1!, g2!, g3!).dataSync()[0]!,
    };
  });
}

export interface CurveStep {
  /**
   * kappa(0), kappa'(0) of the drawn curve, the step t, and kappa(t) of the same curve (on a
   * batch wider than the layer the action is not exactly a group action on the batch, so
   * kappa(t) is measured on the curve itself, not on a new curve from the moved weights).
   */
  kappaBefore: number;
  kappaPrime: number;
  t: number;
  kappaAfter: number;
  /** Set when the moved weights were unusable (sigma(g V h) rank deficient or not finite): the step was not taken. */
  skipped?: string;
}

/** One curve step per batch (in order). Returns new weights (the caller owns them) and the steps. */
export function curveTeleport(ws: readonly tf.Tensor2D[], batches: readonly tf.Tensor2D[], o: CurveTeleportOptions): { weights: tf.Tensor2D[]; steps: CurveStep[] } {
  const hidden = ws.length - 1;
  const layer = o.layer ?? hidden - 1;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < hidden)) throw new Error(`curveTeleport: layer ${layer}: the network has hidden layers 0..${hidden - 1}`);
  if (!(o.lr > 0)) throw new Error(`curveTeleport: lr must be positive, got ${o.lr}`);
  const opts = { kind: o.kind ?? 'pinv', slope: o.slope };
  const sign = o.direction === 'increase' ? 1 : -1;
  let cur = ws.map((w) => tf.clone(w));
  const steps: CurveStep[] = [];
  for (const x of batches) {
    const d = cur[layer]!.shape[0];
    const M = tf.tensor2d(o.rng.uniformArray(d * d), [d, d]);
    const ms = Array.from({ length: hidden }, (_, i) => (i === layer ? M : null));
    const curve = { ws: cur, x, ms, opts };
    const { kappa: kappaBefore, kappaPrime } = curvatureAlong(curve, 0);
    const mNorm = tf.tidy(() => tf.norm(M).dataSync()[0]!);
    const raw = sign * o.lr * kappaPrime;
    const t = o.maxStepNorm !== undefined && Math.abs(raw) * mNorm > o.maxStepNorm ? (Math.sign(raw) * o.maxStepNorm) / mNorm : raw;
    try {
      const kappaAfter = curvatureAlong(curve, t).kappa;
      const next = tf.tidy(() => {
        const gs = ms.map((m) => (m ? expGroup(m, tf.scalar(t)) : null));
        // unmoved layers come back as the same tensors: clone so `cur` can be released
        return groupAction(cur, x, gs, opts).map((w) => tf.clone(w)) as tf.Tensor2D[];
      });
      const finite = next.every((w) => Number.isFinite(tf.tidy(() => tf.sum(w).dataSync()[0]!)));
      if (!finite || !Number.isFinite(kappaAfter)) {
        tf.dispose(next);
        steps.push({ kappaBefore, kappaPrime, t, kappaAfter: NaN, skipped: 'not finite' });
      } else {
        tf.dispose(cur);
        cur = next;
        steps.push({ kappaBefore, kappaPrime, t, kappaAfter });
      }
    } catch (e) {
      if (!(e instanceof SingularMatrixError)) throw e;
      steps.push({ kappaBefore, kappaPrime, t, kappaAfter: NaN, skipped: 'rank deficient' });
    } finally {
      M.dispose();
    }
  }
  return { weights: cur, steps };
}
