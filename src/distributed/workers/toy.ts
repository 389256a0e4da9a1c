// A small, deterministic task family and gradient estimator that implement the real
// interfaces: batched quadratics 0.5 (x - c)^T A (x - c) with A = M M^T / d + I, a learned
// step x <- x - exp(loglr) * (1 + w) * (g + noise), and truncated backprop over each window.
// The per-window noise is drawn from a stream named by the problem and the window index, so a
// replay of the same windows under the same meta-parameters gives the same numbers, however
// the batch is sharded. Worker
// pools are tested and timed on it independently of the meta-learning core.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../../rng/index.js';
import type { Split, Task, TaskFamily } from '../../tasks/task.js';
import type { Estimate, GradientEstimator, ShardContext } from '../../meta/estimator.js';
import type { MetaParams } from '../../meta/params.js';
import type { ShardWorkerParts } from '../../meta/shards.js';

export interface ToySpec {
  /** Dimension of each quadratic. */
  dim: number;
  /** Scale of the per-step gradient noise. */
  noise: number;
  /** Extra milliseconds each window takes (stands in for a heavier estimator in fault tests). */
  workMs?: number;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

class ToyTask implements Task {
  readonly size: number;
  readonly paramShapes: readonly (readonly number[])[];
  constructor(
    readonly a: tf.Tensor3D,
    readonly c: tf.Tensor2D,
    readonly x0: tf.Tensor2D,
  ) {
    this.size = c.shape[0];
    this.paramShapes = [[c.shape[1]]];
  }
  init(): tf.Tensor[] {
    return [tf.clone(this.x0)];
  }
  loss(params: readonly tf.Tensor[]): tf.Tensor1D {
    return tf.tidy(() => {
      const d = tf.sub(params[0], this.c);
      return tf.mul(0.5, tf.sum(tf.mul(d, tf.squeeze(tf.matMul(this.a, tf.expandDims(d, 2)), [2])), 1)) as tf.Tensor1D;
    });
  }
  lossAndGrads(params: readonly tf.Tensor[]): { loss: tf.Tensor1D; grads: tf.Tensor[] } {
    return tf.tidy(() => {
      const d = tf.sub(params[0], this.c);
      const ad = tf.squeeze(tf.matMul(this.a, tf.expandDims(d, 2)), [2]);
      return { loss: tf.mul(0.5, tf.sum(tf.mul(d, ad), 1)) as tf.Tensor1D, grads: [ad] };
    });
  }
  dispose(): void {
    tf.dispose([this.a, this.c, this.x0]);
  }
}

export function toyFamily(spec: ToySpec): TaskFamily {
  const d = spec.dim;
  return {
    name: `toy quadratic ${d}`,
    sample(seed: number, split: Split, ids: readonly number[]): Task {
      const a = new Float32Array(ids.length * d * d), c = new Float32Array(ids.length * d), x0 = new Float32Array(ids.length * d);
      ids.forEach((id, b) => {
        const r = stream(seed, 'toy', split, id);
        const m = r.normalArray(d * d);
        for (let i = 0; i < d; i++)
          for (let j = 0; j < d; j++) {
            let s = i === j ? 1 : 0;
            for (let k = 0; k < d; k++) s += (m[i * d + k] * m[j * d + k]) / d;
            a[b * d * d + i * d + j] = s;
          }
        c.set(r.normalArray(d), b * d);
        x0.set(r.normalArray(d), b * d);
      });
      return new ToyTask(tf.tensor3d(a, [ids.length, d, d]), tf.tensor2d(c, [ids.length, d]), tf.tensor2d(x0, [ids.length, d]));
    },
  };
}

export function initToyMeta(spec: ToySpec): MetaParams {
  return { update: { loglr: tf.tensor1d([Math.log(0.05)]), w: tf.zeros([spec.dim]) } };
}

interface ToyState {
  x: tf.Tensor2D;
  ctx: ShardContext;
  window: number;
  step: number;
}

export function toyEstimator(spec: ToySpec): GradientEstimator<ToyState> {
  return {
    name: 'toy-tbptt',
    init: (_meta, task, ctx) => ({ x: task.init()[0] as tf.Tensor2D, ctx, window: 0, step: 0 }),
    estimate(meta, task, state, length) {
      if (spec.workMs) sleepSync(spec.workMs);
      // noise per problem, so it does not depend on how the batch is split into shards
      const d = spec.dim;
      const raw = state.ctx.ids.map((id) => stream(state.ctx.seed, 'toy-noise', state.ctx.batch, id, state.window).normalArray(length * d));
      const noise = Array.from({ length }, (_, i) => {
        const buf = new Float32Array(task.size * d);
        raw.forEach((r, b) => buf.set(r.subarray(i * d, (i + 1) * d), b * d));
        return tf.tidy(() => tf.mul(tf.tensor2d(buf, [task.size, d]), spec.noise));
      });
      const losses: tf.Tensor1D[] = [];
      const f = (loglr: tf.Tensor, w: tf.Tensor): tf.Scalar => {
        let x: tf.Tensor = state.x;
        let total: tf.Tensor = tf.scalar(0);
        for (let i = 0; i < length; i++) {
          const { loss, grads } = task.lossAndGrads([x], state.step + i);
          losses.push(tf.keep(loss));
          x = tf.sub(x, tf.mul(tf.mul(tf.exp(loglr), tf.add(1, w)), tf.add(grads[0], noise[i])));
          total = tf.add(total, tf.mean(task.loss([x], state.step + i + 1)));
        }
        return tf.div(total, length) as tf.Scalar;
      };
      const out = tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads(f)([meta.update.loglr, meta.update.w]);
        // the new inner state is the same unroll without the tape (truncation)
        let x: tf.Tensor = state.x;
        for (let i = 0; i < length; i++) {
          const g = task.lossAndGrads([x], state.step + i).grads[0];
          x = tf.sub(x, tf.mul(tf.mul(tf.exp(meta.update.loglr), tf.add(1, meta.update.w)), tf.add(g, noise[i])));
        }
        return { value, g0: grads[0], g1: grads[1], x };
      });
      const lossData = losses.map((l) => l.dataSync() as Float32Array);
      tf.dispose(losses);
      tf.dispose(noise);
      const metaLoss = out.value.dataSync()[0];
      out.value.dispose();
      const finite = Number.isFinite(metaLoss);
      if (!finite) {
        // the estimator's contract: a diverged window contributes zeros
        for (const g of [out.g0, out.g1]) g.dispose();
        out.g0 = tf.zerosLike(meta.update.loglr);
        out.g1 = tf.zerosLike(meta.update.w);
      }
      const estimate: Estimate = {
        grads: { update: { loglr: out.g0, w: out.g1 } },
        weight: task.size,
        metaLoss,
        meanLoss: lossData.map((l) => l.reduce((a, b) => a + b, 0) / l.length),
        finite,
      };
      state.x.dispose();
      return { estimate, state: { x: out.x as tf.Tensor2D, ctx: state.ctx, window: state.window + 1, step: state.step + length } };
    },
    dispose: (s) => s.x.dispose(),
  };
}

/** Build the toy parts from plain JSON (what a worker receives). */
export function buildToyParts(spec: unknown): ShardWorkerParts {
  const s = spec as Partial<ToySpec>;
  if (!s || typeof s.dim !== 'number' || !Number.isInteger(s.dim) || s.dim < 1) throw new Error('toy spec: dim must be a positive integer');
  if (typeof s.noise !== 'number' || !(s.noise >= 0)) throw new Error('toy spec: noise must be a number >= 0');
  if (s.workMs !== undefined && !(typeof s.workMs === 'number' && s.workMs >= 0)) throw new Error('toy spec: workMs must be a number >= 0');
  const full = { dim: s.dim, noise: s.noise, workMs: s.workMs ?? 0 };
  return { family: toyFamily(full), estimator: toyEstimator(full) as GradientEstimator };
}
