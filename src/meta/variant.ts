// Learned optimizers of paper section 5.2 as data: one VariantConfig describes GD,
// LSTM(update), LSTM(lr,tele) and LSTM(update,tele) (and anything in between). The step is a
// pure function of (meta-parameters, config, problem data, unroll state).
//
//   m1 (update):  f_t = outputScale * head(LSTM1(pre(grad_t))) - gdSkip * grad_t
//   m2 (tele):    T_t = head(LSTM2(pre(grad_t))), rescaled to ||T||_F = magnitude, g_t = I + T_t
//                 optional step-size head: eta_t in [min, max]
//   w_{t+1} = g_t . (w_t + f_t)             (update and/or tele)
//   w_{t+1} = g_t . (w_t - eta_t grad_t)    (lr head, no m1)
//   w_{t+1} = w_t - lr grad_t               (GD)
import * as tf from '@tensorflow/tfjs';
import { initLstm, lstmStep, zeroLstmState, type LstmSpec, type LstmState, type Params, type WeightGradSink } from '../nn/lstm.js';
import { leakyRelu, leakyReluInv, stopGradient } from '../ops/activations.js';
import { inv } from '../ops/linalg.js';
import { lossAndGrads } from '../tasks/regression.js';
import type { Stream } from '../rng/index.js';

