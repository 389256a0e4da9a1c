// Truncated backpropagation through time (paper Algorithm 1): the exact gradient of one
// window's meta-loss w.r.t. the meta-parameters, with the state entering the window detached.
// The state leaving the window is kept out of the tape (tf.keep): once the gradient is taken
// the tape is gone, so the next window starts detached.
import * as tf from '@tensorflow/tfjs';
import { WeightGradSink, isWeightName, type Params } from '../../nn/lstm.js';
import { SingularMatrixError } from '../../ops/linalg.js';
import type { Estimate, EstimatorFactory, GradientEstimator } from '../estimator.js';
import { strict } from '../../config/codec.js';
import type { LearnedOptimizer, LearnedState, Sinks } from '../learned/learned.js';
import { mapMeta, type MetaParams } from '../params.js';
import { disposeTrajectories, startTrajectories, trajectoryTensors, unrollWindow, type LossWeighting, type Trajectories } from '../truncated.js';

export interface TbpttState {
  tr: Trajectories<LearnedState>;
}

/** Zero gradients shaped like the meta-parameters (a skipped window). */
export const zeroGrads = (meta: MetaParams): MetaParams => mapMeta(meta, (t) => tf.zerosLike(t));

export function tbptt(learned: LearnedOptimizer, weighting: LossWeighting): GradientEstimator<TbpttState> {
  return {
    name: 'tbptt',
    init: (meta, task) => ({ tr: startTrajectories(learned.optimizer(meta, task), task) }),
    estimate(meta, task, state, length) {
      const mods = Object.keys(meta).sort();
      // With sinks, LSTM weights and biases get their gradient from the sink (one matMul per
      // weight, one sum per bias, over the window); the rest through the tape, alongside one
      // zero tap per sink.
      const direct: [string, string][] = [];
      const sinks: Sinks = {};
      for (const mod of mods) {
        const names = Object.keys(meta[mod]).sort();
        const sink = learned.usesSinks && names.some(isWeightName) ? new WeightGradSink(names) : undefined;
        if (sink) sinks[mod] = sink;
        for (const k of names) if (!sink?.holds(k)) direct.push([mod, k]);
      }
      const taps = mods.flatMap((mod) => (sinks[mod] ? [sinks[mod]!.tap] : []));
      let next: Trajectories<LearnedState> | null = null;
      let meanLoss: tf.Tensor1D | null = null;
      try {
        const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
          const m: MetaParams = Object.fromEntries(mods.map((mod) => [mod, { ...meta[mod] }]));
          direct.forEach(([mod, k], i) => (m[mod][k] = ps[i]));
          const w = unrollWindow(learned.optimizer(m, task, sinks), task, state.tr, length, weighting);
          trajectoryTensors(w.next).forEach((t) => tf.keep(t));
          next = w.next;
          meanLoss = tf.keep(w.meanLoss);
          return w.value;
        })([...direct.map(([mod, k]) => meta[mod][k]), ...taps]);
        const metaLoss = value.dataSync()[0];
        const mean = Array.from(meanLoss!.dataSync());
        tf.dispose([value, meanLoss!]);
        const out: MetaParams = {};
        for (const mod of mods) out[mod] = sinks[mod] ? sinks[mod]!.grads(meta[mod]) : ({} as Params);
        direct.forEach(([mod, k], i) => (out[mod][k] = grads[i]));
        tf.dispose(grads.slice(direct.length));
        disposeTrajectories(state.tr);
        const finite = Number.isFinite(metaLoss);
        const estimate: Estimate = { grads: out, weight: task.size, metaLoss, meanLoss: mean, finite };
        return { estimate, state: { tr: next! } };
      } catch (e) {
        // A diverged trajectory (non-finite weights) makes g or X singular: nothing to learn from it.
        if (!(e instanceof SingularMatrixError)) throw e;
        if (next) disposeTrajectories(next);
        if (meanLoss) (meanLoss as tf.Tensor).dispose();
        const estimate: Estimate = { grads: zeroGrads(meta), weight: task.size, metaLoss: NaN, meanLoss: [NaN], finite: false };
        return { estimate, state };
      } finally {
        for (const s of Object.values(sinks)) s?.dispose();
      }
    },
    dispose: (state) => disposeTrajectories(state.tr),
  };
}

/** Registration entry: truncated backprop through each window (the paper's estimator). */
export const tbpttEntry = {
  kind: 'tbptt',
  codec: strict({}, 'Tbptt'),
  create: (): EstimatorFactory => (learned, weighting) => tbptt(learned, weighting) as GradientEstimator,
  description: 'truncated backprop through each window of `unroll` steps (paper Algorithm 1)',
};
