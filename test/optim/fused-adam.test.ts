import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { optimizer } from '../../src/optim/hand.js';
import { disposeState } from '../../src/optim/state.js';
import { ADAM_KERNEL, fusedAdamStep } from '../../src/optim/fused-adam.js';
import { withWasmKernels as withFusedAdam } from '../../src/ops/wasm-kernels.js';
import { moduleBytes, sleb, uleb } from '../../src/ops/wasm-module.js';
import type { OptimizerInput } from '../../src/optim/config.js';

// the kernel is the wasm backend's: this file runs there whatever the pass
await initBackend('wasm');

/** Deterministic values over many magnitudes, zeros and signs included. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const u = s / 2 ** 31;
    out[i] = i % 97 === 0 ? 0 : (u - 0.5) * 10 ** Math.floor(u * 12 - 6);
  }
  return out;
}

/** Three Adam steps of three parameters (sizes 1, 1003 and [17, 59], not multiples of 4 among them); the params and moments as bytes. */
async function run(config: OptimizerInput, fused: boolean): Promise<Uint8Array[]> {
  return withFusedAdam(fused, async () => {
    const opt = optimizer(config);
    let params = [tf.tensor1d(values(1, 1)), tf.tensor1d(values(1003, 2)), tf.tensor2d(values(17 * 59, 3), [17, 59])] as tf.Tensor[];
    let state = opt.init(params);
    for (let step = 0; step < 3; step++) {
      const grads = params.map((p, i) => tf.tensor(values(p.size, 10 * step + i + 7), p.shape));
      const next = opt.step(params, grads, state);
      tf.dispose([...params, ...grads]);
      disposeState(state);
      ({ params, state } = next);
    }
    const out = [...params, ...state.slots.expAvg!, ...state.slots.expAvgSq!].map((t) => new Uint8Array(t.dataSync().buffer.slice(0)));
    tf.dispose(params);
    disposeState(state);
    return out;
  });
}

const CONFIGS: OptimizerInput[] = [
  { name: 'adam', lr: 1e-3 },
  { name: 'adam', lr: 0.3, betas: [0.5, 0.9], eps: 1e-3 },
  { name: 'adam', lr: 1e-4, maximize: true },
];

for (const config of CONFIGS) {
  test(`fused Adam on wasm: the op-by-op rule's numbers to the bit (${JSON.stringify(config)})`, async () => {
    const n0 = tf.memory().numTensors;
    const fused = await run(config, true);
    const plain = await run(config, false);
    fused.forEach((bytes, i) => assert.deepEqual(bytes, plain[i], `tensor ${i}`));
    assert.equal(tf.memory().numTensors, n0);
  });
}

test('fused Adam: one kernel per parameter where it applies, none where it does not', async () => {
  const p = tf.tensor1d(values(10, 4));
  const g = tf.tensor1d(values(10, 5));
  const opt = optimizer({ name: 'adam', lr: 1e-2 });
  const kernels = async (o: typeof opt) => {
    const s = o.init([p]);
    const names = (await tf.profile(() => { const r = o.step([p], [g], s); tf.dispose([...r.params]); disposeState(r.state); })).kernelNames.slice();
    disposeState(s);
    return names;
  };
  assert.deepEqual(await kernels(opt), [ADAM_KERNEL]);
  // amsgrad and weight decay keep the op-by-op rule
  assert.ok(!(await kernels(optimizer({ name: 'adam', lr: 1e-2, amsgrad: true }))).includes(ADAM_KERNEL));
  assert.ok(!(await kernels(optimizer({ name: 'adam', lr: 1e-2, weightDecay: 0.1 }))).includes(ADAM_KERNEL));
  assert.ok(!(await withFusedAdam(false, () => kernels(opt))).includes(ADAM_KERNEL));
  // under a tape (a differentiated step) it does not apply: the kernel has no gradient
  const c = { b1: 0.9, b2: 0.999, stepSize: 1e-2, bc2Sqrt: 0.03, eps: 1e-8, sign: 1 as const };
  tf.grad((x: tf.Tensor) => {
    assert.equal(fusedAdamStep(x, g, g, g, c), undefined);
    return tf.sum(x);
  })(p).dispose();
  tf.dispose([p, g]);
});

test('the wasm encoder: LEB128 and a module WebAssembly accepts', () => {
  assert.deepEqual(uleb(0), [0]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(sleb(63), [63]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  const bytes = moduleBytes({ name: 'f', params: ['i32'], locals: ['f32', 'f32', 'v128'], body: [] });
  const wa = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
  assert.ok(wa.validate(bytes));
});
