// The on-device inverse of g = I + T (Newton–Schulz) against the float64 host inverse: its
// a-priori error bound for ||T||_F up to 0.2, what happens beyond, no host reads; and the
// host-read counter itself.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { testBackends } from '../helpers/backend.js';
import {
  invNearIdentity,
  invNearIdentityWithResidual,
  newtonSchulzIterations,
  newtonSchulzErrorBound,
} from '../../src/ops/near-identity.js';
import { countHostReads, countHostReadsAsync } from '../../src/ops/host-reads.js';
import { inv } from '../../src/ops/linalg.js';
import { add64, eye64, inv64, mat64 } from '../../src/ops/linalg64.js';
import { stream } from '../../src/rng/index.js';

/** B random [d, d] matrices T scaled to ||T||_F = norm each (float32 values, shared with the f64 side). */
function scaledT(seed: string, b: number, d: number, norm: number): Float32Array {
  const v = Float32Array.from(stream(7, 'near-identity', seed).normalArray(b * d * d));
  for (let i = 0; i < b; i++) {
    const m = v.subarray(i * d * d, (i + 1) * d * d);
    const f = Math.hypot(...m);
    for (let j = 0; j < m.length; j++) m[j] *= norm / f;
  }
  return v;
}

/** max over the batch of ||X_i - (I + T_i)^-1||_F, the inverse in float64 on the host. */
function maxError(x: tf.Tensor, t: Float32Array, b: number, d: number): number {
  const got = x.dataSync();
  let worst = 0;
  for (let i = 0; i < b; i++) {
    const want = inv64(add64(eye64(d), mat64(d, d, t.subarray(i * d * d, (i + 1) * d * d)))).data;
    let s = 0;
    want.forEach((v, j) => (s += (got[i * d * d + j] - v) ** 2));
    worst = Math.max(worst, Math.sqrt(s));
  }
  return worst;
}

test('iteration counts and the bound: float32 precision by 4 iterations at ||T|| = 0.2, 5 at 0.5', async () => {
  await initBackend(testBackends(['wasm'])[0]);
  assert.equal(newtonSchulzIterations(0.2), 4);
  assert.equal(newtonSchulzIterations(0.5), 5);
  assert.ok(newtonSchulzErrorBound(0.2, 4) < 2 ** -24);
  assert.ok(newtonSchulzErrorBound(0.5, 4) > 1e-5);
  assert.equal(newtonSchulzErrorBound(1.2, 9), Infinity);
  for (const bad of [0, 1, -0.1, Number.NaN]) assert.throws(() => newtonSchulzIterations(bad), /maxNorm.*\(0, 1\)/);
  assert.throws(() => invNearIdentity(tf.zeros([2, 3])), /\[\.\.\., d, d\]/);
  assert.throws(() => invNearIdentity(tf.eye(3), { iterations: 1.5 }), /iterations/);
});

