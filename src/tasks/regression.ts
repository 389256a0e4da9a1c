// The inner problem of paper section 5.2: L(W1, W2) = 0.5 ||Y - W2 s(W1 X)||_F^2 with W1, W2,
// X, Y square (20x20), entries uniform in [0, 1) (the reference init), s = LeakyReLU.
// Each trajectory has its own seed; training, validation and held-out trajectories come from
// disjoint seed streams. Everything is batched over a leading [B] dimension.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../rng/index.js';
import { inv64, mat64, pinv64 } from '../ops/linalg64.js';
import { DEFAULT_SLOPE, maskMul } from '../ops/activations.js';
import { unaryCustomOp } from '../ops/custom.js';
import { shareBuffer } from '../ops/tape-overrides.js';
import { actOnOriginalInputs, groupAction } from '../symmetry/action.js';
import type { Split, TaskFamily, TaskSymmetry } from './task.js';
import { unitDirection as unit } from './task.js';
import { arrayOf, oneOf, PositiveInt, strict, withDefaults } from '../config/codec.js';
import { mlpTaskSize } from '../config/parts.js';
import { LeakyReluSlope } from '../config/common.js';

export type { Split };
/**
 * 'stream': trajectory n of a split draws from stream(seed, split, n).
 * 'reference': the reference code's seeds, n^2*12345-1 (train) and n^2*12345 (held-out),
 * used as the seed of our generator (its numbers differ from torch's; the seed sets agree).
 * Validation trajectories take n^2*12345+1 under 'reference', disjoint from both.
 */
export type SeedScheme = 'stream' | 'reference';

function trajectoryStream(spec: Pick<RegressionFamilySpec, 'seedScheme'>, seed: number, split: Split, n: number) {
  if (spec.seedScheme === 'reference') {
    const base = n * n * 12345;
    return stream(split === 'train' ? base - 1 : split === 'heldout' ? base : base + 1);
  }
  return stream(seed, split, n);
}

/**
 * Loss [B] and its partial derivatives in closed form (one forward, two matMuls back):
 *   R = W2 s(W1 X) - Y,  dW2 = R s(W1 X)^T,  dW1 = (s'(W1 X) * W2^T R) X^T.
 * Built from matMul and a constant mask, so it is differentiable again (second order) and
 * avoids a nested tf.grads inside the meta-gradient tape.
 */
export function lossAndGrads(
  ws: readonly [tf.Tensor3D, tf.Tensor3D],
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  slope: number,
): { loss: tf.Tensor1D; grads: [tf.Tensor3D, tf.Tensor3D] } {
  const [w1, w2] = ws;
  const pre = tf.matMul(w1, x);
  const mask = tf.step(pre, slope);
  // maskMul: the products with the mask without a gradient for it (it is locally constant)
  const h = maskMul(pre, mask) as tf.Tensor3D;
  const r = tf.sub(tf.matMul(w2, h), y) as tf.Tensor3D;
  const loss = halfSumSquares(r);
  const g2 = tf.matMul(r, h, false, true) as tf.Tensor3D;
  const g1 = tf.matMul(maskMul(tf.matMul(w2, r, true, false), mask) as tf.Tensor3D, x, false, true);
  return { loss, grads: [g1 as tf.Tensor3D, g2 as tf.Tensor3D] };
}

/**
 * 0.5 ||r||_F^2 per problem, [B], from r [B, m, k]: the stock ops forward, and the stock
 * backward's numbers in three kernels instead of four: (0.5 dy) r*2, the scale by 0.5 taken
 * before the product as tf.mul's gradient takes it (tf.sum's product with ones is exact, so it
 * is left out). First order: the meta-gradient differentiates the loss once (the inner
 * gradients are the closed form, never a derivative of this op).
 */
