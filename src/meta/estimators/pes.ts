// Persistent evolution strategies (Vicol, Metz, Sohl-Dickstein 2021), antithetic: each pair of
// particles unrolls at theta + eps and theta - eps for a window; the perturbations of all
// earlier windows of the trajectory are summed in xi, and
//     g = xi (L(theta + eps) - L(theta - eps)) / (2 sigma^2)
// is an unbiased estimate of the gradient of the Gaussian-smoothed meta-loss of the whole
// unroll so far -- without backprop, and without truncation bias. The perturbation of window
// w is drawn from (seed, batch, w, pair) and shared by all trajectories of the batch, so any
// split of a batch into shards gives the same estimate.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../../rng/index.js';
import { SingularMatrixError } from '../../ops/linalg.js';
import type { Estimate, EstimatorFactory, GradientEstimator, ShardContext } from '../estimator.js';
import { PositiveInt, PositiveNumber, strict, withDefaults } from '../../config/codec.js';
import type { LearnedOptimizer, LearnedState } from '../learned/learned.js';
import { disposeMeta, mapMeta, type MetaParams } from '../params.js';
import { disposeTrajectories, startTrajectories, trajectoryTensors, unrollWindow, type LossWeighting, type Trajectories } from '../truncated.js';
import { zeroGrads } from './tbptt.js';

export interface PesConfig {
  /** Standard deviation of the perturbations. */
  sigma: number;
  /** Antithetic pairs per trajectory batch. */
  pairs: number;
}

interface Pair {
  plus: Trajectories<LearnedState>;
  minus: Trajectories<LearnedState>;
  /** Sum of the perturbations applied so far (the + particle's; the - particle's is -xi). */
  xi: MetaParams;
}

export interface PesState {
  ctx: ShardContext;
  window: number;
  pairs: Pair[];
}

/** A perturbation shaped like `meta`, N(0, sigma^2) entries, from its own stream. */
function perturbation(meta: MetaParams, sigma: number, ctx: ShardContext, window: number, pair: number): MetaParams {
  const rng = stream(ctx.seed, 'pes', ctx.batch, window, pair);
  // sorted order of modules and names, so the draw does not depend on insertion order
  const out: MetaParams = {};
  for (const mod of Object.keys(meta).sort()) {
    out[mod] = {};
    for (const k of Object.keys(meta[mod]).sort()) {
      const t = meta[mod][k];
      const z = rng.normalArray(t.size);
      for (let i = 0; i < z.length; i++) z[i] *= sigma;
      out[mod][k] = tf.tensor(z, t.shape);
    }
  }
  return out;
}

const combine = (a: MetaParams, b: MetaParams, s: number): MetaParams => mapMeta(a, (t, mod, k) => tf.tidy(() => tf.add(t, tf.mul(b[mod][k], s))));

export function pes(learned: LearnedOptimizer, weighting: LossWeighting, cfg: PesConfig): GradientEstimator<PesState> {
  const forward = (meta: MetaParams, task: Parameters<typeof learned.optimizer>[1], tr: Trajectories<LearnedState>, length: number) => {
    let next!: Trajectories<LearnedState>;
    const out = tf.tidy(() => {
      const w = unrollWindow(learned.optimizer(meta, task), task, tr, length, weighting);
      trajectoryTensors(w.next).forEach((t) => tf.keep(t));
      next = w.next;
      return [w.value, w.meanLoss] as const;
    });
    const value = out[0].dataSync()[0];
    const mean = Array.from(out[1].dataSync());
    tf.dispose([...out]);
    return { next, value, mean };
  };
  return {
    name: 'pes',
    init(meta, task, ctx) {
      const opt = learned.optimizer(meta, task);
      const pairs = Array.from({ length: cfg.pairs }, () => ({
        plus: startTrajectories(opt, task),
        minus: startTrajectories(opt, task),
        xi: mapMeta(meta, (t) => tf.zerosLike(t)),
      }));
      return { ctx, window: 0, pairs };
    },
    estimate(meta, task, state, length) {
      let grads = zeroGrads(meta);
      let metaLoss = 0;
      let mean: number[] = [];
      const pairs: Pair[] = [];
      try {
        state.pairs.forEach((p, j) => {
          const eps = perturbation(meta, cfg.sigma, state.ctx, state.window, j);
          const xi = combine(p.xi, eps, 1);
          const plusMeta = combine(meta, eps, 1);
          const minusMeta = combine(meta, eps, -1);
          const a = forward(plusMeta, task, p.plus, length);
          const b = forward(minusMeta, task, p.minus, length);
          disposeMeta(eps);
          disposeMeta(plusMeta);
          disposeMeta(minusMeta);
          const scale = (a.value - b.value) / (2 * cfg.sigma * cfg.sigma * cfg.pairs);
          const g2 = combine(grads, xi, scale);
          disposeMeta(grads);
          grads = g2;
          metaLoss += (a.value + b.value) / (2 * cfg.pairs);
          mean = a.mean.map((x, i) => (mean[i] ?? 0) + (x + b.mean[i]) / (2 * cfg.pairs));
          pairs.push({ plus: a.next, minus: b.next, xi });
        });
      } catch (e) {
        if (!(e instanceof SingularMatrixError)) throw e;
        for (const p of pairs) {
          disposeTrajectories(p.plus);
          disposeTrajectories(p.minus);
          disposeMeta(p.xi);
        }
        disposeMeta(grads);
        return { estimate: { grads: zeroGrads(meta), weight: task.size, metaLoss: NaN, meanLoss: [NaN], finite: false }, state };
      }
      for (const p of state.pairs) {
        disposeTrajectories(p.plus);
        disposeTrajectories(p.minus);
        disposeMeta(p.xi);
      }
      const finite = Number.isFinite(metaLoss);
      const estimate: Estimate = { grads, weight: task.size, metaLoss, meanLoss: mean, finite };
      return { estimate, state: { ctx: state.ctx, window: state.window + 1, pairs } };
    },
    dispose(state) {
      for (const p of state.pairs) {
        disposeTrajectories(p.plus);
        disposeTrajectories(p.minus);
        disposeMeta(p.xi);
      }
    },
  };
}

/** Registration entry: persistent evolution strategies, antithetic. */
export const pesEntry = {
  kind: 'pes',
  codec: withDefaults(strict({ sigma: PositiveNumber, pairs: PositiveInt }, 'Pes'), { sigma: 0.01, pairs: 1 }),
  create: (cfg: PesConfig): EstimatorFactory => (learned, weighting) => pes(learned, weighting, cfg) as GradientEstimator,
  description: 'persistent evolution strategies (antithetic pairs; no backprop, no truncation bias)',
};
