// The LSTM step's hand-written backward against float64 finite differences of a float64 twin,
// at first order (the order meta-gradients use it at), with its weights as ordinary inputs and
// through the weight-gradient sink; on wasm and on cpu.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { checkGradient } from '../../src/ops/index.js';
import { initLstm, lstmPairStep, lstmParamNames, lstmStep, pairState, WeightGradSink, type LstmSpec, type LstmState, type Params } from '../../src/nn/lstm.js';
import { fdDerivative } from '../../src/ops/gradcheck.js';
import { stream } from '../../src/rng/index.js';
import { testBackends } from '../helpers/backend.js';

const SPEC: LstmSpec = { input: 3, hidden: 4, heads: { f: 3, s: 1 } };
const B = 2;
const STATE = ['h0', 'c0', 'h1', 'c1'] as const;
const names = lstmParamNames(SPEC);

/** Float64 twin of lstmStep on row-major arrays: heads and next state, flattened in lstmStep's output order. */
function step64(p: Record<string, Float64Array>, x: Float64Array, st: Record<(typeof STATE)[number], Float64Array>, spec: LstmSpec = SPEC): number[] {
  const H = spec.hidden;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const cell = (pre: string, inp: Float64Array, n: number, h: Float64Array, c: Float64Array) => {
    const h2 = new Float64Array(B * H), c2 = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const z = new Float64Array(4 * H);
      for (let j = 0; j < 4 * H; j++) {
        let v = p[`${pre}.b`][j];
        for (let k = 0; k < n; k++) v += inp[b * n + k] * p[`${pre}.wx`][k * 4 * H + j];
        for (let k = 0; k < H; k++) v += h[b * H + k] * p[`${pre}.wh`][k * 4 * H + j];
        z[j] = v;
      }
      for (let j = 0; j < H; j++) {
        const c1 = sig(z[H + j]) * c[b * H + j] + sig(z[j]) * Math.tanh(z[2 * H + j]);
        c2[b * H + j] = c1;
        h2[b * H + j] = sig(z[3 * H + j]) * Math.tanh(c1);
      }
    }
    return { h: h2, c: c2 };
  };
  const a = cell('cell0', x, spec.input, st.h0, st.c0);
  const c = cell('cell1', a.h, H, st.h1, st.c1);
  const out: number[] = [];
  for (const [k, n] of Object.entries(spec.heads)) {
    for (let b = 0; b < B; b++)
      for (let j = 0; j < n; j++) {
        let v = p[`head.${k}.b`][j];
        for (let i = 0; i < H; i++) v += c.h[b * H + i] * p[`head.${k}.w`][i * n + j];
        out.push(v);
      }
  }
  return [...out, ...a.h, ...a.c, ...c.h, ...c.c];
}

/** Readout weights for a scalar of every output, so that each output's gradient is checked. */
const readout = (n: number) => Float64Array.from(stream(1, 'lstm-readout').normalArray(n));

function inputs(): { params: Params; x: tf.Tensor2D; state: Record<(typeof STATE)[number], tf.Tensor2D> } {
  const params = initLstm(SPEC, stream(2, 'lstm-params'));
  const r = stream(3, 'lstm-inputs');
  const t = (n: number, s = 1) => tf.tensor2d(r.normalArray(B * n).map((v) => s * v), [B, n]);
  return { params, x: t(SPEC.input), state: { h0: t(SPEC.hidden, 0.5), c0: t(SPEC.hidden), h1: t(SPEC.hidden, 0.5), c1: t(SPEC.hidden) } };
}

/** The outputs of lstmStep in one [B, *] tensor per output, readout in step64's order. */
function readoutTf(r: ReturnType<typeof lstmStep>, w: Float64Array): tf.Scalar {
  const heads = Object.keys(SPEC.heads).map((k) => r.heads[k]);
  const outs = [...heads, r.state.h[0], r.state.c[0], r.state.h[1], r.state.c[1]];
  const flat = tf.concat(outs.map((o) => tf.reshape(o, [-1])));
  return tf.sum(tf.mul(flat, tf.tensor1d(Float32Array.from(w)))) as tf.Scalar;
}