const halfSumSquares = (r: tf.Tensor): tf.Tensor1D =>
  unaryCustomOp((x, save) => {
    save([x]);
    return {
      value: tf.mul(0.5, tf.sum(tf.square(x), [1, 2])),
      gradFunc: (dy, [rs]) => {
        const half = tf.mul(dy, 0.5);
        const b = rs.shape[0];
        return tf.mul(tf.engine().isTapeOn() ? tf.reshape(half, [b, 1, 1]) : shareBuffer(half, [b, 1, 1]), tf.mul(rs, 2));
      },
    };
  })(r) as tf.Tensor1D;

/** Loss only, [B]. */
export function regressionLoss(ws: readonly [tf.Tensor3D, tf.Tensor3D], x: tf.Tensor3D, y: tf.Tensor3D, slope: number): tf.Tensor1D {
  const pre = tf.matMul(ws[0], x);
  const r = tf.sub(tf.matMul(ws[1], maskMul(pre, tf.step(pre, slope)) as tf.Tensor3D), y);
  return halfSumSquares(r);
}

// ---------------------------------------------------------------------------------------------
// The task family: the paper's problem generalised to any widths [d_0, ..., d_L] (depth L),
// k samples and LeakyReLU slope; a GL(d_m) element acts on every hidden layer m. With
// widths [20, 20, 20] and k = 20 it is the paper's problem (PAPER_REGRESSION_TASK).

export type RegressionFamilySpec = {
  /** Layer widths d_0 (input) .. d_L (output); W_i is [d_i, d_{i-1}]. */
  widths: number[];
  /** Samples k: X is [d_0, k], Y [d_L, k]. The inverse action is exact when k <= every d_m, m < L. */
  samples: number;
  slope: number;
  seedScheme: SeedScheme;
};

/** The paper's problem as a task config (section 5.2: 20x20 W1, W2, X, Y). */
export const PAPER_REGRESSION_TASK: { kind: 'regression' } & RegressionFamilySpec = { kind: 'regression', widths: [20, 20, 20], samples: 20, slope: DEFAULT_SLOPE, seedScheme: 'stream' };

/** Forward pass keeping what the closed-form backward needs: layer inputs h_0..h_{L-1} and masks. */
function forward(ws: readonly tf.Tensor[], x: tf.Tensor3D, slope: number) {
  const hs: tf.Tensor3D[] = [x];
  const masks: tf.Tensor3D[] = [];
  for (let i = 0; i < ws.length - 1; i++) {
    const pre = tf.matMul(ws[i] as tf.Tensor3D, hs[i]);
    const mask = tf.step(pre, slope) as tf.Tensor3D;
    masks.push(mask);
    hs.push(maskMul(pre, mask) as tf.Tensor3D);
  }
  return { hs, masks };
}

/**
 * Loss [B] and partial derivatives of any depth in closed form (the two-layer case is
 * `lossAndGrads` op for op): delta_L = R, dW_i = delta_i h_{i-1}^T, delta_i = s'(pre_i) * W_{i+1}^T delta_{i+1}.
 */
export function deepLossAndGrads(ws: readonly tf.Tensor[], x: tf.Tensor3D, y: tf.Tensor3D, slope: number): { loss: tf.Tensor1D; grads: tf.Tensor3D[] } {
  if (ws.length === 2) return lossAndGrads(ws as [tf.Tensor3D, tf.Tensor3D], x, y, slope);
  const L = ws.length;
  const { hs, masks } = forward(ws, x, slope);
  const r = tf.sub(tf.matMul(ws[L - 1] as tf.Tensor3D, hs[L - 1]), y) as tf.Tensor3D;
  const loss = halfSumSquares(r);
  const grads: tf.Tensor3D[] = new Array(L);
  let delta = r;
  for (let i = L - 1; i >= 0; i--) {
    grads[i] = tf.matMul(delta, hs[i], false, true) as tf.Tensor3D;
    if (i > 0) delta = maskMul(tf.matMul(ws[i] as tf.Tensor3D, delta, true, false), masks[i - 1]) as tf.Tensor3D;
  }
  return { loss, grads };
}

