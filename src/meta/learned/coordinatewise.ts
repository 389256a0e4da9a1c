// A coordinate-wise learned update in the style of Andrychowicz et al. (2016): every scalar
// parameter of every layer is one row of a [B * numParams, features] batch through one small
// two-cell LSTM with shared weights, so the same meta-parameters run on an MLP of any width and
// depth. Per coordinate:
//
//   features = logsign(grad) [, logsign(m) with m = beta m + (1 - beta) grad] [, param * paramScale]
//   f = outputScale * head_f(LSTM(features)) - gdSkip * exp(r tanh(head_s)) * grad
//   (zero heads give plain GD with step gdSkip; r = 0 fixes the GD step; gdInput 'layerRms'
//   uses grad / RMS_layer(grad) in the GD term instead, so untrained it is layer-normalised GD)
//   w <- w + f
//
// The recurrent state is per coordinate (rows in the order problem, layer, row-major entry).
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { decodeOrThrow, NonNegativeNumber, PositiveInt, PositiveNumber, numberIn, oneOf, strict, withDefaults, Finite } from '../../config/codec.js';
import { initLstm, lstmStateTensors, lstmStep, zeroLstmState, type LstmSpec, type LstmState, type Params } from '../../nn/lstm.js';
import { stopGradient } from '../../ops/activations.js';
import type { Optimizer } from '../../optim/types.js';
import type { Stream } from '../../rng/index.js';
import type { Task } from '../../tasks/task.js';
import type { MetaParams } from '../params.js';
import { preprocess } from '../variant.js';
import type { LearnedOptimizer, LearnedState, StepStats, TaskShape } from './learned.js';

export const CoordinatewiseShape = strict(
  {
    hidden: PositiveInt,
    /** Multiplies the LSTM's head (small, so the learned part starts as a perturbation of GD). */
    outputScale: NonNegativeNumber,
    /** Step of the gradient-descent term -gdSkip * grad (0: the pure LSTM update). */
    gdSkip: NonNegativeNumber,
    /**
     * > 0: the GD term's step is learned per coordinate, gdSkip * exp(r tanh(head_s)), i.e. within
     * a factor e^r of gdSkip (a zero head keeps gdSkip). 0: fixed.
     */
    lrScaleRange: NonNegativeNumber,
    /**
     * 'raw': the GD term is -gdSkip * grad (an untrained optimizer is GD). 'layerRms': the
     * gradient is divided by its RMS over each layer of each problem first (an untrained
     * optimizer is layer-normalised GD, whose step does not grow with the gradient's scale).
     */
    gdInput: oneOf(['raw', 'layerRms']),
    /** p of the log-magnitude/sign preprocessing: (log|g|/p, sign g) or (-1, e^p g) for |g| < e^-p. */
    p: PositiveNumber,
    /** > 0: also feed logsign of a gradient moving average with this beta; 0: none. */
    momentumBeta: numberIn({ ge: 0, lt: 1 }),
    /** != 0: also feed the parameter value times this; 0: none. */
    paramScale: Finite,
    /** true: gradients reach the LSTM input and the GD term on the tape (full second order). */
    secondOrder: t.boolean,
  },
  'CoordinatewiseConfig',
);

export const CoordinatewiseConfig = withDefaults(CoordinatewiseShape, {
  hidden: 20,
  outputScale: 1e-3,
  gdSkip: 1e-3,
  lrScaleRange: 0,
  gdInput: 'raw',
  p: 10,
  momentumBeta: 0.9,
  paramScale: 0,
  secondOrder: false,
});
export type CoordinatewiseConfig = t.TypeOf<typeof CoordinatewiseConfig>;

export const COORDINATEWISE_MODULE = 'update';

export interface CoordinatewiseState extends LearnedState {
  readonly lstm: LstmState;
  /** Gradient moving average per parameter ([B, ...shape]); null without the momentum feature. */
  readonly momentum: tf.Tensor[] | null;
}

export const featureWidth = (c: CoordinatewiseConfig): number => 2 + (c.momentumBeta > 0 ? 2 : 0) + (c.paramScale !== 0 ? 1 : 0);

export const coordinatewiseSpec = (c: CoordinatewiseConfig): LstmSpec => ({
  input: featureWidth(c),
  hidden: c.hidden,
  heads: c.lrScaleRange > 0 ? { f: 1, s: 1 } : { f: 1 },
});

/** x / RMS(x) over each problem's entries ([B, ...]); a zero gradient stays zero. */
const layerNormalised = (x: tf.Tensor): tf.Tensor => {
  const axes = x.shape.slice(1).map((_, i) => i + 1);
  return tf.div(x, tf.add(tf.sqrt(tf.mean(tf.square(x), axes, true)), 1e-30));
};

/** [B, ...shape] tensors -> one column [B * numParams, 1], problem-major. */
export function toRows(ts: readonly tf.Tensor[]): tf.Tensor2D {
  const B = ts[0].shape[0];
  const flat = ts.map((x) => tf.reshape(x, [B, -1]));
  return tf.reshape(flat.length === 1 ? flat[0] : tf.concat(flat, 1), [-1, 1]) as tf.Tensor2D;
}

