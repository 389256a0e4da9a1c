// GL(d) actions on the hidden layers of a bias-free MLP (paper Appendix E.1).
//
// gs[m] acts on hidden layer m, i.e. on the pair (ws[m], ws[m+1]); null leaves it alone.
// The pairs are transformed in order m = 0, 1, ...; the input h of ws[m] is recomputed from
// the already transformed earlier layers. With V = ws[m], U = ws[m+1], s the activation:
//   'pinv'    (eq. 79, default): U <- U s(V h) s(g V h)^+ ,      V <- g V
//   'inverse' (eq. 78):          U <- U g^-1 ,                    V <- s^-1(g s(V h)) h^+
// The loss is exactly invariant only when the data matrices are full rank and "square
// enough" (pinv: k <= d_{m+1}; inverse: k <= d_m, so that h^+ h = I). Outside that regime,
// e.g. on a real mini-batch with more samples than hidden units, the action changes the loss
// on x a little; `actionReport` measures that drift. With g = I and k < width the weights are
// projected onto the span of the data: they change although f(x) does not.
//
// Every tensor accepts an optional leading batch dimension [B, ...] (many inner problems).
//
// Two forms of the inverse action (ActionOptions.inputs), one group action:
//   'acted' (default): as above, each layer's h is the input under the already transformed
//       earlier layers, and V' = s^-1(g s(V h)) h^+ with the pseudo-inverse of that acted input.
//   'original' (`actOnOriginalInputs`): h_{m-1} is the layer input under the ORIGINAL weights
//       and the product carries the previous layer's element explicitly,
//         W_m' = s^-1(g_m s(W_m h_{m-1})) h_{m-1}^+ g_{m-1}^-1  (g_{-1} = I),  W_L' = W_L g_{L-1}^-1.
//       The acted input is g_{m-1} h_{m-1}, whose pseudo-inverse is h_{m-1}^+ g_{m-1}^-1 when h_{m-1}
//       has full column rank, so both forms map the transformed input to s^-1(g_m h_m) and both
//       keep the loss invariant there (k <= d_{m-1}, h^+ h = I); with square inputs (k = d) the
//       pseudo-inverses are inverses and the two forms coincide (to rounding).
// The regression task (src/tasks/regression.ts) uses the 'original' form: its pseudo-inverses
// do not depend on g (X^+ is fixed per problem and computed once in float64; the deeper ones
// come from the original weights), so the group elements enter through matMul and inv only and
// the meta-gradient through the action is exact without differentiating a pseudo-inverse of a
// g-dependent matrix. The two-layer square case is `teleportTwoLayer`.
import * as tf from '@tensorflow/tfjs';
import { leakyRelu, leakyReluInv, DEFAULT_SLOPE } from '../ops/activations.js';
import { inv, pinv } from '../ops/linalg.js';
import { expm } from '../ops/expm.js';
import { mlpLoss, type MlpOptions } from '../nn/mlp.js';

import type { ActionKind } from '../config/common.js';
export type { ActionKind };

export interface ActionOptions {
  kind?: ActionKind;
  slope?: number;
  /**
   * Kind 'inverse' only: whose layer inputs the pseudo-inverses are of. 'acted' (default): the
   * inputs under the transformed earlier layers; 'original': the inputs under the given weights,
   * with g_{m-1}^-1 applied explicitly (`actOnOriginalInputs`; every hidden layer needs its g).
   */
  inputs?: 'acted' | 'original';
  /** inputs 'original': X^+ (e.g. precomputed in float64); pinv(x) when absent. */
  xPinv?: tf.Tensor;
  /** inputs 'original': stand-ins for g_m^-1 (e.g. an on-device or first-order inverse); inv(g_m) when absent. */
  inverses?: readonly (tf.Tensor | null | undefined)[];
}

const mm = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);

/** The transformed pair (V', U') for one hidden layer. */
function actOnPair(kind: ActionKind, g: tf.Tensor, V: tf.Tensor, U: tf.Tensor, h: tf.Tensor, slope: number) {
  if (kind === 'pinv') {
    const pre = mm(V, h);
    return { V: mm(g, V), U: mm(mm(U, leakyRelu(pre, slope)), pinv(leakyRelu(mm(g, pre), slope))) };
  }
  const moved = leakyReluInv(mm(g, leakyRelu(mm(V, h), slope)), slope);
  return { V: mm(moved, pinv(h)), U: mm(U, inv(g)) };
}