for (const backend of testBackends(['wasm', 'cpu'])) {
  describe(`invNearIdentity on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('within the a-priori bound (plus float32 rounding) for ||T||_F up to 0.2, batched [B, d, d]', () => {
      for (const d of [4, 20]) {
        for (const norm of [0.01, 0.05, 0.1, 0.2]) {
          const b = 8;
          const t = scaledT(`in-${d}-${norm}`, b, d, norm);
          const { err, res } = tf.tidy(() => {
            const g = tf.add(tf.eye(d), tf.tensor3d(t, [b, d, d]));
            const { inv: x, residual } = invNearIdentityWithResidual(g);
            return { err: maxError(x, t, b, d), res: Math.max(...residual.dataSync()) };
          });
          // the bound is below 2^-24 here; what is left is float32 rounding, ~ d * eps * ||g^-1||
          const allowed = newtonSchulzErrorBound(norm, 4) + 4 * d * 2 ** -24;
          assert.ok(err < allowed, `d ${d} ||T|| ${norm}: error ${err} > ${allowed}`);
          assert.ok(res < allowed, `d ${d} ||T|| ${norm}: residual ${res}`);
        }
      }
    });

    test('beyond 0.2: the error stays within the bound but leaves float32 precision; the residual flags it and divergence', () => {
      const d = 6;
      const b = 4;
      const at = (norm: number, iterations: number) =>
        tf.tidy(() => {
          const t = scaledT(`out-${norm}`, b, d, norm);
          const { inv: x, residual } = invNearIdentityWithResidual(tf.add(tf.eye(d), tf.tensor3d(t, [b, d, d])), { iterations });
          const r = Array.from(residual.dataSync());
          return { err: maxError(x, t, b, d), res: Math.max(...r.map((v) => (Number.isNaN(v) ? Infinity : v))) };
        });
      // two iterations make the truncation error visible above float32 rounding: it grows with
      // ||T|| and stays within ||T||^4 / (1 - ||T||)
      let last = 0;
      for (const norm of [0.3, 0.5, 0.8, 0.95]) {
        const { err } = at(norm, 2);
        assert.ok(err > last && err <= newtonSchulzErrorBound(norm, 2), `||T|| ${norm}, 2 iterations: error ${err}`);
        last = err;
      }
      // the 4 iterations sized for 0.2 at ||T||_F = 0.95: no longer float32-accurate, and the residual says so
      const near1 = at(0.95, newtonSchulzIterations(0.2));
      assert.ok(near1.err > 1e-5 && near1.res > 1e-5, `||T|| 0.95: error ${near1.err}, residual ${near1.res}`);
      // ||T||_F = 3: the spectral radius of T exceeds 1 here and the iteration diverges
      const far = at(3, 4);
      assert.ok(!(far.err < 1) && !(far.res < 1), `||T|| 3: error ${far.err}, residual ${far.res}`);
    });

    test('agrees with the float64 host inverse in value and gradient, makes no host read, leaks nothing', () => {
      const d = 5;
      const t = scaledT('grad', 3, d, 0.15);
      const c = tf.tensor3d(stream(7, 'near-identity', 'c').uniformArray(3 * d * d, -1, 1), [3, d, d]);
      const before = tf.memory().numTensors;
      const { value: onDevice, reads } = countHostReads(() =>
        tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(c, invNearIdentity(tf.add(tf.eye(d), x)))))(tf.tensor3d(t, [3, d, d]))),
      );
      assert.equal(reads.total, 0);
      const host = countHostReads(() =>
        tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(c, inv(tf.add(tf.eye(d), x)))))(tf.tensor3d(t, [3, d, d]))),
      );
      assert.ok(host.reads.total >= 1, 'the float64 inverse reads its input on the host');
      const a = onDevice.dataSync();
      const h = host.value.dataSync();
      const rel = Math.sqrt(a.reduce((s, v, i) => s + (v - h[i]) ** 2, 0) / h.reduce((s, v) => s + v * v, 0));
      assert.ok(rel < 1e-5, `gradient relative difference ${rel}`);
      tf.dispose([onDevice, host.value]);
      assert.equal(tf.memory().numTensors, before);
      c.dispose();
    });
  });
}

describe('countHostReads', () => {
  before(async () => {
    await initBackend(testBackends(['wasm'])[0]);
  });

  test('counts each outermost read by method, nests, and restores the prototype', async () => {
    const proto = tf.Tensor.prototype.dataSync;
    const x = tf.tensor1d([1, 2, 3]);
    const { value, reads } = countHostReads(() => {
      x.dataSync();
      x.arraySync(); // calls dataSync inside: one read
      const inner = countHostReads(() => x.dataSync());
      assert.equal(inner.reads.total, 1);
      tf.tidy(() => tf.add(x, 1)); // device work only
      return 7;
    });
    assert.equal(value, 7);
    assert.equal(reads.total, 3);
    assert.deepEqual(reads.byMethod, { dataSync: 2, arraySync: 1 });
    assert.equal(tf.Tensor.prototype.dataSync, proto);
    const asyncCount = await countHostReadsAsync(async () => {
      await x.data();
      await x.array();
      return x.size;
    });
    assert.equal(asyncCount.value, 3);
    assert.deepEqual(asyncCount.reads.byMethod, { data: 1, array: 1 });
    assert.throws(() => countHostReads(() => x.data()), /countHostReadsAsync/);
    assert.equal(tf.Tensor.prototype.dataSync, proto);
    x.dispose();
  });
});
