// Fused wasm kernels (src/ops/wasm-kernels.ts) give the op-by-op chains' numbers to the bit,
// through the vector path and the scalar tail (widths that are not multiples of 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { fusedKernel, withWasmKernels } from '../../src/ops/wasm-kernels.js';
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

test('an LSTM step and its gradients with the fused cell kernels on and off: the same to the bit', async () => {
  const spec: LstmSpec = { input: 5, hidden: 7, heads: { u: 3 } };
  const params = initLstm(spec, stream(6, 'lstm-params'));
  const r = stream(7, 'lstm-inputs');
  const t = (rows: number, cols: number) => tf.tensor2d(r.normalArray(rows * cols), [rows, cols]);
  const x = t(3, 5), h0 = t(3, 7), c0 = t(3, 7), h1 = t(3, 7), c1 = t(3, 7);
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
