// The LSTM step's hand-written backward against float64 finite differences of a float64 twin,
// at first order (the order meta-gradients use it at), with its weights as ordinary inputs and
// through the weight-gradient sink; on wasm and on cpu.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { checkGradient } from '../../src/ops/index.js';
import { initLstm, lstmParamNames, lstmStep, WeightGradSink, type LstmSpec, type Params } from '../../src/nn/lstm.js';
import { stream } from '../../src/rng/index.js';
import { testBackends } from '../helpers/backend.js';

const SPEC: LstmSpec = { input: 3, hidden: 4, heads: { f: 3, s: 1 } };
const B = 2;
const STATE = ['h0', 'c0', 'h1', 'c1'] as const;
const names = lstmParamNames(SPEC);

/** Float64 twin of lstmStep on row-major arrays: heads and next state, flattened in lstmStep's output order. */
function step64(p: Record<string, Float64Array>, x: Float64Array, st: Record<(typeof STATE)[number], Float64Array>): number[] {
  const H = SPEC.hidden;
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
  const a = cell('cell0', x, SPEC.input, st.h0, st.c0);
  const c = cell('cell1', a.h, H, st.h1, st.c1);
  const out: number[] = [];
  for (const [k, n] of Object.entries(SPEC.heads)) {
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