/**
 * Apply the group elements to the weights. The returned weights are built from the inputs
 * only, never from one another: the input of each later layer is computed along a duplicate
 * path. This matters under nested tf.grads (they share the outer tape): a gradient w.r.t. the returned
 * weights must be the partial derivative, as in the paper's gradient-norm objective.
 */
export function groupAction(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  gs: readonly (tf.Tensor | null | undefined)[],
  opts: ActionOptions = {},
): tf.Tensor[] {
  const kind = opts.kind ?? 'pinv';
  const slope = opts.slope ?? DEFAULT_SLOPE;
  if (opts.inputs === 'original') {
    if (kind !== 'inverse') throw new Error(`groupAction: inputs 'original' is a form of the inverse action, not of '${kind}'`);
    if (gs.length !== ws.length - 1 || gs.some((g) => !g)) {
      throw new Error(`groupAction: inputs 'original' needs a group element for each of the ${ws.length - 1} hidden layers`);
    }
    return actOnOriginalInputs(ws, gs as tf.Tensor[], x, opts.xPinv ?? pinv(x), slope, opts.inverses);
  }
  if (gs.length > ws.length - 1) {
    throw new Error(`groupAction: ${gs.length} group elements for ${ws.length - 1} hidden layers`);
  }
  const out = [...ws];
  // Twins of `out` used only to propagate layer inputs forward (see the doc comment).
  const prop = [...ws];
  let h = x;
  for (let m = 0; m < ws.length - 1; m++) {
    const g = gs[m];
    if (g) {
      const a = actOnPair(kind, g, out[m], out[m + 1], h, slope);
      const b = actOnPair(kind, g, prop[m], prop[m + 1], h, slope);
      out[m] = a.V;
      out[m + 1] = a.U;
      prop[m] = b.V;
      prop[m + 1] = b.U;
    }
    h = leakyRelu(mm(prop[m], h), slope);
  }
  return out;
}

/**
 * The inverse action in its original-input form (see the module comment): with h_{m-1} the
 * layer input of the original weights (full column rank, k <= d_{m-1}, so h^+ h = I),
 *   W_m' = s^-1(g_m s(W_m h_{m-1})) h_{m-1}^+ g_{m-1}^-1   (g_{-1} = I),   W_L' = W_L g_{L-1}^-1,
 * so W_m' maps the transformed input g_{m-1} h_{m-1} to s^-1(g_m h_m). Group elements enter
 * through matMul and inv only (exact derivatives in g); the pseudo-inverses are of the original
 * layer inputs. Every output is built from the inputs only, never from another output, so
 * gradients w.r.t. them are partial derivatives. `xPinv` is X^+; `inverses[m]` replaces
 * inv(g_m) when given (each inverse is made where it is used).
 */
export function actOnOriginalInputs(
  ws: readonly tf.Tensor[],
  gs: readonly tf.Tensor[],
  x: tf.Tensor,
  xPinv: tf.Tensor,
  slope: number,
  inverses?: readonly (tf.Tensor | null | undefined)[],
): tf.Tensor3D[] {
  const L = ws.length;
  if (gs.length !== L - 1) throw new Error(`inverse action: ${gs.length} group elements for ${L - 1} hidden layers`);
  const gInv = (m: number) => (inverses?.[m] ?? inv(gs[m])) as tf.Tensor3D;
  const out: tf.Tensor3D[] = [];
  let h = x;
  let hPinv = xPinv;
  for (let m = 0; m < L - 1; m++) {
    const act = leakyRelu(mm(ws[m], h), slope);
    let w = mm(leakyReluInv(mm(gs[m], act), slope), hPinv) as tf.Tensor3D;
    if (m > 0) w = mm(w, gInv(m - 1)) as tf.Tensor3D;
    out.push(w);
    h = act;
    if (m < L - 2) hPinv = pinv(h);
  }
  out.push(mm(ws[L - 1], gInv(L - 2)) as tf.Tensor3D);
  return out;
}

/**
 * The two-layer inverse action with square X (the original-input form, which then equals the
 * acted-input one): W1' = s^-1(g s(W1 X)) X^-1, W2' = W2 g^-1 (g^-1 replaced by `gInv` when given).
 */
