// Truncated unrolls: one window of `length` steps of a learned optimizer on a batch of problems,
// its meta-loss and the meta-gradient w.r.t. the meta-parameters, and plain (no-tape)
// trajectories for evaluation. The state leaving a window is kept out of the tape (tf.keep):
// once the gradient is taken the tape is gone, so the next window starts detached.
import * as tf from '@tensorflow/tfjs';
import { WeightGradSink, isWeightName, type Params } from '../nn/lstm.js';
import { SingularMatrixError } from '../ops/linalg.js';
import { regressionLoss } from '../tasks/regression.js';
import {
  optimizerStep,
  unrollTensors,
  type ProblemData,
  type UnrollState,
  type VariantConfig,
  type StepStats,
} from './variant.js';

/**
 * How the losses of a window make the meta-loss (always over L(w_{t+1}) .. L(w_{t+U}), the
 * losses after each update, averaged over the B problems):
 * 'sum' the reference (sum of losses); 'mean' the same / U; 'log' mean of log losses, which
 * weighs a halving of the loss equally early (L ~ 1e5) and late (L ~ 10).
 */
export type LossWeighting = 'sum' | 'mean' | 'log';

export interface WindowResult {
  state: UnrollState;
  /** Meta-loss of the window (host number). */
  metaLoss: number;
  /** Loss before each step of the window: [U][B]. */
  losses: number[][];
  grads: Params;
  stats: StepStats[];
}

export function windowLossTerm(l: tf.Tensor1D, w: LossWeighting): tf.Scalar {
  return (w === 'log' ? tf.mean(tf.log(tf.add(l, 1e-12))) : tf.mean(l)) as tf.Scalar;
}

/** Run one window with the tape on; returns the meta-gradient. Inputs are not disposed. */
export function metaGradWindow(
  meta: Params,
  cfg: VariantConfig,
  data: ProblemData,
  state0: UnrollState,
  length: number,
  weighting: LossWeighting,
  keepStats = false,
): WindowResult {
  const names = Object.keys(meta).sort();
  // Weights get their gradient from the sink (one matMul per weight over the window); the
  // rest (biases) through the tape, alongside one zero tap per weight.
  const weights = names.filter(isWeightName);
  const direct = names.filter((k) => !isWeightName(k));
  const sink = new WeightGradSink(weights);
  let out: UnrollState | null = null;
  const lossT: tf.Tensor[] = [];
  const statsT: StepStats[] = [];
  try {
    const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
      const m: Params = { ...meta };
      direct.forEach((k, i) => (m[k] = ps[i]));
      let st = state0;
      const terms: tf.Scalar[] = [];
      for (let k = 0; k < length; k++) {
        const r = optimizerStep(m, cfg, data, st, sink);
        if (k > 0) terms.push(windowLossTerm(r.loss, weighting));
        lossT.push(tf.keep(r.loss));
        if (keepStats) {
          const s: StepStats = {};
          for (const [key, v] of Object.entries(r.stats)) s[key as keyof StepStats] = tf.keep(v as tf.Tensor1D);
          statsT.push(s);
        }
        st = r.state;
      }
      terms.push(windowLossTerm(regressionLoss(st.ws, data.x, data.y, data.slope), weighting));
      unrollTensors(st).forEach((t) => tf.keep(t));
      out = st;
      const total = tf.addN(terms);
      return (weighting === 'sum' ? total : tf.div(total, terms.length)) as tf.Scalar;
    })([...direct.map((k) => meta[k]), ...weights.map((k) => sink.taps[k])]);
    const metaLoss = value.dataSync()[0];
    value.dispose();
    const g: Params = sink.grads(meta);
    direct.forEach((k, i) => (g[k] = grads[i]));
    tf.dispose(grads.slice(direct.length));
    const losses = lossesToHost(lossT);
    return { state: out as unknown as UnrollState, metaLoss, losses, grads: g, stats: statsT };
  } finally {
    sink.dispose();
  }
}

function lossesToHost(ts: tf.Tensor[]): number[][] {
  const r = ts.map((t) => Array.from(t.dataSync()));
  tf.dispose(ts);
  return r;
}

export interface TrajectoryRecord {
  /** [steps + 1][B]: loss before each step and after the last. */
  loss: number[][];
  gradNormSq: number[][];
  /** Per-step statistics [steps][B] when the optimizer produces them. */
  updateNorm: number[][];
  teleDist: number[][];
  eta: number[][];
  /** Wall-clock seconds since the start, after each step. */
  time: number[];
}

/** Run `steps` steps without a tape (evaluation). The initial state is not disposed. */
export function runTrajectory(meta: Params, cfg: VariantConfig, data: ProblemData, state0: UnrollState, steps: number): TrajectoryRecord {
  const rec: TrajectoryRecord = { loss: [], gradNormSq: [], updateNorm: [], teleDist: [], eta: [], time: [] };
  const t0 = performance.now();
  let st = state0;
  const record = (r: ReturnType<typeof optimizerStep>) => {
    const host = (t?: tf.Tensor) => (t ? Array.from(t.dataSync()) : []);
    rec.loss.push(host(r.loss));
    rec.gradNormSq.push(host(r.gradNormSq));
    if (r.stats.updateNorm) rec.updateNorm.push(host(r.stats.updateNorm));
    if (r.stats.teleDist) rec.teleDist.push(host(r.stats.teleDist));
    if (r.stats.eta) rec.eta.push(host(r.stats.eta));
  };
  for (let k = 0; k < steps; k++) {
    let next!: UnrollState;
    try {
      tf.tidy(() => {
        const r = optimizerStep(meta, cfg, data, st);
        record(r);
        unrollTensors(r.state).forEach((t) => tf.keep(t));
        next = r.state;
      });
    } catch (e) {
      // Diverged (singular g or non-finite weights): the rest of the trajectory is NaN.
      if (!(e instanceof SingularMatrixError)) throw e;
      const B = data.x.shape[0];
      while (rec.loss.length <= steps) rec.loss.push(new Array(B).fill(NaN));
      while (rec.gradNormSq.length < steps) rec.gradNormSq.push(new Array(B).fill(NaN));
      while (rec.time.length < steps) rec.time.push(NaN);
      if (st !== state0) tf.dispose(unrollTensors(st));
      return rec;
    }
    if (st !== state0) tf.dispose(unrollTensors(st));
    st = next;
    rec.time.push((performance.now() - t0) / 1000);
  }
  rec.loss.push(Array.from(tf.tidy(() => regressionLoss(st.ws, data.x, data.y, data.slope)).dataSync()));
  if (st !== state0) tf.dispose(unrollTensors(st));
  return rec;
}