/** Inverse of toRows for parameters shaped like `like`. */
export function fromRows(rows: tf.Tensor, like: readonly tf.Tensor[]): tf.Tensor[] {
  const B = like[0].shape[0];
  const sizes = like.map((x) => x.size / B);
  const m = tf.reshape(rows, [B, -1]);
  const parts = sizes.length === 1 ? [m] : tf.split(m, sizes, 1);
  return parts.map((p, i) => tf.reshape(p, like[i].shape));
}

/** The coordinate-wise LSTM update as a LearnedOptimizer (module `update`). */
export function coordinatewise(input: unknown = {}): LearnedOptimizer<CoordinatewiseState> {
  const c = decodeOrThrow(CoordinatewiseConfig, input, 'coordinatewise optimizer');
  const spec = coordinatewiseSpec(c);
  const mod = COORDINATEWISE_MODULE;
  return {
    name: 'LSTM(coord)',
    modules: [mod],
    init(rng: Stream, _task: TaskShape): MetaParams {
      const p = initLstm(spec, rng);
      // the learned GD scale starts at exactly gdSkip
      for (const k of ['head.s.w', 'head.s.b']) {
        if (!p[k]) continue;
        const z = tf.zerosLike(p[k]);
        p[k].dispose();
        p[k] = z;
      }
      return { [mod]: p };
    },
    optimizer(meta: MetaParams, _task: Task): Optimizer<CoordinatewiseState> {
      const p: Params | undefined = meta[mod];
      if (!p) throw new Error(`coordinatewise optimizer: meta-parameters have no "${mod}" module (got ${Object.keys(meta).join(', ') || 'none'})`);
      const w = p['cell0.wx'];
      if (!w || w.shape[0] !== spec.input || w.shape[1] !== 4 * spec.hidden) {
        throw new Error(`coordinatewise optimizer: ${mod}/cell0.wx has shape [${w?.shape}], expected [${spec.input}, ${4 * spec.hidden}] for this config`);
      }
      return {
        name: 'LSTM(coord)',
        init(params) {
          const rows = params.reduce((a, x) => a + x.size, 0);
          const lstm = zeroLstmState(spec, rows);
          const momentum = c.momentumBeta > 0 ? params.map((x) => tf.zerosLike(x)) : null;
          return { step: 0, lstm, momentum, tensors: [...lstmStateTensors(lstm), ...(momentum ?? [])] };
        },
        step(params, rawGrads, state) {
          const grads = c.secondOrder ? rawGrads : rawGrads.map((g) => stopGradient(g));
          const g = toRows(grads);
          const feats: tf.Tensor2D[] = [preprocess(g, { kind: 'logsign', p: c.p, inputScale: 1 })];
          let momentum: tf.Tensor[] | null = null;
          if (state.momentum) {
            const b = c.momentumBeta;
            momentum = state.momentum.map((m, i) => tf.add(tf.mul(m, b), tf.mul(grads[i], 1 - b)));
            feats.push(preprocess(toRows(momentum), { kind: 'logsign', p: c.p, inputScale: 1 }));
          }
          if (c.paramScale !== 0) feats.push(tf.mul(toRows(c.secondOrder ? params : params.map((x) => stopGradient(x))), c.paramScale) as tf.Tensor2D);
          const x = feats.length === 1 ? feats[0] : (tf.concat(feats, 1) as tf.Tensor2D);
          const r = lstmStep(p, spec, x, state.lstm, '', !c.secondOrder);
          let f: tf.Tensor = tf.mul(r.heads.f, c.outputScale);
          if (c.gdSkip !== 0) {
            const eta = c.lrScaleRange > 0 ? tf.mul(tf.exp(tf.mul(tf.tanh(r.heads.s), c.lrScaleRange)), c.gdSkip) : c.gdSkip;
            f = tf.sub(f, tf.mul(c.gdInput === 'raw' ? g : toRows(grads.map(layerNormalised)), eta));
          }
          const fs = fromRows(f, params);
          const B = params[0].shape[0];
          const stats: StepStats = { updateNorm: tf.sqrt(tf.sum(tf.square(tf.reshape(f, [B, -1])), 1)) as tf.Tensor1D };
          return {
            params: params.map((w0, i) => tf.add(w0, fs[i])),
            state: {
              step: state.step + 1,
              lstm: r.state,
              momentum,
              stats,
              tensors: [...lstmStateTensors(r.state), ...(momentum ?? [])],
            },
          };
        },
      };
    },
  };
}

/** Registration entry: config `kind` -> (codec, factory). */
export const coordinatewiseEntry = {
  kind: 'coordinatewise',
  codec: CoordinatewiseConfig,
  create: (cfg: CoordinatewiseConfig): LearnedOptimizer => coordinatewise(cfg) as unknown as LearnedOptimizer,
} as const;
