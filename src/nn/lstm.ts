// Two stacked LSTM cells and linear heads, batched over B independent sequences (the
// learned optimizers of paper section 5.2). Parameters are a flat record of named tensors so
// that meta-optimizers, checkpoints and histograms treat them uniformly.
//
// Gate order i, f, g, o as in PyTorch. The affine maps use `linear`, whose gradient transposes
// explicitly: on wasm (tfjs 4.22) a matMul with transposeA/transposeB, which the stock matMul
// gradient uses, is ~10x slower than transpose + matMul (measured 1.0-1.4 vs 12-14 GMAC/s for
// [32,1100]x[1100,1200]); this alone made meta-training ~4x faster.
// Stock tf.sigmoid / tf.tanh are used: meta-gradients differentiate the LSTM once only (even
// in the full-second-order mode the second derivative is taken of the inner loss, never of
// the LSTM), and the stock ops are correct to first order.
import * as tf from '@tensorflow/tfjs';
import type { Stream } from '../rng/index.js';

export type Params = Record<string, tf.Tensor>;

export interface LstmSpec {
  input: number;
  hidden: number;
  /** Output width of each linear head on the top cell's hidden state. */
  heads: Record<string, number>;
}

/** Hidden and cell states of both cells, each [B, H]. */
export interface LstmState {
  h: [tf.Tensor2D, tf.Tensor2D];
  c: [tf.Tensor2D, tf.Tensor2D];
}

export const lstmParamNames = (spec: LstmSpec, prefix = ''): string[] => [
  `${prefix}cell0.wx`,
  `${prefix}cell0.wh`,
  `${prefix}cell0.b`,
  `${prefix}cell1.wx`,
  `${prefix}cell1.wh`,
  `${prefix}cell1.b`,
  ...Object.keys(spec.heads).flatMap((k) => [`${prefix}head.${k}.w`, `${prefix}head.${k}.b`]),
];

/** PyTorch's default init: LSTM cells and linear layers uniform in +-1/sqrt(fan). */
export function initLstm(spec: LstmSpec, rng: Stream, prefix = ''): Params {
  const H = spec.hidden;
  const u = (shape: number[], k: number) =>
    tf.tensor(rng.uniformArray(shape.reduce((a, b) => a * b, 1), -k, k), shape);
  const kc = 1 / Math.sqrt(H);
  const p: Params = {
    [`${prefix}cell0.wx`]: u([spec.input, 4 * H], kc),
    [`${prefix}cell0.wh`]: u([H, 4 * H], kc),
    [`${prefix}cell0.b`]: u([4 * H], kc),
    [`${prefix}cell1.wx`]: u([H, 4 * H], kc),
    [`${prefix}cell1.wh`]: u([H, 4 * H], kc),
    [`${prefix}cell1.b`]: u([4 * H], kc),
  };
  for (const [k, n] of Object.entries(spec.heads)) {
    p[`${prefix}head.${k}.w`] = u([H, n], kc);
    p[`${prefix}head.${k}.b`] = u([n], kc);
  }
  return p;
}

export function zeroLstmState(spec: LstmSpec, batch: number): LstmState {
  const z = () => tf.zeros([batch, spec.hidden]) as tf.Tensor2D;
  return { h: [z(), z()], c: [z(), z()] };
}

type Lin = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

