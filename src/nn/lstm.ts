// Two stacked LSTM cells and linear heads, batched over B independent sequences (the
// learned optimizers of paper section 5.2). Parameters are a flat record of named tensors so
// that meta-optimizers, checkpoints and histograms treat them uniformly.
//
// Gate order i, f, g, o as in PyTorch. One step of both cells and the heads is one op with a
// hand-written backward (see fusedStep): meta-gradients differentiate the LSTM once only (even
// in the full-second-order mode the second derivative is taken of the inner loss, never of
// the LSTM). Its weight products transpose explicitly: on wasm (tfjs 4.22) a matMul with
// transposeA/transposeB is ~10x slower than transpose + matMul (measured 1.0-1.4 vs 12-14
// GMAC/s for [32,1100]x[1100,1200]).
import * as tf from '@tensorflow/tfjs';
import type { Stream } from '../rng/index.js';
import { shareBuffer } from '../ops/tape-overrides.js';

import type { Params } from '../run/tensors.js';
export type { Params };

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

/**
 * Deferred weight and bias gradients. Inside one tf.grads call tfjs keeps every per-step
 * gradient contribution alive until the call ends (tape.js adds them up but does not free the
 * summands), so a 10-step window held ten [1600, 1200] copies per weight (~1 GB of wasm heap).
 * With a sink, the LSTM records (input, output gradient) pairs during the backward pass
 * instead, and each weight's gradient is one matMul over all steps afterwards,
 * dW = [x_1; ...; x_T]^T [dy_1; ...; dy_T], and its bias's one sum of the same dy. One zero
 * scalar "tap", differentiated in place of all of them, keeps the LSTM's op on the tape's path.
 */
export class WeightGradSink {
  readonly tap: tf.Scalar = tf.keep(tf.scalar(0));
  /** The weights and biases it holds (a bias when its weight is held, see biasWeight). */
  readonly names: readonly string[];
  private readonly records = new Map<string, { weights: string[]; xs: tf.Tensor[]; dys: tf.Tensor[] }>();
  private readonly wts = new Map<string, tf.Tensor2D>();
  private readonly combos = new Map<string, tf.Tensor>();

  /** A sink for the weights among `names` and their biases. */
  constructor(names: readonly string[]) {
    const weights = names.filter(isWeightName);
    this.names = [...weights, ...names.filter((n) => weights.includes(biasWeight(n, names) ?? ''))];
  }

  holds(name: string): boolean {
    return this.names.includes(name);
  }

  /** (input, output gradient) of one step of the weights `names`, side by side in one product (their columns in order). */
  record(names: string | readonly string[], x: tf.Tensor, dy: tf.Tensor): void {
    const ws = typeof names === 'string' ? [names] : [...names];
    const key = ws.join('+');
    const r = this.records.get(key) ?? { weights: ws, xs: [], dys: [] };
    r.xs.push(tf.keep(shareBuffer(x)));
    r.dys.push(tf.keep(shareBuffer(dy)));
    this.records.set(key, r);
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

  /** The concatenation of held parameters along `axis`, made once per sink (they are constant while it lives). */
  combined(key: string, parts: readonly tf.Tensor[], axis: number): tf.Tensor {
    let t = this.combos.get(key);
    if (t === undefined || t.isDisposed) {
      t = tf.keep(tf.concat([...parts], axis));
      this.combos.set(key, t);
    }
    return t;
  }

  /** The accumulated gradient of each held parameter (zeros for one no step used). */
  grads(params: Params): Params {
    const out: Params = {};
    for (const { weights, xs, dys } of this.records.values()) {
      const widths = weights.map((w) => params[w].shape[1] as number);
      const split = (t: tf.Tensor, axis: number) => (weights.length === 1 ? [t] : tf.split(t, widths, axis));
      const got = tf.tidy(() => {
        const dy = tf.concat(dys, 0) as tf.Tensor2D;
        const dW = split(tf.matMul(tf.transpose(tf.concat(xs, 0)) as tf.Tensor2D, dy), 1);
        const db = split(tf.sum(dy, 0), 0);
        const g: Record<string, tf.Tensor> = {};
        weights.forEach((w, i) => {
          g[w] = dW[i];
          const b = this.names.find((n) => biasWeight(n, this.names) === w);
          if (b) g[b] = db[i];
        });
        return g;
      });
      Object.assign(out, got);
    }
    for (const n of this.names) out[n] ??= tf.zerosLike(params[n]);
    return out;
  }

