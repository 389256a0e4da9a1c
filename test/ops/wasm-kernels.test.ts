// Fused wasm kernels (src/ops/wasm-kernels.ts) give the op-by-op chains' numbers to the bit,
// through the vector path and the scalar tail (widths that are not multiples of 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { fusedKernel, withWasmKernels } from '../../src/ops/wasm-kernels.js';
import { tryGemv } from '../../src/ops/wasm-gemv.js';
import { initLstm, lstmParamNames, lstmStep, type LstmSpec } from '../../src/nn/lstm.js';
import { stream } from '../../src/rng/index.js';

// the kernels are the wasm backend's: this file runs there whatever the pass
await initBackend('wasm');

const bytes = (t: tf.Tensor) => new Uint8Array(t.dataSync().slice().buffer);

const kernel = fusedKernel({
  name: 'SymteleTestChain',
  layout: 'rows',
  inputs: ['a', 'b'],
  consts: ['k'],
  steps: [['s', 'add', 'a', 'b'], ['r', 'sqrt', 's'], ['q', 'div', 'r', 'k'], ['d', 'sub', 'q', 'a'], ['m', 'mul', 'd', 'b']],
  outputs: [['m', 'q'], ['d']],
});

test('a fused chain: the op-by-op numbers to the bit, parts side by side, the tail included', () => {
  const r = stream(5, 'wasm-kernels');
  const a = tf.tensor2d(r.normalArray(3 * 7).map(Math.abs), [3, 7]);
  const b = tf.tensor2d(r.normalArray(3 * 7).map(Math.abs), [3, 7]);
  const n0 = tf.memory().numTensors;
  const [mq, d] = kernel.run([a, b], [0.3])!;
  assert.equal(tf.memory().numTensors, n0 + 2);
  const [mqRef, dRef] = tf.tidy(() => {
    const q = tf.div(tf.sqrt(tf.add(a, b)), 0.3);
    const dr = tf.sub(q, a);
    return [tf.concat([tf.mul(dr, b), q], 1), dr];
  });
  assert.deepEqual(mq!.shape, [3, 14]);
  assert.deepEqual(bytes(mq!), bytes(mqRef!));
  assert.deepEqual(bytes(d!), bytes(dRef!));
  tf.dispose([mq!, d!, mqRef!, dRef!]);
  tf.dispose([a, b]);
});

test('where a fused kernel does not apply it says so: the switch off, a tape recording, another shape or backend', async () => {
  const a = tf.ones([2, 4]), b = tf.ones([2, 4]);
  assert.equal(await withWasmKernels(false, async () => kernel.run([a, b], [1])), undefined);
  tf.grad((x: tf.Tensor) => {
    assert.equal(kernel.run([x, b], [1]), undefined);
    return tf.sum(x);
  })(a).dispose();
  assert.equal(kernel.run([a, tf.ones([4, 2])], [1]), undefined);
  assert.throws(() => kernel.run([a, b]), /SymteleTestChain: expected 1 constants, got 0/);
  await initBackend('cpu');
  assert.equal(kernel.run([tf.ones([2, 4]), tf.ones([2, 4])], [1]), undefined);
  await initBackend('wasm');
  tf.dispose([a, b]);
});

for (const B of [1, 3]) test(`an LSTM step and its gradients with the fused kernels on and off, B = ${B}: the same to the bit`, async () => {
  const spec: LstmSpec = { input: 5, hidden: 7, heads: { u: 3 } };
  const params = initLstm(spec, stream(6, 'lstm-params'));
  const r = stream(7, 'lstm-inputs');
  const t = (rows: number, cols: number) => tf.tensor2d(r.normalArray(rows * cols), [rows, cols]);
  const x = t(B, 5), h0 = t(B, 7), c0 = t(B, 7), h1 = t(B, 7), c1 = t(B, 7);
  const names = lstmParamNames(spec);
  const run = (on: boolean) =>
    withWasmKernels(on, async () => {
      const f = (...ts: tf.Tensor[]) => {
        const p = Object.fromEntries(names.map((k, i) => [k, ts[5 + i]!]));
        const s = lstmStep(p, spec, ts[0] as tf.Tensor2D, { h: [ts[1], ts[3]] as [tf.Tensor2D, tf.Tensor2D], c: [ts[2], ts[4]] as [tf.Tensor2D, tf.Tensor2D] });
        return tf.addN([tf.sum(tf.mul(s.heads.u!, 1.7)), tf.sum(tf.mul(s.state.h[1], 0.3)), tf.sum(s.state.c[0]), tf.sum(tf.square(s.state.c[1]))]) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)([x, h0, c0, h1, c1, ...names.map((k) => params[k]!)]);
      const out = [value, ...grads].map(bytes);
      tf.dispose([value, ...grads]);
      return out;
    });
  const fused = await run(true);
  const plain = await run(false);
  fused.forEach((b, i) => assert.deepEqual(b, plain[i], `output ${i}`));
  tf.dispose([x, h0, c0, h1, c1, ...Object.values(params)]);
});

test('the GEMV: the stock product to the bit, one row by any matrix; other shapes left to the stock kernel', async () => {
  const r = stream(8, 'gemv');
  for (const [k, n] of [[1100, 1200], [300, 1201], [33, 63], [7, 5], [3, 17], [1, 1]] as const) {
    const x = tf.tensor2d(r.normalArray(k), [1, k]);
    const w = tf.tensor2d(r.normalArray(k * n), [k, n]);
    const fused = tf.matMul(x, w);
    const stock = await withWasmKernels(false, async () => tf.matMul(x, w));
    assert.deepEqual(bytes(fused), bytes(stock), `${k} x ${n}`);
    // a leading batch dimension of 1 takes the same path
    const x3 = x.reshape([1, 1, k]), w3 = w.reshape([1, k, n]);
    const fused3 = tf.matMul(x3 as tf.Tensor3D, w3 as tf.Tensor3D);
    assert.deepEqual(bytes(fused3), bytes(stock));
    tf.dispose([x, w, fused, stock, x3, w3, fused3]);
  }
  const backend = tf.backend();
  const info = (t: tf.Tensor) => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as tf.TensorInfo;
  const [a2, b2] = [tf.ones([2, 3]), tf.ones([3, 4])];
  assert.equal(tryGemv(info(a2), info(b2), false, false, backend), undefined);
  const a1 = tf.ones([1, 3]);
  assert.equal(tryGemv(info(a1), info(b2), false, true, backend), undefined);
  assert.equal(await withWasmKernels(false, async () => tryGemv(info(a1), info(b2), false, false, backend)), undefined);
  tf.dispose([a2, b2, a1]);
});
