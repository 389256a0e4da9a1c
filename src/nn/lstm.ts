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
import { registerSwitch, withSwitch } from '../ops/flags.js';
import { fusedKernel } from '../ops/wasm-kernels.js';

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
/** What a sink needs of the records it shares with its pair (see lstmPairStep). */
interface PairGrads {
  grads(which: 0 | 1): Params;
  dispose(): void;
}

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

  /** A tensor made once per sink (from held parameters, constant while it lives). */
  cached(key: string, make: () => tf.Tensor): tf.Tensor {
    let t = this.combos.get(key);
    if (t === undefined || t.isDisposed) {
      t = tf.keep(make());
      this.combos.set(key, t);
    }
    return t;
  }

  private pairLink: { records: PairGrads; which: 0 | 1 } | null = null;

  /** The records this sink shares with `other` as the pair (this, other) of lstmPairStep (made once). */
  pairWith<R extends PairGrads>(other: WeightGradSink, make: () => R): R {
    if (this.pairLink === null) {
      const records = make();
      this.pairLink = { records, which: 0 };
      other.pairLink = { records, which: 1 };
    }
    return this.pairLink.records as R;
  }

  /** The accumulated gradient of each held parameter (zeros for one no step used). */
  grads(params: Params): Params {
    const out: Params = {};
    if (this.pairLink) Object.assign(out, this.pairLink.records.grads(this.pairLink.which));
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
    if (this.pairLink?.which === 0) this.pairLink.records.dispose();
    this.pairLink = null;
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

// The cell's elementwise chains without transcendentals as fused wasm kernels (src/ops/wasm-kernels.ts):
// the same operations in the same order as the op-by-op code beside each use, so the same numbers.
/** c' = f c + i g. */
const cellState = fusedKernel({
  name: 'SymteleLstmCellState',
  layout: 'rows',
  inputs: ['sf', 'c', 'si', 'gt'],
  consts: [],
  steps: [['fc', 'mul', 'sf', 'c'], ['ig', 'mul', 'si', 'gt'], ['c2', 'add', 'fc', 'ig']],
  outputs: [['c2']],
});
/** cellBackward: dz (the four gates side by side) and the incoming c's gradient. */
const cellGrad = fusedKernel({
  name: 'SymteleLstmCellGrad',
  layout: 'rows',
  inputs: ['si', 'sf', 'gt', 'so', 'tc', 'cPrev', 'dh', 'dcOut'],
  consts: ['one', 'zero'],
  steps: [
    // dc = dc' + (dh o)(1 - tanh^2 c')
    ['t1', 'mul', 'dh', 'so'], ['t2', 'mul', 'tc', 'tc'], ['t3', 'sub', 'one', 't2'], ['t4', 'mul', 't1', 't3'], ['dc', 'add', 'dcOut', 't4'],
    // [g dc, c dc, i dc, tanh(c') dh] * (a (q - a) + p), a = [i, f, g, o], q = [1, 1, 0, 1], p = [0, 0, 1, 0]
    ['ai', 'mul', 'gt', 'dc'], ['af', 'mul', 'cPrev', 'dc'], ['ag', 'mul', 'si', 'dc'], ['ao', 'mul', 'tc', 'dh'],
    ['qi', 'sub', 'one', 'si'], ['ri', 'mul', 'si', 'qi'], ['di', 'add', 'ri', 'zero'],
    ['qf', 'sub', 'one', 'sf'], ['rf', 'mul', 'sf', 'qf'], ['df', 'add', 'rf', 'zero'],
    ['qg', 'sub', 'zero', 'gt'], ['rg', 'mul', 'gt', 'qg'], ['dg', 'add', 'rg', 'one'],
    ['qo', 'sub', 'one', 'so'], ['ro', 'mul', 'so', 'qo'], ['do', 'add', 'ro', 'zero'],
    ['zi', 'mul', 'ai', 'di'], ['zf', 'mul', 'af', 'df'], ['zg', 'mul', 'ag', 'dg'], ['zo', 'mul', 'ao', 'do'],
    ['dcPrev', 'mul', 'dc', 'sf'],
  ],
  outputs: [['zi', 'zf', 'zg', 'zo'], ['dcPrev']],
});

/** z = x wx + (h wh + b), gates i, f, g, o; the same ops in the same order as the affine maps and gates did. */
function cellForward(x: tf.Tensor2D, h: tf.Tensor2D, c: tf.Tensor2D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D): CellValues {
  const z = tf.add(tf.matMul(x, wx), tf.add(tf.matMul(h, wh), b)) as tf.Tensor2D;
  const H = z.shape[1] / 4;
  // one sigmoid over all four gates (elementwise: each entry as alone), tanh of g's block only
  const [si, sf, , so] = tf.split(tf.sigmoid(z), 4, 1) as tf.Tensor2D[];
  const gt = tf.tanh(tf.slice(z, [0, 2 * H], [-1, H])) as tf.Tensor2D;
  const c2 = (cellState.run([sf, c, si, gt])?.[0] ?? tf.add(tf.mul(sf, c), tf.mul(si, gt))) as tf.Tensor2D;
  const tc = tf.tanh(c2);
  return { h: tf.mul(so, tc) as tf.Tensor2D, c: c2, si, sf, gt, so, tc };
}

/**
 * Gradient of a cell's pre-activations z and of its incoming c from those of its outputs:
 * dc = dc' + dh o (1 - tanh^2 c'), and dz = [dc g, dc c, dc i, dh tanh c'] * a'(z), all four
 * gates at once.
 */
function cellBackward(v: CellValues, cPrev: tf.Tensor2D, dh: tf.Tensor2D, dcOut: tf.Tensor2D): { dz: tf.Tensor2D; dcPrev: tf.Tensor2D } {
  const fused = cellGrad.run([v.si, v.sf, v.gt, v.so, v.tc, cPrev, dh, dcOut], [1, 0]) as tf.Tensor2D[] | undefined;
  if (fused) return { dz: fused[0]!, dcPrev: fused[1]! };
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
 * Outputs: each head [B, width], then h0, c0, h1, c1 (multiOutputOp).
 */
function fusedStep(
  params: Params,
  spec: LstmSpec,
  prefix: string,
  constInput: boolean,
  sink: WeightGradSink | undefined,
): (x: tf.Tensor2D, state: LstmState) => tf.Tensor2D[] {
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
  const widths = heads.map((k) => spec.heads[k]);
  const op = (...args: tf.Tensor[]): tf.Tensor2D[] => multiOutputOp(args, (save) => {
    const [x, h0, c0, h1, c1, ...rest] = args as tf.Tensor2D[];
    const bs = (sink ? biasNames.map((n) => params[n]) : rest.slice(0, nb)) as tf.Tensor1D[];
    // without a sink the weights are inputs, saved for the backward (the caller's may be gone by then)
    const ws = sink ? weightNames.map((n) => params[n] as tf.Tensor2D) : rest.slice(nb);
    const w = (n: string) => ws[weightNames.indexOf(n)];
    const cell0 = cellForward(x, h0, c0, w(names.wx[0]), w(names.wh[0]), bs[0]);
    const cell1 = cellForward(cell0.h, h1, c1, w(names.wx[1]), w(names.wh[1]), bs[1]);
    const headsOut = tf.add(tf.matMul(cell1.h, cat(`${headsKey}.w`, names.hw.map(w)) as tf.Tensor2D), cat(`${headsKey}.b`, bs.slice(2)));
    save([x, h0, c0, h1, c1, ...packCell(cell0), ...packCell(cell1), ...(sink ? [] : ws)]);
    return {
      outputs: [...(widths.length === 1 ? [headsOut] : tf.split(headsOut, widths, 1)), cell0.h, cell0.c, cell1.h, cell1.c],
      backward: (dys: tf.Tensor[], savedT: tf.Tensor[]) => {
        const saved = savedT as tf.Tensor2D[];
        const [xs, h0s, c0s, h1s, c1s] = saved;
        const v0 = unpackCell(saved.slice(5, 12));
        const v1 = unpackCell(saved.slice(12, 19));
        const wSaved = (n: string) => saved[19 + weightNames.indexOf(n)];
        const wT = (n: string) => (sink ? sink.transposed(n, params[n]) : (tf.transpose(wSaved(n)) as tf.Tensor2D));
        const k = widths.length;
        const dHeads = (k === 1 ? dys[0] : tf.concat(dys.slice(0, k), 1)) as tf.Tensor2D;
        const [dh0o, dc0o, dh1o, dc1o] = dys.slice(k) as tf.Tensor2D[];
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
  }) as tf.Tensor2D[];
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
  const parts = fusedStep(params, spec, prefix, constInput, sink)(x, state);
  const names = Object.keys(spec.heads);
  const heads = Object.fromEntries(names.map((k, i) => [k, parts[i]]));
  const [h0, c0, h1, c1] = parts.slice(names.length);
  return { heads, state: { h: [h0, h1], c: [c0, c1] } };
}

export const lstmStateTensors = (s: LstmState): tf.Tensor[] => [...s.h, ...s.c];

// ---------------------------------------------------------------------------------------------
// Two LSTMs on one input as one LSTM: a pair (A, B) of LSTMs that read the same x at the same
// step runs as a single LSTM of hidden size HA + HB whose weights keep the two apart: gate
// columns interleaved per gate ([i_A i_B f_A f_B g_A g_B o_A o_B]), x's weights side by side,
// the recurrent, second-cell input and head weights block-diagonal, states [h_A | h_B]. Every
// elementwise kernel of the cells then runs once for both (half the calls). Each entry is the
// same dot product as alone, over the same terms in the same order (a block-diagonal product
// adds exact zeros to the other LSTM's entries): on wasm the numbers are identical to two
// separate steps (measured for every product shape here); on cpu the block-diagonal products
// sum in other blocks (cpu's matMul tiles k by 48), a float32 rounding apart. The products with
// zero blocks take more arithmetic (the H x 4H ones twice), not more calls.
// First order only, as lstmStep (it saves gate values); with sinks only: the weight gradients
// are the diagonal blocks of the pair's, taken once per window.
//
// Off by default: fewer calls, but the zero blocks' arithmetic made meta-training slower on
// wasm (docs/design/speed.md); where a kernel launch costs more than the arithmetic (a GPU) it
// may pay. On with the tfjs flag below: `tf.env().set(LSTM_PAIR_FLAG, true)` or the environment
// variable SYMTELE_LSTM_PAIR=1.

/** The tfjs environment flag that runs a pair of LSTMs as one (see above). */
export const LSTM_PAIR_FLAG = 'SYMTELE_LSTM_PAIR';
export const lstmPairEnabled = registerSwitch(LSTM_PAIR_FLAG, false);

/** `fn` with the pair flag set to `on`, the flag's value before restored after (also on a throw). */
export const withLstmPair = <T>(on: boolean, fn: () => Promise<T>): Promise<T> => withSwitch(LSTM_PAIR_FLAG, on, fn);

/** The pair's state from two states (one concatenation per tensor), and back. */
export function pairState(a: LstmState, b: LstmState): LstmState {
  const cat = (x: tf.Tensor2D, y: tf.Tensor2D) => tf.concat([x, y], 1) as tf.Tensor2D;
  return { h: [cat(a.h[0], b.h[0]), cat(a.h[1], b.h[1])], c: [cat(a.c[0], b.c[0]), cat(a.c[1], b.c[1])] };
}

export function unpairState(p: LstmState, ha: number, hb: number): [LstmState, LstmState] {
  const sp = (x: tf.Tensor2D) => tf.split(x, [ha, hb], 1) as tf.Tensor2D[];
  const [h0, h1, c0, c1] = [sp(p.h[0]), sp(p.h[1]), sp(p.c[0]), sp(p.c[1])];
  return [
    { h: [h0[0], h1[0]], c: [c0[0], c1[0]] },
    { h: [h0[1], h1[1]], c: [c0[1], c1[1]] },
  ];
}

/** A view of x with another shape (no kernel on cpu and wasm). */
const view = <T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T => shareBuffer(x, shape) as unknown as T;

/** [rows, 4 ha] and [rows, 4 hb] -> [rows, 4 (ha + hb)], gate blocks interleaved. */
function interleave(a: tf.Tensor, b: tf.Tensor, ha: number, hb: number): tf.Tensor {
  const rows = a.rank === 1 ? 1 : a.shape[0];
  const out = tf.concat([view(a, [rows, 4, ha]), view(b, [rows, 4, hb])], 2);
  return view(out, a.rank === 1 ? [4 * (ha + hb)] : [rows, 4 * (ha + hb)]);
}

/** diag(a, b) with a's columns gate-interleaved with b's (gates) or side by side (heads). */
function blockDiag(a: tf.Tensor2D, b: tf.Tensor2D, gates: boolean, ha: number, hb: number): tf.Tensor2D {
  const [ra, ca] = a.shape;
  const [rb, cb] = b.shape;
  if (!gates) return tf.concat([tf.concat([a, tf.zeros([ra, cb])], 1), tf.concat([tf.zeros([rb, ca]), b], 1)], 0) as tf.Tensor2D;
  const top = tf.concat([view(a, [ra, 4, ha]), tf.zeros([ra, 4, hb])], 2);
  const bottom = tf.concat([tf.zeros([rb, 4, ha]), view(b, [rb, 4, hb])], 2);
  return view(tf.concat([top, bottom], 0), [ra + rb, 4 * (ha + hb)]);
}

export interface PairMember {
  params: Params;
  spec: LstmSpec;
  sink: WeightGradSink;
}

/**
 * The pair's records (input, output gradient) per product, shared by both members' sinks;
 * each sink's `grads` takes its member's diagonal blocks (computed once for both).
 */
class PairRecords {
  readonly records = new Map<string, { xs: tf.Tensor[]; dys: tf.Tensor[] }>();
  private done: [Params, Params] | null = null;
  constructor(
    readonly a: PairMember,
    readonly b: PairMember,
  ) {}

  record(key: string, x: tf.Tensor, dy: tf.Tensor): void {
    const r = this.records.get(key) ?? { xs: [], dys: [] };
    r.xs.push(tf.keep(shareBuffer(x)));
    r.dys.push(tf.keep(shareBuffer(dy)));
    this.records.set(key, r);
  }

  /** Member `which`'s gradients (the caller owns them). */
  grads(which: 0 | 1): Params {
    if (this.done === null) this.done = tf.tidy(() => this.compute()).map((p) => Object.fromEntries(Object.entries(p).map(([k, t]) => [k, tf.keep(t)]))) as [Params, Params];
    const out = this.done[which];
    this.done[which] = {};
    return out;
  }

  private compute(): [Params, Params] {
    const { a, b } = this;
    const ha = a.spec.hidden, hb = b.spec.hidden;
    const ga: Params = {}, gb: Params = {};
    for (const [key, { xs, dys }] of this.records) {
      const dy = tf.concat(dys, 0) as tf.Tensor2D;
      const dW = tf.matMul(tf.transpose(tf.concat(xs, 0)) as tf.Tensor2D, dy);
      const db = tf.sum(dy, 0);
      if (key === 'head') {
        const na = Object.values(a.spec.heads).reduce((s, n) => s + n, 0);
        const nb = Object.values(b.spec.heads).reduce((s, n) => s + n, 0);
        const headsOf = (m: PairMember, g: Params, w: tf.Tensor, bias: tf.Tensor) => {
          const names = Object.keys(m.spec.heads);
          const widths = names.map((k) => m.spec.heads[k]);
          const ws = names.length === 1 ? [w] : tf.split(w, widths, 1);
          const bs = names.length === 1 ? [bias] : tf.split(bias, widths, 0);
          names.forEach((k, i) => ((g[`head.${k}.w`] = ws[i]), (g[`head.${k}.b`] = bs[i])));
        };
        headsOf(a, ga, tf.slice(dW, [0, 0], [ha, na]), tf.slice(db, [0], [na]));
        headsOf(b, gb, tf.slice(dW, [ha, na], [hb, nb]), tf.slice(db, [na], [nb]));
        continue;
      }
      // cell<k>.<wx|wh>: [rows, 4, ha + hb]; x's rows are shared (cell0.wx), else diagonal blocks
      const [cell, w] = key.split('.');
      const rows = dW.shape[0];
      const g3 = view<tf.Tensor3D>(dW, [rows, 4, ha + hb]);
      const shared = cell === 'cell0' && w === 'wx';
      const blockA = shared ? tf.slice(g3, [0, 0, 0], [rows, 4, ha]) : tf.slice(g3, [0, 0, 0], [ha, 4, ha]);
      const blockB = shared ? tf.slice(g3, [0, 0, ha], [rows, 4, hb]) : tf.slice(g3, [ha, 0, ha], [hb, 4, hb]);
      ga[key] = tf.reshape(blockA, [blockA.shape[0], 4 * ha]);
      gb[key] = tf.reshape(blockB, [blockB.shape[0], 4 * hb]);
      if (w === 'wh') {
        const b3 = tf.reshape(db, [4, ha + hb]);
        ga[`${cell}.b`] = tf.reshape(tf.slice(b3, [0, 0], [4, ha]), [4 * ha]);
        gb[`${cell}.b`] = tf.reshape(tf.slice(b3, [0, ha], [4, hb]), [4 * hb]);
      }
    }
    return [ga, gb];
  }

  dispose(): void {
    for (const r of this.records.values()) tf.dispose([...r.xs, ...r.dys]);
    this.records.clear();
    if (this.done) tf.dispose(this.done.flatMap((p) => Object.values(p)));
    this.done = [{}, {}];
  }
}

interface EngineKernelFunc {
  runKernelFunc(p: {
    forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => tf.Tensor[];
    backwardsFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor[];
}

/**
 * An op with several outputs and a hand-written backward (tf.customGrad has one output; a
 * concatenation into one and a split out of it cost two kernels each way). `backward` gets one
 * gradient per output (zeros, made on the host, for an unused one) and returns one per input.
 */
export function multiOutputOp(
  inputs: tf.Tensor[],
  forward: (save: tf.GradSaveFunc) => { outputs: tf.Tensor[]; backward: (dys: tf.Tensor[], saved: tf.Tensor[]) => tf.Tensor[] },
): tf.Tensor[] {
  let backward: ((dys: tf.Tensor[], saved: tf.Tensor[]) => tf.Tensor[]) | null = null;
  let n = 0;
  const engine = tf.engine() as unknown as EngineKernelFunc;
  const outs = engine.runKernelFunc({
    forwardFunc: (_backend, save) => {
      const r = forward(save);
      backward = r.backward;
      n = r.outputs.length;
      return r.outputs;
    },
    backwardsFunc: (dys, saved) => {
      const grads = backward!(n === 1 ? [dys as tf.Tensor] : (dys as tf.Tensor[]), saved);
      return Object.fromEntries(grads.map((g, i) => [String(i), () => g]));
    },
    inputs: Object.fromEntries(inputs.map((t, i) => [String(i), t])),
  });
  return Array.isArray(outs) ? outs : [outs];
}

/**
 * One step of the pair (A, B) on the shared, constant input x: both LSTMs' heads and the pair's
 * next state. First order only; the weight gradients go to the members' sinks.
 */
export function lstmPairStep(a: PairMember, b: PairMember, x: tf.Tensor2D, state: LstmState): { heads: [Record<string, tf.Tensor2D>, Record<string, tf.Tensor2D>]; state: LstmState } {
  const ha = a.spec.hidden, hb = b.spec.hidden;
  const pair = a.sink.pairWith(b.sink, () => new PairRecords(a, b));
  const headsA = Object.keys(a.spec.heads), headsB = Object.keys(b.spec.heads);
  const widths = [...headsA.map((k) => a.spec.heads[k]), ...headsB.map((k) => b.spec.heads[k])];
  const cached = (key: string, make: () => tf.Tensor) => a.sink.cached(`pair.${key}`, make);
  const pa = a.params, pb = b.params;
  const W = {
    wx0: () => cached('cell0.wx', () => interleave(pa['cell0.wx'], pb['cell0.wx'], ha, hb)) as tf.Tensor2D,
    wh0: () => cached('cell0.wh', () => blockDiag(pa['cell0.wh'] as tf.Tensor2D, pb['cell0.wh'] as tf.Tensor2D, true, ha, hb)) as tf.Tensor2D,
    b0: () => cached('cell0.b', () => interleave(pa['cell0.b'], pb['cell0.b'], ha, hb)) as tf.Tensor1D,
    wx1: () => cached('cell1.wx', () => blockDiag(pa['cell1.wx'] as tf.Tensor2D, pb['cell1.wx'] as tf.Tensor2D, true, ha, hb)) as tf.Tensor2D,
    wh1: () => cached('cell1.wh', () => blockDiag(pa['cell1.wh'] as tf.Tensor2D, pb['cell1.wh'] as tf.Tensor2D, true, ha, hb)) as tf.Tensor2D,
    b1: () => cached('cell1.b', () => interleave(pa['cell1.b'], pb['cell1.b'], ha, hb)) as tf.Tensor1D,
    hw: () =>
      cached('head.w', () =>
        blockDiag(tf.concat(headsA.map((k) => pa[`head.${k}.w`]), 1) as tf.Tensor2D, tf.concat(headsB.map((k) => pb[`head.${k}.w`]), 1) as tf.Tensor2D, false, ha, hb),
      ) as tf.Tensor2D,
    hb: () => cached('head.b', () => tf.concat([...headsA.map((k) => pa[`head.${k}.b`]), ...headsB.map((k) => pb[`head.${k}.b`])], 0)) as tf.Tensor1D,
  };
  const wT = (k: 'wx1' | 'wh0' | 'wh1' | 'hw') => cached(`${k}.T`, () => tf.transpose(W[k]())) as tf.Tensor2D;
  const outs = multiOutputOp([x, state.h[0], state.c[0], state.h[1], state.c[1], a.sink.tap, b.sink.tap], (save) => {
    const [h0, c0, h1, c1] = [state.h[0], state.c[0], state.h[1], state.c[1]];
    const cell0 = cellForward(x, h0, c0, W.wx0(), W.wh0(), W.b0());
    const cell1 = cellForward(cell0.h, h1, c1, W.wx1(), W.wh1(), W.b1());
    const headsOut = tf.add(tf.matMul(cell1.h, W.hw()), W.hb());
    save([x, h0, c0, h1, c1, ...packCell(cell0), ...packCell(cell1)]);
    return {
      outputs: [...(widths.length === 1 ? [headsOut] : tf.split(headsOut, widths, 1)), cell0.h, cell0.c, cell1.h, cell1.c],
      backward: (dys, saved) => {
        const [xs, h0s, c0s, h1s, c1s] = saved;
        const v0 = unpackCell(saved.slice(5, 12));
        const v1 = unpackCell(saved.slice(12, 19));
        const k = widths.length;
        const dHeads = k === 1 ? dys[0] : tf.concat(dys.slice(0, k), 1);
        const [dh0o, dc0o, dh1o, dc1o] = dys.slice(k) as tf.Tensor2D[];
        const dh1 = tf.add(dh1o, tf.matMul(dHeads, wT('hw'))) as tf.Tensor2D;
        pair.record('head', v1.h, dHeads);
        const g1 = cellBackward(v1, c1s as tf.Tensor2D, dh1, dc1o);
        pair.record('cell1.wx', v0.h, g1.dz);
        pair.record('cell1.wh', h1s, g1.dz);
        const dh0 = tf.add(dh0o, tf.matMul(g1.dz, wT('wx1'))) as tf.Tensor2D;
        const g0 = cellBackward(v0, c0s as tf.Tensor2D, dh0, dc0o);
        pair.record('cell0.wx', xs, g0.dz);
        pair.record('cell0.wh', h0s, g0.dz);
        return [tf.zeros(xs.shape), tf.matMul(g0.dz, wT('wh0')), g0.dcPrev, tf.matMul(g1.dz, wT('wh1')), g1.dcPrev, tf.scalar(0), tf.scalar(0)];
      },
    };
  });
  const k = widths.length;
  const heads = outs.slice(0, k) as tf.Tensor2D[];
  const [h0, c0, h1, c1] = outs.slice(k) as tf.Tensor2D[];
  return {
    heads: [Object.fromEntries(headsA.map((n, i) => [n, heads[i]])), Object.fromEntries(headsB.map((n, i) => [n, heads[headsA.length + i]]))],
    state: { h: [h0, h1], c: [c0, c1] },
  };
}