  dispose(): void {
    for (const r of this.records.values()) tf.dispose([...r.xs, ...r.dys]);
    this.records.clear();
    tf.dispose([...this.wts.values(), ...this.combos.values()]);
    this.wts.clear();
    this.combos.clear();
    this.tap.dispose();
  }
}

/**
 * The weight whose output gradient is a bias's: a cell's b adds to its product with wh (whose
 * output gradient wx shares), a head's b to its w. Undefined for any other name.
 */
export function biasWeight(name: string, names: readonly string[]): string | undefined {
  if (!name.endsWith('.b')) return undefined;
  const stem = name.slice(0, -2);
  return [`${stem}.wh`, `${stem}.w`].find((w) => names.includes(w));
}

/** Weight names of an LSTM parameter record (the matrices, not the biases). */
export const isWeightName = (name: string): boolean => /\.(wx|wh|w)$/.test(name);

/**
 * The gates' activation derivative from the activations a = [i, f, g, o] (each [B, H]):
 * a (1 - a) for the sigmoids, 1 - a^2 for tanh, i.e. a (q - a) + p with the constant rows
 * q = [1, 1, 0, 1] and p = [0, 0, 1, 0] (per block of H).
 */
const gateRows = new Map<number, { p: tf.Tensor1D; q: tf.Tensor1D }>();
function gateConstants(H: number): { p: tf.Tensor1D; q: tf.Tensor1D } {
  const cached = gateRows.get(H);
  if (cached && !cached.p.isDisposed && !cached.q.isDisposed) return cached;
  const block = (v: number[]) => Float32Array.from(v.flatMap((x) => new Array<number>(H).fill(x)));
  const fresh = { p: tf.keep(tf.tensor1d(block([0, 0, 1, 0]))), q: tf.keep(tf.tensor1d(block([1, 1, 0, 1]))) };
  gateRows.set(H, fresh);
  return fresh;
}

/** One cell's forward values and what its backward reads. */
interface CellValues {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
  si: tf.Tensor2D;
  sf: tf.Tensor2D;
  gt: tf.Tensor2D;
  so: tf.Tensor2D;
  /** tanh(c). */
  tc: tf.Tensor2D;
}

/** z = x wx + (h wh + b), gates i, f, g, o; the same ops in the same order as the affine maps and gates did. */
function cellForward(x: tf.Tensor2D, h: tf.Tensor2D, c: tf.Tensor2D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D): CellValues {
  const z = tf.add(tf.matMul(x, wx), tf.add(tf.matMul(h, wh), b)) as tf.Tensor2D;
  const H = z.shape[1] / 4;
  // one sigmoid over all four gates (elementwise: each entry as alone), tanh of g's block only
  const [si, sf, , so] = tf.split(tf.sigmoid(z), 4, 1) as tf.Tensor2D[];
  const gt = tf.tanh(tf.slice(z, [0, 2 * H], [-1, H])) as tf.Tensor2D;
  const c2 = tf.add(tf.mul(sf, c), tf.mul(si, gt)) as tf.Tensor2D;
  const tc = tf.tanh(c2);
  return { h: tf.mul(so, tc) as tf.Tensor2D, c: c2, si, sf, gt, so, tc };
}

/**
 * Gradient of a cell's pre-activations z and of its incoming c from those of its outputs:
 * dc = dc' + dh o (1 - tanh^2 c'), and dz = [dc g, dc c, dc i, dh tanh c'] * a'(z), all four
 * gates at once.
 */
function cellBackward(v: CellValues, cPrev: tf.Tensor2D, dh: tf.Tensor2D, dcOut: tf.Tensor2D): { dz: tf.Tensor2D; dcPrev: tf.Tensor2D } {
  const dc = tf.add(dcOut, tf.mul(tf.mul(dh, v.so), tf.sub(1, tf.square(v.tc)))) as tf.Tensor2D;
  const { p, q } = gateConstants(v.h.shape[1]);
  const a = tf.concat([v.si, v.sf, v.gt, v.so], 1);
  const dAct = tf.mul(tf.concat([v.gt, cPrev, v.si, v.tc], 1), tf.concat([dc, dc, dc, dh], 1));
  const dz = tf.mul(dAct, tf.add(tf.mul(a, tf.sub(q, a)), p)) as tf.Tensor2D;
  return { dz, dcPrev: tf.mul(dc, v.sf) as tf.Tensor2D };
}

const CELL_VALUES = ['h', 'c', 'si', 'sf', 'gt', 'so', 'tc'] as const;
const packCell = (v: CellValues): tf.Tensor2D[] => CELL_VALUES.map((k) => v[k]);
const unpackCell = (ts: readonly tf.Tensor[]): CellValues => Object.fromEntries(CELL_VALUES.map((k, i) => [k, ts[i]])) as unknown as CellValues;

/**
 * One step of both cells and the heads as one op with a hand-written backward: the tape
 * records a single node per step instead of some sixty, and the backward is about fifteen
 * kernels per cell. The forward is the op-by-op one, the same numbers. It saves intermediates
 * (gates, tanh c), so it is correct to first order only: meta-gradients differentiate the
 * LSTM once (the second-order mode differentiates the inner loss twice, never the LSTM).
 *
 * Output: [B, heads..., h0, c0, h1, c1] in one tensor (a customGrad op has one output).
 */
function fusedStep(
  params: Params,
  spec: LstmSpec,
  prefix: string,
  constInput: boolean,
  sink: WeightGradSink | undefined,
): (x: tf.Tensor2D, state: LstmState) => tf.Tensor2D {
  const heads = Object.keys(spec.heads);
  const names = {
    wx: [`${prefix}cell0.wx`, `${prefix}cell1.wx`],
    wh: [`${prefix}cell0.wh`, `${prefix}cell1.wh`],
    b: [`${prefix}cell0.b`, `${prefix}cell1.b`],
    hw: heads.map((k) => `${prefix}head.${k}.w`),
    hb: heads.map((k) => `${prefix}head.${k}.b`),
  };
  const weightNames = [...names.wx, ...names.wh, ...names.hw];
  const biasNames = [...names.b, ...names.hb];
  if (sink && ![...weightNames, ...biasNames].every((n) => sink.holds(n))) throw new Error('lstmStep: a sink must hold every weight and bias of the LSTM');
  // With a sink, weights and biases are constants here and the sink's tap is the one input for them.
  const paramInputs = sink ? [sink.tap] : [...biasNames, ...weightNames].map((n) => params[n]);
  const nb = biasNames.length;
  // the heads as one product (each output column the same dot product as alone), their
  // weights and biases concatenated once per window in the sink
  const headsKey = `${prefix}head`;
  const cat = (key: string, parts: tf.Tensor[]) => (parts.length === 1 ? parts[0] : sink ? sink.combined(key, parts, parts[0].rank - 1) : tf.concat(parts, parts[0].rank - 1));
  const weightGrad = (n: string, input: tf.Tensor, dy: tf.Tensor): tf.Tensor | null => {
    if (sink) {
      sink.record(n, input, dy);
      return null;
    }
    return tf.matMul(tf.transpose(input), dy);
  };
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [x, h0, c0, h1, c1, ...rest] = args.slice(0, -1) as tf.Tensor2D[];
    const bs = (sink ? biasNames.map((n) => params[n]) : rest.slice(0, nb)) as tf.Tensor1D[];
    // without a sink the weights are inputs, saved for the backward (the caller's may be gone by then)
    const ws = sink ? weightNames.map((n) => params[n] as tf.Tensor2D) : rest.slice(nb);
    const w = (n: string) => ws[weightNames.indexOf(n)];
    const cell0 = cellForward(x, h0, c0, w(names.wx[0]), w(names.wh[0]), bs[0]);
    const cell1 = cellForward(cell0.h, h1, c1, w(names.wx[1]), w(names.wh[1]), bs[1]);
    const headsOut = tf.add(tf.matMul(cell1.h, cat(`${headsKey}.w`, names.hw.map(w)) as tf.Tensor2D), cat(`${headsKey}.b`, bs.slice(2)));
    save([x, h0, c0, h1, c1, ...packCell(cell0), ...packCell(cell1), ...(sink ? [] : ws)]);
    return {
      value: tf.concat([headsOut, cell0.h, cell0.c, cell1.h, cell1.c], 1),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor2D[]) => {
        const [xs, h0s, c0s, h1s, c1s] = saved;
        const v0 = unpackCell(saved.slice(5, 12));
        const v1 = unpackCell(saved.slice(12, 19));
        const wSaved = (n: string) => saved[19 + weightNames.indexOf(n)];
        const wT = (n: string) => (sink ? sink.transposed(n, params[n]) : (tf.transpose(wSaved(n)) as tf.Tensor2D));
        const H = spec.hidden;
        const widths = heads.map((k) => spec.heads[k]);
        const [dHeads, dh0o, dc0o, dh1o, dc1o] = tf.split(dy, [widths.reduce((a, b) => a + b, 0), H, H, H, H], 1) as tf.Tensor2D[];
        const dW: Record<string, tf.Tensor | null> = {};
        const headsW = cat(`${headsKey}.w`, names.hw.map((n) => (sink ? params[n] : wSaved(n))));
        const headsT = sink ? sink.transposed(`${headsKey}.w`, headsW) : tf.transpose(headsW);
        const dh1 = tf.add(dh1o, tf.matMul(dHeads, headsT as tf.Tensor2D)) as tf.Tensor2D;
        if (sink) sink.record(names.hw, v1.h, dHeads);
        else {
          const dWh = tf.matMul(tf.transpose(v1.h), dHeads);
          (heads.length === 1 ? [dWh] : tf.split(dWh, widths, 1)).forEach((g, k) => (dW[names.hw[k]] = g));
        }
        const g1 = cellBackward(v1, c1s, dh1, dc1o);
        dW[names.wx[1]] = weightGrad(names.wx[1], v0.h, g1.dz);
        dW[names.wh[1]] = weightGrad(names.wh[1], h1s, g1.dz);
        const dh0 = tf.add(dh0o, tf.matMul(g1.dz, wT(names.wx[1]))) as tf.Tensor2D;
        const g0 = cellBackward(v0, c0s, dh0, dc0o);
        dW[names.wx[0]] = weightGrad(names.wx[0], xs, g0.dz);
        dW[names.wh[0]] = weightGrad(names.wh[0], h0s, g0.dz);
        const dx = constInput ? tf.zeros(xs.shape) : tf.matMul(g0.dz, wT(names.wx[0]));
        const dState = [dx, tf.matMul(g0.dz, wT(names.wh[0])), g0.dcPrev, tf.matMul(g1.dz, wT(names.wh[1])), g1.dcPrev];
        if (sink) return [...dState, tf.scalar(0)];
        const dbHeads = tf.sum(dHeads, 0);
        const dbs = [tf.sum(g0.dz, 0), tf.sum(g1.dz, 0), ...(heads.length === 1 ? [dbHeads] : tf.split(dbHeads, widths, 0))];
        return [...dState, ...dbs, ...weightNames.map((n) => dW[n]!)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...ts: tf.Tensor[]) => tf.Tensor2D;
  return (x, st) => op(x, st.h[0], st.c[0], st.h[1], st.c[1], ...paramInputs);
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
  const out = fusedStep(params, spec, prefix, constInput, sink)(x, state);
  const names = Object.keys(spec.heads);
  const H = spec.hidden;
  const parts = tf.split(out, [...names.map((k) => spec.heads[k]), H, H, H, H], 1) as tf.Tensor2D[];
  const heads = Object.fromEntries(names.map((k, i) => [k, parts[i]]));
  const [h0, c0, h1, c1] = parts.slice(names.length);
  return { heads, state: { h: [h0, h1], c: [c0, c1] } };
}

export const lstmStateTensors = (s: LstmState): tf.Tensor[] => [...s.h, ...s.c];