export function teleportTwoLayer(
  ws: readonly [tf.Tensor3D, tf.Tensor3D],
  g: tf.Tensor3D,
  x: tf.Tensor3D,
  xInv: tf.Tensor3D,
  slope: number,
  gInv?: tf.Tensor3D,
): [tf.Tensor3D, tf.Tensor3D] {
  return actOnOriginalInputs(ws, [g], x, xInv, slope, [gInv]) as [tf.Tensor3D, tf.Tensor3D];
}

/** The identity [n, n] as a fresh constant (made on the host: no kernel, unlike tf.eye's reshape and tile). */
export function eyeConstant(n: number): tf.Tensor2D {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return tf.tensor2d(a, [n, n]);
}

/** g = I + T (T: [n, n] or [B, n, n]; the identity broadcast over the batch: one kernel). */
export function identityPlus(t: tf.Tensor): tf.Tensor {
  return tf.add(eyeConstant(t.shape[t.rank - 1]), t);
}

/** g = exp(t M): a point on the one-parameter subgroup of the Lie algebra element M. */
export function expGroup(m: tf.Tensor, t: number | tf.Scalar = 1): tf.Tensor {
  return expm(tf.mul(m, t));
}

/**
 * Rescale T to the given Frobenius norm (per problem when batched: [B, n, n]). The 1e-30 under
 * the root keeps a zero T zero and the map differentiable there (meta-gradients flow through it).
 */
export function rescaleFrobenius<T extends tf.Tensor>(t: T, norm: number): T {
  const axes = t.rank === 3 ? [1, 2] : undefined;
  const n = tf.sqrt(tf.add(tf.sum(tf.square(t), axes, true), 1e-30));
  return tf.mul(t, tf.div(norm, n)) as T;
}

export interface ActionReport {
  lossBefore: number;
  lossAfter: number;
  /** lossAfter - lossBefore: zero in the exact regime, nonzero on real mini-batches. */
  drift: number;
  /** ||g_m - I||_F for each hidden layer (0 for untouched layers). */
  distanceFromIdentity: number[];
}

/** Measure what an action did: loss before and after on (x, target), and ||g - I||. */
export function actionReport(
  ws: readonly tf.Tensor[],
  acted: readonly tf.Tensor[],
  x: tf.Tensor,
  target: tf.Tensor,
  gs: readonly (tf.Tensor | null | undefined)[],
  opts: MlpOptions = {},
): ActionReport {
  return tf.tidy(() => {
    const lossBefore = tf.sum(mlpLoss(ws, x, target, opts)).dataSync()[0];
    const lossAfter = tf.sum(mlpLoss(acted, x, target, opts)).dataSync()[0];
    const distanceFromIdentity = ws.slice(0, -1).map((w, m) => {
      const g = gs[m];
      if (!g) return 0;
      return tf.norm(tf.sub(g, identityPlus(tf.zerosLike(g)))).dataSync()[0];
    });
    return { lossBefore, lossAfter, drift: lossAfter - lossBefore, distanceFromIdentity };
  });
}

/**
 * Push tangent vectors at w forward through w -> g·w: for each v (one tensor per layer),
 * d/de g·(w + e v) at e = 0. This carries a velocity (e.g. a momentum buffer) through a
 * teleport; for the linear parts of the action it is g v_m and v_{m+1} g^-1, and for the
 * data-dependent parts it is their exact derivative. Reverse mode with a linear probe.
 */
export function pushForward(
  ws: readonly tf.Tensor[],
  x: tf.Tensor,
  gs: readonly (tf.Tensor | null | undefined)[],
  tangents: readonly (readonly tf.Tensor[])[],
  opts: ActionOptions = {},
): tf.Tensor[][] {
  return tangents.map((v) =>
    tf.tidy(() => {
      const acted = (e: tf.Scalar) => groupAction(ws.map((w, i) => tf.add(w, tf.mul(e, v[i]))), x, gs, opts);
      const probes = ws.map((w) => tf.zerosLike(w));
      // c(e) = sum_i <p_i, (g·(w + e v))_i> is linear in the probes p, so grad_p dc/de = the JVP
      const dcde = (...p: tf.Tensor[]) => {
        const e0 = tf.scalar(0);
        return tf.grad((e: tf.Tensor) => tf.addN(acted(e as tf.Scalar).map((a, i) => tf.sum(tf.mul(p[i], a)))) as tf.Scalar)(e0) as tf.Scalar;
      };
      return tf.grads(dcde)(probes);
    }),
  );
}