export const VARIANT_NAMES = ['GD', 'LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const;

export interface PreprocessConfig {
  /** 'raw': grad * inputScale; 'logsign': (log|g|/p, sign g) or (-1, e^p g) (Andrychowicz et al.). */
  kind: 'raw' | 'logsign';
  p: number;
  inputScale: number;
}

export interface UpdateModuleConfig {
  hidden: number;
  outputScale: number;
  /** Elementwise clamp of f (the reference clamps at 1e7); 0 = none. */
  clamp: number;
  /** A gradient-descent term -gdSkip * grad added to f (0 = the paper's pure LSTM update). */
  gdSkip: number;
  /**
   * > 0: the gradient-descent term's step is learned, gdSkip * exp(r tanh(z_t)) with z_t from
   * an extra head, i.e. within a factor e^r of gdSkip. 0: fixed.
   */
  lrScaleRange: number;
}

export interface LrHeadConfig {
  min: number;
  max: number;
  /**
   * 'clamp' (reference: clamp of a linear output) or 'logsigmoid' (smooth, log-scale range; a
   * zero head output gives the variant's `lr`).
   */
  param: 'clamp' | 'logsigmoid';
}

export interface TeleModuleConfig {
  hidden: number;
  /** Frobenius norm of T (g = I + T). */
  magnitude: number;
  /** 'inverse': exact W2 g^-1; 'linear': the reference's W2 (I - T) stand-in. */
  action: 'inverse' | 'linear';
  lrHead: LrHeadConfig | null;
  /** Multiplies the T head before the rescale (how much of T the free head contributes). */
  headScale: number;
  /**
   * A direction added to T as c_t * D / ||D|| with c_t from an extra head (zero at init):
   * 'w2': D = dW2^T dW2, the first-order ascent direction of ||dL/dW2||^2 (from the gradient alone);
   * 'gradNorm': D = d||grad L(g.w)||^2 / dT at T = 0, the ascent direction of the paper's
   * teleport objective (closed form, see gradNormAscent); 'none': T is the free head only.
   */
  direction: 'none' | 'w2' | 'gradNorm';
  /** true: ||T|| = magnitude * sigmoid(z_t) from an extra head (the teleport can fade out); false: fixed. */
  learnedMagnitude: boolean;
}

export interface VariantConfig {
  name: string;
  /** GD step size (the GD variant), and the initial step of a logsigmoid step-size head. */
  lr: number;
  update: UpdateModuleConfig | null;
  tele: TeleModuleConfig | null;
  preprocess: PreprocessConfig;
  /** false: the gradient input is a constant (stopGradient), the reference's choice. */
  secondOrder: boolean;
}

export interface ProblemData {
  x: tf.Tensor3D;
  y: tf.Tensor3D;
  xInv: tf.Tensor3D;
  dim: number;
  slope: number;
}

/** Inner weights plus the learned optimizer's recurrent state: the unroll state. */
export interface UnrollState {
  ws: [tf.Tensor3D, tf.Tensor3D];
  m1: LstmState | null;
  m2: LstmState | null;
  step: number;
}

export interface StepStats {
  /** ||f_t|| per problem ([B]); absent without m1. */
  updateNorm?: tf.Tensor1D;
  /** ||g_t - I||_F per problem. */
  teleDist?: tf.Tensor1D;
  /** Learned step size per problem. */
  eta?: tf.Tensor1D;
}

export const isLearned = (c: VariantConfig): boolean => c.update !== null || c.tele !== null;

export function inputWidth(c: VariantConfig, dim: number): number {
  const n = 2 * dim * dim;
  return c.preprocess.kind === 'logsign' ? 2 * n : n;
}

export function moduleSpecs(c: VariantConfig, dim: number): { m1: LstmSpec | null; m2: LstmSpec | null } {
  const input = inputWidth(c, dim);
  const m1 = c.update
    ? { input, hidden: c.update.hidden, heads: { f: 2 * dim * dim, ...(c.update.lrScaleRange > 0 ? { s: 1 } : {}) } as Record<string, number> }
    : null;
  const m2 = c.tele
    ? {
        input,
        hidden: c.tele.hidden,
        heads: { T: dim * dim, ...(c.tele.lrHead ? { lr: 1 } : {}), ...(c.tele.direction !== 'none' ? { c: 1 } : {}), ...(c.tele.learnedMagnitude ? { m: 1 } : {}) } as Record<string, number>,
      }
    : null;
  return { m1, m2 };
}

/**
 * Scalar control heads start at zero, so an untrained optimizer uses exactly the configured
 * step (lr scale 1), no gradient-norm direction (c = 0) and half the maximal teleport size.
 */
const ZERO_HEADS = ['m1.head.s', 'm2.head.c', 'm2.head.m', 'm2.head.lr'];

/** Meta-parameters: names start with 'm1.' (update LSTM) or 'm2.' (teleport LSTM). */
export function initMetaParams(c: VariantConfig, dim: number, rng: Stream): Params {
  const s = moduleSpecs(c, dim);
  const p: Params = { ...(s.m1 ? initLstm(s.m1, rng, 'm1.') : {}), ...(s.m2 ? initLstm(s.m2, rng, 'm2.') : {}) };
  for (const h of ZERO_HEADS) {
    // the reference's clamped step-size head keeps PyTorch's init
    if (h === 'm2.head.lr' && c.tele?.lrHead?.param !== 'logsigmoid') continue;
    for (const k of [`${h}.w`, `${h}.b`]) {
      if (p[k]) {
        const z = tf.zerosLike(p[k]);
        p[k].dispose();
        p[k] = z;
      }
    }
  }
  return p;
}

export function initUnrollState(c: VariantConfig, ws: [tf.Tensor3D, tf.Tensor3D]): UnrollState {
  const B = ws[0].shape[0];
  const dim = ws[0].shape[1];
  const s = moduleSpecs(c, dim);
  return {
    ws: [tf.clone(ws[0]), tf.clone(ws[1])],
    m1: s.m1 ? zeroLstmState(s.m1, B) : null,
    m2: s.m2 ? zeroLstmState(s.m2, B) : null,
    step: 0,
  };
}

export const unrollTensors = (s: UnrollState): tf.Tensor[] => [
  ...s.ws,
  ...(s.m1 ? [...s.m1.h, ...s.m1.c] : []),
  ...(s.m2 ? [...s.m2.h, ...s.m2.c] : []),
];

export function disposeUnroll(s: UnrollState): void {
  tf.dispose(unrollTensors(s));
}

/** Gradient features [B, width] for the LSTMs. */
export function preprocess(g: tf.Tensor2D, c: PreprocessConfig): tf.Tensor2D {
  if (c.kind === 'raw') return (c.inputScale === 1 ? g : tf.mul(g, c.inputScale)) as tf.Tensor2D;
  const p = c.p;
  const a = tf.abs(g);
  const big = tf.greaterEqual(a, Math.exp(-p));
  const logm = tf.where(big, tf.div(tf.log(tf.maximum(a, Math.exp(-p))), p), tf.fill(g.shape, -1));
  const sgn = tf.where(big, tf.sign(g), tf.mul(g, Math.exp(p)));
  return tf.concat([logm, sgn], 1) as tf.Tensor2D;
}

/** Offset so that a zero head output gives the step size `lr` (clamped into the range). */
function logitOfLr(lr: number, h: LrHeadConfig): number {
  const f = Math.min(Math.max(Math.log(lr / h.min) / Math.log(h.max / h.min), 1e-3), 1 - 1e-3);
  return Math.log(f / (1 - f));
}

/** Rescale each T of [B, d, d] to Frobenius norm `norm`. */
export function rescaleT(t: tf.Tensor3D, norm: number): tf.Tensor3D {
  const n = tf.sqrt(tf.add(tf.sum(tf.square(t), [1, 2], true), 1e-30));
  return tf.mul(t, tf.div(norm, n)) as tf.Tensor3D;
}

/**
 * The 'inverse' group action specialised to two layers with square invertible X:
 * W2' = W2 g^-1, W1' = s^-1(g s(W1 X)) X^-1 (X^-1 precomputed per trajectory).
 * Equal to symmetry/action.ts groupAction(..., {kind: 'inverse'}) (tested).
 */
export function teleportPair(
  ws: readonly [tf.Tensor3D, tf.Tensor3D],
  g: tf.Tensor3D,
  data: Pick<ProblemData, 'x' | 'xInv' | 'slope'>,
  action: 'inverse' | 'linear',
  t?: tf.Tensor3D,
): [tf.Tensor3D, tf.Tensor3D] {
  const moved = leakyReluInv(tf.matMul(g, leakyRelu(tf.matMul(ws[0], data.x), data.slope)), data.slope);
  const w1 = tf.matMul(moved, data.xInv) as tf.Tensor3D;
  const w2 =
    action === 'inverse' || !t ? tf.matMul(ws[1], inv(g)) : tf.sub(ws[1], tf.matMul(ws[1], t)); // W2 (I - T)
  return [w1, w2 as tf.Tensor3D];
}

/**
 * d/dT ||grad L(g.w)||^2 at T = 0 for g = I + T and the inverse action (h -> g h, W2 -> W2 g^-1),
 * in closed form (the activation mask held fixed, as it is almost everywhere):
 *   d||dW2||^2 = 2 dW2^T dW2,   d||dW1||^2 = -2 G (s'(W1 X) * (dW1 X))^T  with G = W2^T R,
 * R = W2 s(W1 X) - Y. Checked against autodiff through groupAction in the tests.
 */
export function gradNormAscent(ws: readonly [tf.Tensor3D, tf.Tensor3D], data: Pick<ProblemData, 'x' | 'y' | 'slope'>): tf.Tensor3D {
  const tr = (a: tf.Tensor3D) => tf.transpose(a, [0, 2, 1]) as tf.Tensor3D;
  const pre = tf.matMul(ws[0], data.x);
  const mask = tf.step(pre, data.slope) as tf.Tensor3D;
  const h = tf.mul(pre, mask) as tf.Tensor3D;
  const r = tf.sub(tf.matMul(ws[1], h), data.y) as tf.Tensor3D;
  const gW2 = tf.matMul(r, tr(h)) as tf.Tensor3D;
  const gTop = tf.matMul(tr(ws[1]), r);
  const m = tf.mul(mask, gTop) as tf.Tensor3D; // dW1 = m X^T, so dW1 X = m X^T X
  const dW1X = tf.matMul(tf.matMul(m, tr(data.x)), data.x);
  const a = tf.matMul(tr(gW2), gW2);
  const b = tf.matMul(gTop, tr(tf.mul(mask, dW1X) as tf.Tensor3D));
  return tf.mul(2, tf.sub(a, b)) as tf.Tensor3D;
}

const flat = (ts: readonly tf.Tensor3D[]): tf.Tensor2D =>
  tf.concat(ts.map((t) => tf.reshape(t, [t.shape[0], -1])), 1) as tf.Tensor2D;

const unflat = (f: tf.Tensor2D, dim: number): [tf.Tensor3D, tf.Tensor3D] => {
  const B = f.shape[0];
  const [a, b] = tf.split(f, 2, 1);
  return [tf.reshape(a, [B, dim, dim]) as tf.Tensor3D, tf.reshape(b, [B, dim, dim]) as tf.Tensor3D];
};

export interface StepResult {
  state: UnrollState;
  /** Loss at the weights before the step, [B]. */
  loss: tf.Tensor1D;
  /** Squared gradient norm at the weights before the step, [B]. */
  gradNormSq: tf.Tensor1D;
  stats: StepStats;
}

/** One step of the (learned) optimizer on a batch of problems. Allocates; call under tidy/tape. */
export function optimizerStep(meta: Params, c: VariantConfig, data: ProblemData, st: UnrollState, sink?: WeightGradSink): StepResult {
  const { loss, grads: rawGrads } = lossAndGrads(st.ws, data.x, data.y, data.slope);
  const grads = (c.secondOrder ? rawGrads : rawGrads.map((g) => stopGradient(g))) as [tf.Tensor3D, tf.Tensor3D];
  const gradNormSq = tf.add(tf.sum(tf.square(grads[0]), [1, 2]), tf.sum(tf.square(grads[1]), [1, 2])) as tf.Tensor1D;
  const r = updateFromGrads(meta, c, data, st, grads, sink);
  return { state: r.state, loss, gradNormSq, stats: r.stats };
}

/** The update rule alone: the next unroll state from the current one and its gradient. */
export function updateFromGrads(
  meta: Params,
  c: VariantConfig,
  data: ProblemData,
  st: UnrollState,
  grads: [tf.Tensor3D, tf.Tensor3D],
  sink?: WeightGradSink,
): { state: UnrollState; stats: StepStats } {
  const stats: StepStats = {};
  if (!isLearned(c)) {
    const ws = st.ws.map((w, i) => tf.sub(w, tf.mul(c.lr, grads[i]))) as [tf.Tensor3D, tf.Tensor3D];
    return { state: { ...st, ws, step: st.step + 1 }, stats };
  }
  const dim = data.dim;
  const specs = moduleSpecs(c, dim);
  const gflat = flat(grads);
  const features = preprocess(gflat, c.preprocess);

  let ws: [tf.Tensor3D, tf.Tensor3D] = st.ws;
  let m1 = st.m1;
  let m2 = st.m2;
  let teleOut: Record<string, tf.Tensor2D> | null = null;
  if (c.tele && specs.m2 && st.m2) {
    const r = lstmStep(meta, specs.m2, features, st.m2, 'm2.', !c.secondOrder, sink);
    m2 = r.state;
    teleOut = r.heads;
  }
  if (c.update && specs.m1 && st.m1) {
    const u = c.update;
    const r = lstmStep(meta, specs.m1, features, st.m1, 'm1.', !c.secondOrder, sink);
    m1 = r.state;
    let f: tf.Tensor2D = r.heads.f;
    if (u.outputScale !== 1) f = tf.mul(f, u.outputScale);
    if (u.clamp > 0) f = tf.clipByValue(f, -u.clamp, u.clamp);
    if (u.gdSkip !== 0) {
      const eta =
        u.lrScaleRange > 0 ? tf.mul(u.gdSkip, tf.exp(tf.mul(u.lrScaleRange, tf.tanh(r.heads.s)))) : tf.scalar(u.gdSkip);
      if (u.lrScaleRange > 0) stats.eta = tf.reshape(eta, [-1]) as tf.Tensor1D;
      f = tf.sub(f, tf.mul(gflat, eta));
    }
    stats.updateNorm = tf.sqrt(tf.sum(tf.square(f), 1)) as tf.Tensor1D;
    const fs = unflat(f, dim);
    ws = [tf.add(ws[0], fs[0]), tf.add(ws[1], fs[1])];
  } else if (c.tele?.lrHead && teleOut) {
    const h = c.tele.lrHead;
    const z = tf.reshape(teleOut.lr, [-1]);
    const eta =
      h.param === 'clamp'
        ? tf.clipByValue(z, h.min, h.max)
        : tf.exp(tf.add(Math.log(h.min), tf.mul(tf.sigmoid(tf.add(z, logitOfLr(c.lr, h))), Math.log(h.max / h.min))));
    stats.eta = eta as tf.Tensor1D;
    const e3 = tf.reshape(eta, [-1, 1, 1]);
    ws = [tf.sub(ws[0], tf.mul(e3, grads[0])), tf.sub(ws[1], tf.mul(e3, grads[1]))];
  }
  if (c.tele && teleOut) {
    const B = ws[0].shape[0];
    let raw = tf.reshape(teleOut.T, [B, dim, dim]) as tf.Tensor3D;
    if (c.tele.headScale !== 1) raw = tf.mul(raw, c.tele.headScale);
    if (c.tele.direction !== 'none') {
      const d =
        c.tele.direction === 'w2'
          ? (tf.matMul(tf.transpose(grads[1], [0, 2, 1]), grads[1]) as tf.Tensor3D)
          : gradNormAscent(st.ws, data);
      const a = rescaleT(c.secondOrder ? d : stopGradient(d), 1);
      raw = tf.add(raw, tf.mul(tf.reshape(teleOut.c, [B, 1, 1]), a));
    }
    const t = c.tele.learnedMagnitude
      ? (tf.mul(rescaleT(raw, c.tele.magnitude), tf.reshape(tf.sigmoid(teleOut.m), [B, 1, 1])) as tf.Tensor3D)
      : rescaleT(raw, c.tele.magnitude);
    const g = tf.add(tf.eye(dim, dim, [B]), t) as tf.Tensor3D;
    stats.teleDist = tf.sqrt(tf.sum(tf.square(t), [1, 2])) as tf.Tensor1D;
    ws = teleportPair(ws, g, data, c.tele.action, t);
  }
  return { state: { ws, m1, m2, step: st.step + 1 }, stats };
}
