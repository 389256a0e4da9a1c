// The MLP classification task family: config errors, deterministic and disjoint problems,
// loss and gradients (first and second order) against float64 finite differences on real
// MNIST mini-batches, the GL(n) action (exact for k <= width, drifting on real mini-batches),
// the ascent direction of the gradient norm, and no tensor leak.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { initBackend } from '../../src/backend/index.js';
import { decodeConfig, decodeOrThrow, ConfigError } from '../../src/config/codec.js';
import { FASHION_MNIST_DIR } from '../../src/data/mnist.js';
import { evaluate } from '../../src/train/evaluate.js';
import { sumSquares } from '../../src/nn/mlp.js';
import { identityPlus } from '../../src/symmetry/action.js';
import { stopGradient } from '../../src/ops/activations.js';
import { mat64 } from '../../src/ops/linalg64.js';
import { stream } from '../../src/rng/index.js';
import {
  ClassificationTaskConfig,
  classificationFamily,
  classificationTask,
  batchRows,
  gradNormAscent,
  loadClassificationData,
  type ClassificationTask,
} from '../../src/tasks/classification.js';
import { TaskConfig, taskFamily } from '../../src/tasks/registry.js';
import { buildRunParts } from '../../src/meta/build.js';
import { disposeEstimate } from '../../src/meta/estimator.js';
import type { VariantConfig } from '../../src/meta/variant.js';
import * as f64 from '../helpers/f64.js';

const SLOPE = 0.1;
/** Small nets on real MNIST: hidden widths 6 and 5, so k = 4 is exact and k = 20 drifts. */
const base = { widths: [784, 6, 5, 10], slope: SLOPE, trainSize: 300, evalSize: 200, dataSeed: 0 };
const cfg = (batchSize: number) => decodeOrThrow(ClassificationTaskConfig, { ...base, batchSize });

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
};

/** Problem b's slice of a batched [B, r, c] tensor as a float64 matrix. */
const slice64 = (t: tf.Tensor, b: number): f64.M => {
  const [, r, c] = t.shape as [number, number, number];
  return mat64(r, c, t.dataSync().subarray(b * r * c, (b + 1) * r * c));
};
const labels64 = (y: tf.Tensor, b: number): number[] => Array.from(y.dataSync().subarray(b * y.shape[1]!, (b + 1) * y.shape[1]!));

/** Random tangents, one per tensor, [B, ...] like them, of Frobenius norm 1 per problem and tensor. */
const randomLike = (ts: readonly tf.Tensor[], name: string) => {
  const r = stream(0, 'test', name);
  return ts.map((t) => {
    const per = t.size / t.shape[0]!;
    return tf.tensor(r.normalArray(t.size).map((v) => v / Math.sqrt(per)), t.shape);
  });
};

/** sum_i <a_i, b_i> restricted to problem b. */
const dotAt = (as: readonly tf.Tensor[], bs: readonly tf.Tensor[], b: number) =>
  as.reduce((p, a, i) => {
    const per = a.size / a.shape[0]!;
    const x = a.dataSync().subarray(b * per, (b + 1) * per);
    const y = bs[i]!.dataSync().subarray(b * per, (b + 1) * per);
    return p + x.reduce((q, v, j) => q + v * y[j]!, 0);
  }, 0);