export function deepLoss(ws: readonly tf.Tensor[], x: tf.Tensor3D, y: tf.Tensor3D, slope: number): tf.Tensor1D {
  if (ws.length === 2) return regressionLoss(ws as [tf.Tensor3D, tf.Tensor3D], x, y, slope);
  const { hs } = forward(ws, x, slope);
  const r = tf.sub(tf.matMul(ws[ws.length - 1] as tf.Tensor3D, hs[hs.length - 1]), y);
  return halfSumSquares(r);
}

const tr = (a: tf.Tensor3D) => tf.transpose(a, [0, 2, 1]) as tf.Tensor3D;


/**
 * Problems of the family as one batched Task. Draw order per problem: W_1 .. W_L, X, Y, each
 * uniform in [0, 1) (the reference init; its draw order for W1, W2, X, Y).
 */
export function regressionFamily(spec: RegressionFamilySpec): TaskFamily {
  const { widths, samples: k, slope } = spec;
  const L = widths.length - 1;
  if (L < 1) throw new Error(`regression task: widths must list at least 2 layer widths, got [${widths}]`);
  const shapes = Array.from({ length: L }, (_, i) => [widths[i + 1], widths[i]]);
  const square = widths[0] === k;
  return {
    name: `regression ${widths.join('x')}, ${k} samples, slope ${slope}`,
    sample(seed, split, ids) {
      const B = ids.length;
      const wsHost = shapes.map(([r, c]) => new Float32Array(B * r * c));
      const xs = new Float32Array(B * widths[0] * k), ys = new Float32Array(B * widths[L] * k);
      const xp = new Float32Array(B * widths[0] * k);
      ids.forEach((n, b) => {
        const r = trajectoryStream(spec, seed, split, n);
        shapes.forEach(([rr, cc], i) => wsHost[i].set(r.uniformArray(rr * cc), b * rr * cc));
        const xb = r.uniformArray(widths[0] * k);
        xs.set(xb, b * widths[0] * k);
        ys.set(r.uniformArray(widths[L] * k), b * widths[L] * k);
        const x64 = mat64(widths[0], k, xb);
        xp.set((square ? inv64(x64) : pinv64(x64)).data, b * widths[0] * k);
      });
      const init = wsHost.map((a, i) => tf.tensor3d(a, [B, shapes[i][0], shapes[i][1]]));
      const x = tf.tensor3d(xs, [B, widths[0], k]);
      const y = tf.tensor3d(ys, [B, widths[L], k]);
      const xPinv = tf.tensor3d(xp, [B, k, widths[0]]);
      const ascentOf = (params: readonly tf.Tensor[]) =>
        (L === 2 && square ? [gradNormAscent(params as [tf.Tensor3D, tf.Tensor3D], x, y, slope)] : gradNormAscentAutodiff(params, x, xPinv, y, slope)).map(unit);
      const w2Of = (grads: readonly tf.Tensor[]) => grads.slice(1).map((g) => unit(tf.matMul(tr(g as tf.Tensor3D), g as tf.Tensor3D) as tf.Tensor3D));
      const symmetry: TaskSymmetry | undefined =
        L < 2
          ? undefined
          : {
              groupSizes: widths.slice(1, L),
              directionKinds: ['gradNorm', 'w2'],
              // the inverse action on the original layer inputs (src/symmetry/action.ts)
              act: (params, gs, _step, inverses) => groupAction(params, x, gs, { kind: 'inverse', inputs: 'original', xPinv, slope, inverses }),
              directions: (params, grads) => {
                const ascent = ascentOf(params);
                const w2 = w2Of(grads);
                return ascent.map((a, m) => [a, w2[m]]);
              },
              direction: (params, grads, _step, kind) => {
                if (kind === 'gradNorm') return ascentOf(params);
                if (kind === 'w2') return w2Of(grads);
                throw new Error(`regression task: no "${kind}" direction`);
              },
            };
      return {
        size: B,
        paramShapes: shapes,
        init: () => init.map((w) => tf.clone(w)),
        lossAndGrads: (params) => deepLossAndGrads(params, x, y, slope),
        loss: (params) => deepLoss(params, x, y, slope),
        symmetry,
        dispose: () => tf.dispose([...init, x, y, xPinv]),
      };
    },
  };
}