const linearOp = (inputGrad: boolean): Lin =>
  tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.add(tf.matMul(x, w), b),
      // The transposes are freed at once: the whole backward pass runs inside one tidy, and
      // a transposed [1600, 1200] weight per step would otherwise live until it ends.
      gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor2D[]) => {
        let dx: tf.Tensor;
        if (inputGrad) {
          const wt = tf.transpose(ws);
          dx = tf.matMul(dy, wt);
          wt.dispose();
        } else dx = tf.zerosLike(xs);
        const xt = tf.transpose(xs);
        const dw = tf.matMul(xt, dy);
        xt.dispose();
        return [dx, dw, tf.sum(dy, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Lin;

/** x w + b, first-order differentiable, fast gradient on wasm. */
export const linear: Lin = linearOp(true);
/** The same for a constant x: its gradient is reported as zero and never computed. */
export const linearConstInput: Lin = linearOp(false);

/**
 * Deferred weight gradients. Inside one tf.grads call tfjs keeps every per-step gradient
 * contribution alive until the call ends (tape.js adds them up but does not free the
 * summands), so a 10-step window held ten [1600, 1200] copies per weight (~1 GB of wasm heap).
 * With a sink, the weight matmuls record (input, output gradient) pairs during the backward
 * pass instead, and each weight's gradient is one matMul over all steps afterwards:
 * dW = [x_1; ...; x_T]^T [dy_1; ...; dy_T]. A zero scalar "tap" per weight, differentiated in
 * place of the weight, keeps each op on the tape's path.
 */
export class WeightGradSink {
  readonly taps: Record<string, tf.Scalar> = {};
  private readonly xs = new Map<string, tf.Tensor[]>();
  private readonly dys = new Map<string, tf.Tensor[]>();
  private readonly wts = new Map<string, tf.Tensor2D>();

  constructor(readonly names: readonly string[]) {
    for (const n of names) this.taps[n] = tf.keep(tf.scalar(0));
  }

  record(name: string, x: tf.Tensor, dy: tf.Tensor): void {
    const push = (m: Map<string, tf.Tensor[]>, t: tf.Tensor) => {
      const list = m.get(name) ?? [];
      list.push(tf.keep(tf.clone(t)));
      m.set(name, list);
    };
    push(this.xs, x);
    push(this.dys, dy);
  }

  /**
   * w^T of a weight, made once per sink. The weights are constant while a sink lives (one
   * window), and the input gradient dy w^T of every step then reuses one operand: on wasm its
   * packed XNNPACK copy is cached by buffer, so a product at B = 4 with a [300, 1200] weight
   * takes 0.2 ms instead of 4.5 ms for a fresh transpose (measured); on every backend the
   * per-step transpose of the weight is gone.
   */
  transposed(name: string, w: tf.Tensor): tf.Tensor2D {
    let t = this.wts.get(name);
    if (t === undefined || t.isDisposed) {
      t = tf.keep(tf.transpose(w as tf.Tensor2D));
      this.wts.set(name, t);
    }
    return t;
  }

  /** The accumulated gradient of each weight (zeros for a weight no step used). */
  grads(weights: Params): Params {
    const out: Params = {};
    for (const n of this.names) {
      const xs = this.xs.get(n);
      const dys = this.dys.get(n);
      out[n] = tf.tidy(() =>
        xs && dys ? tf.matMul(tf.transpose(tf.concat(xs, 0)) as tf.Tensor2D, tf.concat(dys, 0) as tf.Tensor2D) : tf.zerosLike(weights[n]),
      );
    }
    return out;
  }

  dispose(): void {
    for (const m of [this.xs, this.dys]) for (const l of m.values()) tf.dispose(l);
    this.xs.clear();
    this.dys.clear();
    tf.dispose([...this.wts.values()]);
    this.wts.clear();
    tf.dispose(Object.values(this.taps));
  }
}

/** Weight names of an LSTM parameter record (the matrices, not the biases). */
export const isWeightName = (name: string): boolean => /\.(wx|wh|w)$/.test(name);

/** x w + b with w's gradient deferred to `sink` (see WeightGradSink). */
function linearDeferred(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, name: string, sink: WeightGradSink, inputGrad: boolean): tf.Tensor2D {
  const op = tf.customGrad(((xi: tf.Tensor2D, bi: tf.Tensor1D, _tap: tf.Scalar, save: tf.GradSaveFunc) => {
    save([xi]);
    return {
      value: tf.add(tf.matMul(xi, w as tf.Tensor2D), bi),
      gradFunc: (dy: tf.Tensor2D, [xs]: tf.Tensor2D[]) => {
        sink.record(name, xs, dy);
        const dx = inputGrad ? tf.matMul(dy, sink.transposed(name, w)) : tf.zerosLike(xs);
        return [dx, tf.sum(dy, 0), tf.zerosLike(_tap)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor2D;
  return op(x, b, sink.taps[name]);
}

const zeroBias = new Map<number, tf.Tensor1D>();
function noBias(n: number): tf.Tensor1D {
  const z = zeroBias.get(n);
  if (z && !z.isDisposed) return z;
  const fresh = tf.keep(tf.zeros([n])) as tf.Tensor1D;
  zeroBias.set(n, fresh);
  return fresh;
}

function affine(p: Params, name: string, x: tf.Tensor, b: tf.Tensor, sink: WeightGradSink | undefined, inputGrad = true): tf.Tensor2D {
  if (sink && sink.taps[name]) return linearDeferred(x, p[name], b, name, sink, inputGrad);
  return (inputGrad ? linear : linearConstInput)(x, p[name], b);
}

function cell(p: Params, name: string, x: tf.Tensor2D, h: tf.Tensor2D, c: tf.Tensor2D, constInput: boolean, sink?: WeightGradSink) {
  const wx = p[`${name}.wx`];
  const z = tf.add(
    affine(p, `${name}.wx`, x, noBias(wx.shape[1] as number), sink, !constInput),
    affine(p, `${name}.wh`, h, p[`${name}.b`], sink),
  );
  const [i, f, g, o] = tf.split(z, 4, 1);
  const c2 = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g))) as tf.Tensor2D;
  const h2 = tf.mul(tf.sigmoid(o), tf.tanh(c2)) as tf.Tensor2D;
  return { h: h2, c: c2 };
}

/**
 * One step: x [B, input] -> head outputs (each [B, width]) and the next state. `constInput`:
 * x does not depend on anything differentiated (skips its gradient). `sink`: defer the weight
 * gradients (see WeightGradSink).
 */
export function lstmStep(
  params: Params,
  spec: LstmSpec,
  x: tf.Tensor2D,
  state: LstmState,
  prefix = '',
  constInput = false,
  sink?: WeightGradSink,
): { heads: Record<string, tf.Tensor2D>; state: LstmState } {
  const a = cell(params, `${prefix}cell0`, x, state.h[0], state.c[0], constInput, sink);
  const b = cell(params, `${prefix}cell1`, a.h, state.h[1], state.c[1], false, sink);
  const heads: Record<string, tf.Tensor2D> = {};
  for (const k of Object.keys(spec.heads)) {
    heads[k] = affine(params, `${prefix}head.${k}.w`, b.h, params[`${prefix}head.${k}.b`], sink);
  }
  return { heads, state: { h: [a.h, b.h], c: [a.c, b.c] } };
}

export const lstmStateTensors = (s: LstmState): tf.Tensor[] => [...s.h, ...s.c];