describe('classification task', () => {
  before(async () => {
    await initBackend();
  });

  test('config: defaults, and errors name the field before any data are read', () => {
    const d = decodeOrThrow(ClassificationTaskConfig, {});
    assert.deepEqual(d, { dataset: 'mnist', widths: [784, 16, 10], slope: 0.1, batchSize: 20, trainSize: 10000, evalSize: 1000, dataSeed: 0 });
    const bad = decodeConfig(ClassificationTaskConfig, { dataset: 'cifar10', widths: [100, 16, 7], batchSize: 0, slope: 0, extra: 1 }, 'task');
    assert.ok(E.isLeft(bad));
    const msg = bad.left.message;
    for (const want of ['dataset: expected one of "mnist" | "fashion-mnist"', 'batchSize: expected a positive integer', 'slope: expected a number in (0, 1]', 'extra: unknown key']) {
      assert.ok(msg.includes(want), `missing "${want}" in:\n${msg}`);
    }
    const cross = decodeConfig(ClassificationTaskConfig, { widths: [100, 16, 7], batchSize: 50, trainSize: 40, evalSize: 59990 }, 'task');
    assert.ok(E.isLeft(cross));
    for (const want of ['widths: the first width must be 784', 'widths: the last width must be 10', 'batchSize: must be at most trainSize (40), got 50', 'trainSize: trainSize + evalSize must be at most the 60000']) {
      assert.ok(cross.left.message.includes(want), `missing "${want}" in:\n${cross.left.message}`);
    }
    // the factory decodes first: a bad width is reported, not the missing data directory
    assert.throws(
      () => classificationTask.create({ ...cfg(4), widths: [784, 0, 10], dataDir: path.join('no', 'such', 'dir') }),
      (e: unknown) => e instanceof ConfigError && /widths\[1\]: expected a positive integer/.test(e.message),
    );
  });

  test('registered: the task union decodes kind "classification" and builds the family', () => {
    const c = decodeOrThrow(TaskConfig, { kind: 'classification', ...base, batchSize: 8 });
    assert.equal(c.kind, 'classification');
    const fam = taskFamily(c);
    assert.equal(fam.name, 'classification mnist 784x6x5x10, slope 0.1, batch 8 of 300');
    const bad = decodeConfig(TaskConfig, { kind: 'classification', widths: [784, 16, 9] }, 'task');
    assert.ok(E.isLeft(bad) && bad.left.message.includes('widths: the last width must be 10'), E.isLeft(bad) ? bad.left.message : '');
  });

  test('problems are deterministic per (seed, split, id, step), independent of the batch they are sampled in, disjoint across splits', () => {
    const fam = classificationFamily(cfg(20));
    const n = 300, k = 20;
    const a = fam.sample(7, 'train', [3, 5]);
    const b = fam.sample(7, 'train', [5]);
    const [wa, wb] = [a.init(), b.init()];
    for (let i = 0; i < wa.length; i++) {
      assert.deepEqual(Array.from(slice64(wa[i]!, 1).data), Array.from(slice64(wb[i]!, 0).data), 'problem 5 starts from the same weights');
      assert.notDeepEqual(Array.from(slice64(wa[i]!, 0).data), Array.from(slice64(wa[i]!, 1).data), 'problems 3 and 5 differ');
    }
    for (const step of [0, 1, 14, 15, 16, 40]) {
      assert.deepEqual(a.batchRows(1, step), b.batchRows(0, step));
      assert.deepEqual(a.batchRows(1, step), batchRows(7, 'train', 5, step, n, k));
    }
    // an epoch (15 steps of 20 out of 300) visits distinct images; the next epoch reshuffles
    const epoch0 = Array.from({ length: 15 }, (_, s) => Array.from(a.batchRows(0, s))).flat();
    assert.equal(new Set(epoch0).size, 300);
    assert.notDeepEqual(a.batchRows(0, 0), a.batchRows(0, 15));
    // the mini-batch tensors follow the rows
    tf.tidy(() => {
      const { y } = a.batch(14);
      const data = loadClassificationData(fam.config);
      assert.deepEqual(labels64(y, 0), Array.from(a.batchRows(0, 14), (r) => data.train.y[r]));
      // out of order (the task keeps the last step's batch): the same batches again
      const x3 = Array.from(a.batch(3).x.dataSync());
      assert.deepEqual(Array.from(a.batch(14).y.dataSync()), Array.from(y.dataSync()));
      assert.deepEqual(Array.from(a.batch(3).x.dataSync()), x3);
      assert.deepEqual(labels64(a.batch(3).y, 1), Array.from(b.batchRows(0, 3), (r) => data.train.y[r]));
    });
    // splits: the same id gives different weights and batch orders
    const firsts = (['train', 'val', 'heldout'] as const).map((split) => {
      const t = fam.sample(7, split, [3]);
      const w = t.init();
      const out = { w: Array.from(w[0]!.dataSync().subarray(0, 50)), rows: Array.from(t.batchRows(0, 0)) };
      tf.dispose(w);
      return out;
    });
    for (let i = 0; i < 3; i++)
      for (let j = i + 1; j < 3; j++) {
        assert.notDeepEqual(firsts[i]!.w, firsts[j]!.w);
        assert.notDeepEqual(firsts[i]!.rows, firsts[j]!.rows);
      }
    // a different seed, different problems
    const c = fam.sample(8, 'train', [3]);
    const wc = c.init();
    assert.notDeepEqual(Array.from(wc[0]!.dataSync().subarray(0, 50)), Array.from(wa[0]!.dataSync().subarray(0, 50)));
    assert.throws(() => a.loss(wa, -1), /step must be a non-negative integer, got -1/);
    assert.throws(() => b.loss(wa, 0), /parameter 0 has shape \[2,6,784\], expected \[1,6,784\]/);
    // injected data are checked too
    const data = loadClassificationData(fam.config);
    const badLabels = { train: { ...data.train, y: Int32Array.from(data.train.y, (v, i) => (i === 7 ? 10 : v)) }, eval: data.eval };
    assert.throws(() => classificationFamily(fam.config, badLabels), /training label 10 \(sample 7\) is not in 0..9/);
    tf.dispose([...wa, ...wb, ...wc]);
  });

  test('loss and gradients match float64; the gradient of the gradient norm matches float64 finite differences', () => {
    const task = classificationFamily(cfg(20)).sample(0, 'train', [0, 1]);
    const ws = task.init();
    tf.tidy(() => {
      const step = 3;
      const { x, y } = task.batch(step);
      const { loss, grads } = task.lossAndGrads(ws, step);
      assert.ok(relErr(task.loss(ws, step).dataSync(), loss.dataSync()) < 1e-6, 'loss() agrees with lossAndGrads()');
      // second order: d/dW sum_b ||dL_b/dW||^2 through the closed-form gradients, along a random direction
      const gradOfNorm = tf.grads((...w: tf.Tensor[]) => tf.sum(sumSquares(task.lossAndGrads(w, step).grads)))(ws);
      const dirs = randomLike(ws, 'second-order');
      for (let b = 0; b < 2; b++) {
        const w64 = ws.map((w) => slice64(w, b));
        const x64 = slice64(x, b);
        const target: f64.Target = { kind: 'ce', labels: labels64(y, b) };
        const lossErr = rel(loss.dataSync()[b]!, f64.loss(w64, x64, target, SLOPE));
        assert.ok(lossErr < 1e-5, `loss, problem ${b}: ${lossErr}`);
        const g64 = f64.grads(w64, x64, target, SLOPE);
        grads.forEach((g, i) => {
          const e = relErr(slice64(g, b).data, g64[i]!.data);
          assert.ok(e < 1e-4, `dW${i}, problem ${b}: ${e}`);
        });
        const v64 = dirs.map((d) => slice64(d, b));
        const moved = (e: number) => w64.map((w, i) => f64.add(w, v64[i]!, e));
        const fd = f64.fd((e) => f64.gradNormSq(moved(e), x64, target, SLOPE), 1, 1e-3);
        const ad = dotAt(gradOfNorm, dirs, b);
        assert.ok(rel(ad, fd) < 1e-3, `second order, problem ${b}: ${ad} vs ${fd}`);
      }
    });
    tf.dispose(ws);
    task.dispose();
  });

  test('the raw ascent direction is d||grad L((I+T).w)||^2/dT at T = 0 (float64 finite differences through the pinv action)', () => {
    for (const k of [4, 20]) {
      const task = classificationFamily(cfg(k)).sample(0, 'val', [2, 9]);
      const ws = task.init();
      tf.tidy(() => {
        const { x, y } = task.batch(0);
        const ascent = gradNormAscent(ws, x, y, SLOPE);
        const ms = randomLike(ascent, `ascent-${k}`);
        for (let b = 0; b < 2; b++) {
          const w64 = ws.map((w) => slice64(w, b));
          const x64 = slice64(x, b);
          const target: f64.Target = { kind: 'ce', labels: labels64(y, b) };
          const m64 = ms.map((m) => slice64(m, b));
          const along = (e: number) => f64.gradNormSq(f64.action(w64, x64, m64.map((m) => f64.add(f64.eye(m.rows), m, e)), 'pinv', SLOPE), x64, target, SLOPE);
          const fd = f64.fd(along, 1, 1e-3);
          const ad = dotAt(ascent, ms, b);
          assert.ok(rel(ad, fd) < 1e-3, `k=${k}, problem ${b}: ${ad} vs ${fd}`);
        }
      });
      tf.dispose(ws);
    }
  });

  test('a meta-gradient through an unroll (SGD steps and a teleport via act) matches float64 finite differences, within its float32 spread', () => {
    // L(lr, c): w1 = w0 - lr dL_0(w0); w1' = (I + c D).w1 on step 1's batch, D the first direction
    // (detached: a constant); w2 = w1' - lr dL_1(w1'); loss on step 2's batch, summed over 2 problems.
    const task = classificationFamily(cfg(20)).sample(3, 'train', [0, 1]);
    const ws = task.init();
    const [lr0, c0] = [0.5, 0.2];
    tf.tidy(() => {
      const sgd = (w: readonly tf.Tensor[], step: number, lr: tf.Tensor) => {
        const { grads } = task.lossAndGrads(w, step);
        return w.map((p, i) => tf.sub(p, tf.mul(lr, grads[i]!)));
      };
      let dirs: tf.Tensor3D[] = [];
      const metaGrad = (fixed?: tf.Tensor3D[]) =>
        tf.grads((lr: tf.Tensor, c: tf.Tensor) => {
          const w1 = sgd(ws, 0, lr);
          // detached, as a caller that treats the directions as constants does
          const d = fixed ?? (dirs = task.symmetry.directions(w1, task.lossAndGrads(w1, 1).grads, 1).map((list) => tf.keep(stopGradient(list[0]!))));
          const moved = task.symmetry.act(w1, d.map((di) => identityPlus(tf.mul(c, di)) as tf.Tensor3D), 1);
          return tf.sum(task.loss(sgd(moved, 1, lr), 2)) as tf.Scalar;
        })([tf.scalar(lr0), tf.scalar(c0)]).map((g) => g.dataSync()[0]!);
      const [dLr, dC] = metaGrad();
      // float32 spread: the same meta-gradient with D perturbed at rounding level (1e-7 relative);
      // the pseudo-inverse of the [5, 20] hidden activations amplifies it
      const r = stream(0, 'test', 'rounding');
      const spread = [0, 0];
      for (let i = 0; i < 4; i++) {
        const g = metaGrad(dirs.map((d) => tf.mul(d, tf.add(1, tf.mul(1e-7, tf.tensor(r.normalArray(d.size), d.shape)))) as tf.Tensor3D));
        spread[0] = Math.max(spread[0]!, Math.abs(g[0]! - dLr));
        spread[1] = Math.max(spread[1]!, Math.abs(g[1]! - dC));
      }
      const batches = [0, 1, 2].map((s) => task.batch(s));
      let fdLr = 0, fdC = 0;
      for (let b = 0; b < 2; b++) {
        const w0 = ws.map((w) => slice64(w, b));
        const xs = batches.map((bt) => slice64(bt.x, b));
        const ts: f64.Target[] = batches.map((bt) => ({ kind: 'ce', labels: labels64(bt.y, b) }));
        const d64 = dirs.map((d) => slice64(d, b));
        const sgd64 = (w: f64.M[], s: number, lr: number) => {
          const g = f64.grads(w, xs[s]!, ts[s]!, SLOPE);
          return w.map((p, i) => f64.add(p, g[i]!, -lr));
        };
        const loss64 = (lr: number, c: number) => {
          const w1 = f64.action(sgd64(w0, 0, lr), xs[1]!, d64.map((d) => f64.add(f64.eye(d.rows), d, c)), 'pinv', SLOPE);
          return f64.loss(sgd64(w1, 1, lr), xs[2]!, ts[2]!, SLOPE);
        };
        fdLr += f64.fd((e) => loss64(lr0 + e, c0), 1, 1e-3);
        fdC += f64.fd((e) => loss64(lr0, c0 + e), 1, 1e-3);
      }
      for (const [what, ad, fd, sp] of [['dL/dlr', dLr, fdLr, spread[0]!], ['dL/dc', dC, fdC, spread[1]!]] as const) {
        assert.ok(sp < 1e-2 * Math.abs(fd), `${what}: float32 spread ${sp} is not small`);
        assert.ok(Math.abs(ad - fd) < 3 * sp + 1e-4 * Math.abs(fd), `${what}: ${ad} vs ${fd} (spread ${sp})`);
      }
      tf.dispose(dirs);
    });
    tf.dispose(ws);
  });

  test('the action keeps the loss for k <= width and drifts on a real mini-batch (k > width); measured', () => {
    const measure = (k: number) => {
      const task = classificationFamily(cfg(k)).sample(0, 'train', [0, 1, 2, 3]);
      const ws = task.init();
      const out = tf.tidy(() => {
        const r = stream(0, 'test', 'g', k);
        const gs = task.symmetry.groupSizes.map((n) => identityPlus(tf.mul(0.3 / n, tf.tensor3d(r.normalArray(4 * n * n), [4, n, n]))) as tf.Tensor3D);
        const before = task.loss(ws, 5).dataSync();
        const after = task.loss(task.symmetry.act(ws, gs, 5), 5).dataSync();
        const ident = task.symmetry.act(ws, task.symmetry.groupSizes.map((n) => tf.eye(n, n, [4]) as tf.Tensor3D), 5);
        const identMove = Math.max(...ws.map((w, i) => relErr(ident[i]!.dataSync(), w.dataSync())));
        const drift = Array.from(before, (v, b) => Math.abs(after[b]! - v) / v);
        return { drift, identMove, before: Array.from(before) };
      });
      tf.dispose(ws);
      return out;
    };
    const exact = measure(4);
    const real = measure(20);
    assert.ok(Math.max(...exact.drift) < 1e-5, `exact regime: ${exact.drift}`);
    // the claim that a real mini-batch drifts, checked: far above float32 rounding
    assert.ok(Math.min(...real.drift) > Math.max(1e-6, 10 * Math.max(...exact.drift)), `drift regime: ${real.drift}`);
    // g = I leaves the weights alone when the batch is at least as wide as the layer (k >= n)
    assert.ok(real.identMove < 1e-5, `g = I moved the weights by ${real.identMove}`);
  });

  test('directions: named, unit norm; the first raises the gradient norm for a small step', () => {
    const task = classificationFamily(cfg(20)).sample(0, 'heldout', [0, 1, 2]);
    const ws = task.init();
    tf.tidy(() => {
      const step = 2;
      const { grads } = task.lossAndGrads(ws, step);
      const dirs = task.symmetry.directions(ws, grads, step);
      assert.deepEqual(task.symmetry.directionKinds, ['gradNorm', 'w2', 'w1']);
      assert.equal(dirs.length, 2);
      dirs.forEach((list, m) => {
        assert.equal(list.length, 3);
        for (const d of list) {
          assert.deepEqual(d.shape, [3, task.symmetry.groupSizes[m], task.symmetry.groupSizes[m]]);
          for (const v of tf.sqrt(tf.sum(tf.square(d), [1, 2])).dataSync()) assert.ok(Math.abs(v - 1) < 1e-5, `norm ${v}`);
        }
      });
      const norm2 = (w: readonly tf.Tensor[]) => sumSquares(task.lossAndGrads(w, step).grads).dataSync();
      const g0 = norm2(ws);
      for (const eps of [1e-3, 1e-2]) {
        const g1 = norm2(task.symmetry.act(ws, dirs.map((list) => identityPlus(tf.mul(eps, list[0]!)) as tf.Tensor3D), step));
        g0.forEach((v, b) => assert.ok(g1[b]! > v, `eps ${eps}, problem ${b}: ${g1[b]} <= ${v}`));
      }
      // the 'w2' and 'w1' candidates are the normalised gradient Gram matrices
      const g1 = grads[1]!;
      const w2 = tf.matMul(g1 as tf.Tensor3D, g1 as tf.Tensor3D, true, false);
      const expected = tf.div(w2, tf.norm(w2, 'euclidean', [1, 2], true));
      assert.ok(relErr(dirs[0]![1]!.dataSync(), expected.dataSync()) < 1e-5);
    });
    tf.dispose(ws);
    task.dispose();
  });

  test('directions are differentiable: d<ascent, M>/dW against nested float64 finite differences (third order)', () => {
    const task = classificationFamily(cfg(20)).sample(0, 'train', [4]);
    const ws = task.init();
    tf.tidy(() => {
      const step = 1;
      const { x, y } = task.batch(step);
      const [m0, m1] = randomLike([tf.zeros([1, 6, 6]), tf.zeros([1, 5, 5])], 'third-order-m');
      const probe = (...w: tf.Tensor[]) => {
        const [a0, a1] = gradNormAscent(w, x, y, SLOPE);
        return tf.add(tf.sum(tf.mul(a0!, m0!)), tf.sum(tf.mul(a1!, m1!))) as tf.Scalar;
      };
      const grad = tf.grads(probe)(ws);
      const vs = randomLike(ws, 'third-order-v');
      const ad = dotAt(grad, vs, 0);
      // the same through the task's directions (unit-normalised): a path exists, the gradient is not zero
      const viaTask = tf.grads((...w: tf.Tensor[]) => tf.sum(task.symmetry.directions(w, task.lossAndGrads(w, step).grads, step)[0]![0]!.mul(m0!)))(ws);
      assert.ok(viaTask.some((g) => tf.max(tf.abs(g)).dataSync()[0]! > 0));
      const w64 = ws.map((w) => slice64(w, 0));
      const x64 = slice64(x, 0);
      const target: f64.Target = { kind: 'ce', labels: labels64(y, 0) };
      const [M0, M1] = [slice64(m0!, 0), slice64(m1!, 0)];
      const v64 = vs.map((v) => slice64(v, 0));
      const inner = (w: f64.M[]) =>
        f64.fd((e) => f64.gradNormSq(f64.action(w, x64, [f64.add(f64.eye(6), M0, e), f64.add(f64.eye(5), M1, e)], 'pinv', SLOPE), x64, target, SLOPE), 1, 1e-3);
      const fd = f64.fd((e) => inner(w64.map((w, i) => f64.add(w, v64[i]!, e))), 1, 1e-3);
      assert.ok(rel(ad, fd) < 1e-2, `${ad} vs ${fd}`);
    });
    tf.dispose(ws);
    task.dispose();
  });

  test('evaluate in chunks (6,000 held-out images, 2 chunks) agrees with the trainer\'s evaluation', () => {
    const c = decodeOrThrow(ClassificationTaskConfig, { ...base, evalSize: 6000, batchSize: 20 });
    const task = classificationFamily(c).sample(0, 'heldout', [0, 1, 2]);
    const ws = task.init();
    const ref = evaluate(ws, loadClassificationData(c).eval, { slope: SLOPE, chunk: 1000 });
    const count0 = tf.memory().numTensors;
    const got = task.evaluate(ws);
    assert.ok(relErr(got.loss.dataSync(), ref.loss) < 1e-5, `loss ${got.loss.dataSync()} vs ${ref.loss}`);
    assert.ok(relErr(got.accuracy.dataSync(), ref.accuracy) < 1e-6, `accuracy ${got.accuracy.dataSync()} vs ${ref.accuracy}`);
    tf.dispose([got.loss, got.accuracy]);
    assert.equal(tf.memory().numTensors, count0 + 4, 'two chunks of (x, y) kept');
    task.dispose();
    assert.equal(tf.memory().numTensors, count0);
    tf.dispose(ws);
  });

  test('50 steps of SGD with a teleport every 10: no tensor leak, and the held-out loss falls', () => {
    const task: ClassificationTask = classificationFamily(cfg(20)).sample(1, 'train', [0, 1]);
    let ws = task.init();
    const first = task.evaluate(ws);
    const before = { loss: Array.from(first.loss.dataSync()), acc: Array.from(first.accuracy.dataSync()) };
    tf.dispose([first.loss, first.accuracy]);
    // the task's held-out loss agrees with the trainer's evaluation
    const ref = evaluate(ws, loadClassificationData(classificationFamily(cfg(20)).config).eval, { slope: SLOPE });
    assert.ok(relErr(before.loss, ref.loss) < 1e-5);
    const count0 = tf.memory().numTensors;
    for (let step = 0; step < 50; step++) {
      const next = tf.tidy(() => {
        let w = ws;
        if (step % 10 === 0) {
          const { grads } = task.lossAndGrads(w, step);
          const dirs = task.symmetry.directions(w, grads, step);
          w = task.symmetry.act(w, dirs.map((list) => identityPlus(tf.mul(0.01, list[0]!)) as tf.Tensor3D), step);
        }
        const { grads } = task.lossAndGrads(w, step);
        return w.map((p, i) => tf.sub(p, tf.mul(0.5, grads[i]!)));
      });
      tf.dispose(ws);
      ws = next;
      assert.equal(tf.memory().numTensors, count0, `tensors after step ${step}`);
    }
    const last = task.evaluate(ws);
    const after = { loss: Array.from(last.loss.dataSync()), acc: Array.from(last.accuracy.dataSync()) };
    tf.dispose([last.loss, last.accuracy]);
    assert.equal(tf.memory().numTensors, count0);
    task.dispose();
    assert.equal(tf.memory().numTensors, count0 - 2, 'dispose frees the held-out images');
    after.loss.forEach((v, b) => assert.ok(v < before.loss[b]! - 0.1, `problem ${b}: ${before.loss[b]} -> ${v}`));
    tf.dispose(ws);
  });

  test('through the meta-learning parts: TBPTT windows of LSTM(update,tele) with the gradNorm direction, finite, no leak', () => {
    const variant: VariantConfig = {
      name: 'LSTM(update,tele)',
      lr: 0.1,
      update: { hidden: 4, outputScale: 0.01, clamp: 0, gdSkip: 0.1, lrScaleRange: 0 },
      tele: { hidden: 4, magnitude: 0.01, action: 'linear', lrHead: null, headScale: 1, direction: 'gradNorm', learnedMagnitude: false },
      preprocess: { kind: 'logsign', p: 10, inputScale: 1 },
      secondOrder: false,
    };
    const parts = buildRunParts({
      task: { kind: 'classification', ...base, widths: [784, 4, 10], batchSize: 8, evalSize: 0 },
      learned: { kind: 'paper', ...variant },
      estimator: { kind: 'tbptt' },
      lossWeighting: 'mean',
    });
    const task = parts.family.sample(0, 'train', [0, 1]);
    const meta = parts.learned.init(stream(0, 'test', 'meta'), task);
    let state = parts.estimator.init(meta, task, { seed: 0, batch: 0, ids: [0, 1] });
    let count = -1;
    for (let w = 0; w < 3; w++) {
      const r = parts.estimator.estimate(meta, task, state, 3);
      state = r.state;
      const e = r.estimate;
      assert.ok(e.finite && Number.isFinite(e.metaLoss), `window ${w}: meta-loss ${e.metaLoss}`);
      // the teleport module gets a gradient (its c head starts at zero, the direction term moves it)
      const teleNorm = tf.tidy(() => Object.values(e.grads.tele!).reduce((a, g) => a + tf.sum(tf.square(g)).dataSync()[0]!, 0));
      assert.ok(teleNorm > 0 && Number.isFinite(teleNorm), `window ${w}: tele gradient norm^2 ${teleNorm}`);
      disposeEstimate(e);
      if (w === 1) count = tf.memory().numTensors;
      if (w === 2) assert.equal(tf.memory().numTensors, count, 'tensors across windows');
    }
    parts.estimator.dispose(state);
    for (const m of Object.values(meta)) tf.dispose(Object.values(m));
    task.dispose();
  });

  const fashionFiles = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'].every((f) =>
    ['', '.gz'].some((z) => fs.existsSync(path.join(FASHION_MNIST_DIR, f + z))),
  );
  const skipFashion = fashionFiles ? false : `Fashion-MNIST not found in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;
  if (skipFashion) console.log(`  skipping the Fashion-MNIST test: ${skipFashion}`);
  test('Fashion-MNIST: the same family on the other dataset', { skip: skipFashion }, () => {
    const c = decodeOrThrow(ClassificationTaskConfig, { ...base, dataset: 'fashion-mnist', batchSize: 20 });
    const fam = classificationFamily(c);
    assert.match(fam.name, /fashion-mnist 784x6x5x10/);
    const task = fam.sample(0, 'train', [0]);
    const ws = task.init();
    tf.tidy(() => {
      const mnist = classificationFamily(cfg(20)).sample(0, 'train', [0]);
      const l = task.loss(ws, 0).dataSync()[0]!;
      assert.ok(Number.isFinite(l) && Math.abs(l - Math.log(10)) < 0.5, `initial loss ${l}`);
      assert.notDeepEqual(Array.from(task.batch(0).x.dataSync()), Array.from(mnist.batch(0).x.dataSync()));
    });
    tf.dispose(ws);
  });
});