for (const backend of testBackends(['wasm', 'cpu'])) {
  describe(`LSTM step on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('its gradient in every input, state and meta-parameter matches float64 finite differences (order 1)', () => {
      const { params, x, state } = inputs();
      const n = B * (Object.values(SPEC.heads).reduce((a, b) => a + b, 0) + 4 * SPEC.hidden);
      const w = readout(n);
      const xs = [x, ...STATE.map((k) => state[k]), ...names.map((k) => params[k])];
      const result = checkGradient(
        (ts) => {
          const p = Object.fromEntries(names.map((k, i) => [k, ts[5 + i]]));
          const r = lstmStep(p, SPEC, ts[0] as tf.Tensor2D, { h: [ts[1], ts[3]] as tf.Tensor2D[] as [tf.Tensor2D, tf.Tensor2D], c: [ts[2], ts[4]] as tf.Tensor2D[] as [tf.Tensor2D, tf.Tensor2D] });
          return readoutTf(r, w);
        },
        (a) => {
          const p = Object.fromEntries(names.map((k, i) => [k, a[5 + i]]));
          const out = step64(p, a[0], { h0: a[1], c0: a[2], h1: a[3], c1: a[4] });
          return out.reduce((s, v, i) => s + w[i] * v, 0);
        },
        xs,
        { orders: [1], directions: 3, seed: 7 },
      );
      assert.ok(result.maxRelError[1]! < 1e-3, JSON.stringify(result.entries));
      tf.dispose([...xs]);
    });

    test('two LSTMs as one pair (lstmPairStep): the outputs of two steps, and gradients through the sinks that match float64 finite differences (order 1); leaks nothing', () => {
      const SPEC_B: LstmSpec = { input: SPEC.input, hidden: 5, heads: { T: 4, c: 1, m: 1 } };
      const namesB = lstmParamNames(SPEC_B);
      const { params: pa, x, state } = inputs();
      const pb = initLstm(SPEC_B, stream(4, 'lstm-params-b'));
      const r = stream(5, 'lstm-inputs-b');
      const t = (n: number, s = 1) => tf.tensor2d(r.normalArray(B * n).map((v) => s * v), [B, n]);
      const HA = SPEC.hidden, HB = SPEC_B.hidden;
      const stA: LstmState = { h: [state.h0, state.h1], c: [state.c0, state.c1] };
      const stB: LstmState = { h: [t(HB, 0.5), t(HB, 0.5)], c: [t(HB), t(HB)] };
      const ps = pairState(stA, stB);
      const pairIn = [ps.h[0], ps.c[0], ps.h[1], ps.c[1]];
      // the backward's gate constants of hidden sizes HB and HA + HB are made once and cached for good: make them first
      const [wA, wB] = [new WeightGradSink(names), new WeightGradSink(namesB)];
      tf.tidy(() => {
        tf.grads((h: tf.Tensor) => tf.sum(lstmStep(pb, SPEC_B, x, { h: [h as tf.Tensor2D, stB.h[1]], c: stB.c }).state.h[1]) as tf.Scalar)([stB.h[0]]);
        tf.grads((h: tf.Tensor) => tf.sum(lstmPairStep({ params: pa, spec: SPEC, sink: wA }, { params: pb, spec: SPEC_B, sink: wB }, x, { h: [h as tf.Tensor2D, ps.h[1]], c: ps.c }).state.h[1]) as tf.Scalar)([ps.h[0]]);
      });
      wA.dispose();
      wB.dispose();
      const n0 = tf.memory().numTensors;
      const sinkA = new WeightGradSink(names), sinkB = new WeightGradSink(namesB);
      const headWidths = [...Object.values(SPEC.heads), ...Object.values(SPEC_B.heads)];
      const nOut = B * (headWidths.reduce((a, b) => a + b, 0) + 4 * (HA + HB));
      const w = readout(nOut);
      const scalar = (outs: tf.Tensor[]) => tf.sum(tf.mul(tf.concat(outs.map((o) => tf.reshape(o, [-1]))), tf.tensor1d(Float32Array.from(w)))) as tf.Scalar;
      const pairOuts = (st: tf.Tensor[]) => {
        const o = lstmPairStep({ params: pa, spec: SPEC, sink: sinkA }, { params: pb, spec: SPEC_B, sink: sinkB }, x, { h: [st[0], st[2]], c: [st[1], st[3]] } as LstmState);
        return [...Object.values(o.heads[0]), ...Object.values(o.heads[1]), o.state.h[0], o.state.c[0], o.state.h[1], o.state.c[1]];
      };
      // the forward: two separate steps' outputs
      tf.tidy(() => {
        const a = lstmStep(pa, SPEC, x, stA), b = lstmStep(pb, SPEC_B, x, stB);
        const sep = [...Object.values(a.heads), ...Object.values(b.heads), ...[0, 1].flatMap((i) => [tf.concat([a.state.h[i], b.state.h[i]], 1), tf.concat([a.state.c[i], b.state.c[i]], 1)])];
        const got = tf.tidy(() => pairOuts(pairIn));
        sep.forEach((s, i) => {
          const err = tf.max(tf.abs(tf.sub(s, got[i]))).dataSync()[0];
          assert.ok(err <= 1e-6, `output ${i}: ${err}`);
        });
      });
      // the gradient: state inputs through the tape, weights and biases through the sinks
      const stateGrads = tf.grads((...ts: tf.Tensor[]) => tf.add(scalar(pairOuts(ts.slice(0, 4))), tf.mul(0, tf.add(ts[4], ts[5]))) as tf.Scalar)([...pairIn, sinkA.tap, sinkB.tap]);
      const ga = sinkA.grads(pa), gb = sinkB.grads(pb);
      const host = (ts: tf.Tensor[]) => ts.map((v) => Float64Array.from(v.dataSync()));
      const baseA = host(names.map((k) => pa[k])), baseB = host(namesB.map((k) => pb[k])), baseS = host(pairIn), x64 = Float64Array.from(x.dataSync());
      const rows = (a: Float64Array, h: number, b: Float64Array, hb: number) => Float64Array.from({ length: B * (h + hb) }, (_, i) => { const row = Math.floor(i / (h + hb)), j = i % (h + hb); return j < h ? a[row * h + j] : b[row * hb + j - h]; });
      const cols = (p: Float64Array, h: number, hb: number, first: boolean) => Float64Array.from({ length: B * (first ? h : hb) }, (_, i) => { const n = first ? h : hb, row = Math.floor(i / n), j = i % n; return p[row * (h + hb) + (first ? j : h + j)]; });
      const f64 = (ta: Float64Array[], tb: Float64Array[], ts: Float64Array[]) => {
        const st = (first: boolean) => ({ h0: cols(ts[0], HA, HB, first), c0: cols(ts[1], HA, HB, first), h1: cols(ts[2], HA, HB, first), c1: cols(ts[3], HA, HB, first) });
        const oa = step64(Object.fromEntries(names.map((k, i) => [k, ta[i]])), x64, st(true), SPEC);
        const ob = step64(Object.fromEntries(namesB.map((k, i) => [k, tb[i]])), x64, st(false), SPEC_B);
        const nha = B * Object.values(SPEC.heads).reduce((a, b) => a + b, 0), nhb = B * Object.values(SPEC_B.heads).reduce((a, b) => a + b, 0);
        const part = (o: number[], at: number, n: number) => Float64Array.from(o.slice(at, at + n));
        const states = [0, 1, 2, 3].map((k) => rows(part(oa, nha + k * B * HA, B * HA), HA, part(ob, nhb + k * B * HB, B * HB), HB));
        const out = [...oa.slice(0, nha), ...ob.slice(0, nhb), ...states.flatMap((v) => Array.from(v))];
        return out.reduce((s, v, i) => s + w[i] * v, 0);
      };
      const gA = host(names.map((k) => ga[k])), gB = host(namesB.map((k) => gb[k])), gS = host(stateGrads.slice(0, 4));
      const dir = stream(6, 'lstm-pair-directions');
      for (let d = 0; d < 3; d++) {
        const v = (a: Float64Array[]) => a.map((t) => Float64Array.from(dir.normalArray(t.length)));
        const [va, vb, vs] = [v(baseA), v(baseB), v(baseS)];
        const along = (base: Float64Array[], vv: Float64Array[], e: number) => base.map((t, i) => t.map((y, j) => y + e * vv[i][j]));
        const fd = fdDerivative((e) => f64(along(baseA, va, e), along(baseB, vb, e), along(baseS, vs, e)), 1);
        const dot = (g: Float64Array[], vv: Float64Array[]) => g.reduce((s, t, i) => s + t.reduce((a, y, j) => a + y * vv[i][j], 0), 0);
        const ad = dot(gA, va) + dot(gB, vb) + dot(gS, vs);
        const rel = Math.abs(ad - fd) / Math.max(Math.abs(fd), 1e-3);
        assert.ok(rel < 1e-3, `direction ${d}: autodiff ${ad}, float64 finite differences ${fd}`);
      }
      tf.dispose([...stateGrads, ...Object.values(ga), ...Object.values(gb)]);
      sinkA.dispose();
      sinkB.dispose();
      assert.equal(tf.memory().numTensors, n0);
      tf.dispose([x, ...Object.values(state), ...stB.h, ...stB.c, ...pairIn, ...Object.values(pa), ...Object.values(pb)]);
    });

    test('through the gradient sink it gives the gradients of weights and biases it gives with them as inputs, and leaks nothing', () => {
      const { params, x, state } = inputs();
      const w = readout(B * (Object.values(SPEC.heads).reduce((a, b) => a + b, 0) + 4 * SPEC.hidden));
      const st = { h: [state.h0, state.h1] as [tf.Tensor2D, tf.Tensor2D], c: [state.c0, state.c1] as [tf.Tensor2D, tf.Tensor2D] };
      const direct = tf.grads((...ps: tf.Tensor[]) => readoutTf(lstmStep(Object.fromEntries(names.map((k, i) => [k, ps[i]])), SPEC, x, st), w))(names.map((k) => params[k]));
      const n0 = tf.memory().numTensors;
      const sink = new WeightGradSink(names);
      assert.deepEqual([...sink.names].sort(), [...names].sort(), 'the sink holds every weight and bias');
      const [tapGrad] = tf.grads((tap: tf.Tensor) => readoutTf(lstmStep(params, SPEC, x, st, '', false, sink), w).add(tf.mul(0, tap)))([sink.tap]);
      const fromSink = sink.grads(params);
      for (const [i, k] of names.entries()) {
        const err = tf.tidy(() => tf.max(tf.abs(tf.sub(fromSink[k], direct[i]))).dataSync()[0]);
        assert.ok(err < 1e-6, `${k}: ${err}`);
      }
      tf.dispose([tapGrad, ...Object.values(fromSink)]);
      sink.dispose();
      assert.equal(tf.memory().numTensors, n0);
      tf.dispose(direct);
      tf.dispose([x, ...Object.values(state), ...Object.values(params)]);
    });
  });
}