/**
 * d/dT ||grad L(g.w)||^2 at T = 0 for g = I + T, two layers, square X, in closed form (the
 * activation mask held fixed, as it is almost everywhere):
 *   d||dW2||^2 = 2 dW2^T dW2,   d||dW1||^2 = -2 G (s'(W1 X) * (dW1 X))^T  with G = W2^T R,
 * R = W2 s(W1 X) - Y. Checked against autodiff through groupAction in the tests.
 */
export function gradNormAscent(ws: readonly [tf.Tensor3D, tf.Tensor3D], x: tf.Tensor3D, y: tf.Tensor3D, slope: number): tf.Tensor3D {
  const pre = tf.matMul(ws[0], x);
  const mask = tf.step(pre, slope) as tf.Tensor3D;
  const h = tf.mul(pre, mask) as tf.Tensor3D;
  const r = tf.sub(tf.matMul(ws[1], h), y) as tf.Tensor3D;
  const gW2 = tf.matMul(r, tr(h)) as tf.Tensor3D;
  const gTop = tf.matMul(tr(ws[1]), r);
  const m = tf.mul(mask, gTop) as tf.Tensor3D; // dW1 = m X^T, so dW1 X = m X^T X
  const dW1X = tf.matMul(tf.matMul(m, tr(x)), x);
  const a = tf.matMul(tr(gW2), gW2);
  const b = tf.matMul(gTop, tr(tf.mul(mask, dW1X) as tf.Tensor3D));
  return tf.mul(2, tf.sub(a, b)) as tf.Tensor3D;
}

/** The same ascent direction for any depth, by autodiff through the action (one T per hidden layer). */
function gradNormAscentAutodiff(ws: readonly tf.Tensor[], x: tf.Tensor3D, xPinv: tf.Tensor3D, y: tf.Tensor3D, slope: number): tf.Tensor3D[] {
  const B = x.shape[0];
  const ts = ws.slice(0, -1).map((w) => tf.zeros([B, w.shape[1]!, w.shape[1]!]) as tf.Tensor3D);
  return tf.grads((...t: tf.Tensor[]) => {
    const gs = t.map((ti) => tf.add(tf.eye(ti.shape[1]!, ti.shape[1]!, [B]), ti) as tf.Tensor3D);
    const acted = actOnOriginalInputs(ws, gs, x, xPinv, slope);
    const { grads } = deepLossAndGrads(acted, x, y, slope);
    return tf.addN(grads.map((g) => tf.sum(tf.square(g)))) as tf.Scalar;
  })(ts) as tf.Tensor3D[];
}

/** Config of the regression family (the `kind: 'regression'` member of the task union). */
export const RegressionTaskCodec = withDefaults(
  strict(
    {
      widths: arrayOf(PositiveInt, { min: 2, name: 'widths' }),
      samples: PositiveInt,
      slope: LeakyReluSlope,
      seedScheme: oneOf(['stream', 'reference']),
    },
    'RegressionTask',
  ),
  { widths: [20, 20, 20], samples: 20, slope: DEFAULT_SLOPE, seedScheme: 'stream' },
);

export const regressionTask = {
  kind: 'regression',
  codec: RegressionTaskCodec,
  create: regressionFamily,
  description: 'MLP regression (paper section 5.2): W_L..W_1 on random X, Y; GL(n) symmetry',
  size: (c: RegressionFamilySpec) => mlpTaskSize(c.widths),
};
