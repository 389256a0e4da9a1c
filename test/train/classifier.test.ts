// The shared classifier training loop: no tensor leaks, determinism, lockstep = alone, hooks, divergence.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { optimizer } from '../../src/optim/index.js';
import { stream } from '../../src/rng/index.js';
import type { DataSplit } from '../../src/data/types.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelWeights } from '../../src/nn/batched.js';
import { initClassifier, trainClassifier, disposeClassifier, DivergenceError, type ClassifierState } from '../../src/train/classifier.js';
import { saveLockstep, loadLockstep } from '../../src/train/classifier-checkpoint.js';
import type { OptimizerState } from '../../src/optim/state.js';

function synthetic(n: number, d: number, seed: number): DataSplit {
  const r = stream(seed, 'synthetic');
  const x = r.uniformArray(n * d);
  // labels from a fixed linear rule so there is something to learn
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * d]! + x[i * d + 1]! > 1 ? 1 : 0) + (x[i * d + 2]! > 0.5 ? 2 : 0));
  return { x, y, n, d };
}

const data = { train: synthetic(120, 12, 1), test: synthetic(50, 12, 2) };
const dims = [12, 6, 5, 4];

describe('trainClassifier', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('no tensor leaks across epochs, losses decrease', () => {
    const opt = optimizer({ name: 'momentum', lr: 0.05, momentum: 0.9 });
    const counts: number[] = [];
    const n0 = tf.memory().numTensors;
    const run = trainClassifier(initClassifier({ dims, models: [0, 1], seed: 3 }, opt), {
      optimizer: opt, data, epochs: 5, batchSize: 10, seed: 3,
      hooks: { afterEpoch: () => counts.push(tf.memory().numTensors) },
    });
    assert.ok(counts.every((c) => c === counts[0]), `tensors per epoch: ${counts}`);
    assert.ok(run.history[4]!.trainLoss[0]! < run.history[0]!.trainLoss[0]!);
    assert.equal(run.history.length, 5);
    tf.dispose(run.state.params);
    tf.dispose(run.state.opt as unknown as tf.TensorContainer);
    assert.equal(tf.memory().numTensors, n0);
  });

  test('deterministic for a seed; a model trained in a group equals the model trained alone', () => {
    const opt = optimizer({ name: 'sgd', lr: 0.1 });
    const go = (models: number[], trainLoss: 'batches' | 'full' = 'batches') => {
      const r = trainClassifier(initClassifier({ dims, models, seed: 7 }, opt), { optimizer: opt, data, epochs: 3, batchSize: 8, seed: 7, trainLoss });
      const out = { history: r.history, w: models.map((_, b) => modelWeights(r.state.params, b).map((a) => Array.from(a))) };
      tf.dispose(r.state.params);
      return out;
    };
    const a = go([0, 1, 2]);
    const b = go([0, 1, 2]);
    assert.deepEqual(a.w, b.w);
    assert.deepEqual(a.history.map((h) => h.testLoss), b.history.map((h) => h.testLoss));
    const alone = go([1]);
    alone.w[0]!.forEach((layer, i) => layer.forEach((v, j) => assert.ok(Math.abs(v - a.w[1]![i]![j]!) < 1e-6)));
    const full = go([0], 'full');
    assert.ok(Math.abs(full.history[2]!.trainLoss[0]! - a.history[2]!.trainLoss[0]!) < 0.2);
  });

  test('beforeEpoch hook can replace the state (state in, state out)', () => {
    const opt = optimizer({ name: 'sgd', lr: 0.1 });
    const seen: number[] = [];
    const hook = (epoch: number, s: ClassifierState<OptimizerState>) => {
      seen.push(epoch);
      if (epoch !== 2) return s;
      const params = s.params.map((p) => tf.mul(p, 0) as tf.Tensor3D); // a visible change
      tf.dispose(s.params);
      return { ...s, params };
    };
    const r = trainClassifier(initClassifier({ dims, models: [0], seed: 1 }, opt), { optimizer: opt, data, epochs: 4, batchSize: 10, seed: 1, hooks: { beforeEpoch: hook } });
    assert.deepEqual(seen, [0, 1, 2, 3]);
    // zero weights have zero gradients except at the last layer: the loss after epoch 3 is near log(4)
    assert.ok(Math.abs(r.history[2]!.testLoss[0]! - Math.log(4)) < 0.2);
    tf.dispose(r.state.params);
  });

  test('a diverging run stops with a clear message and releases its tensors', () => {
    const opt = optimizer({ name: 'sgd', lr: 1e6 });
    const n0 = tf.memory().numTensors;
    assert.throws(
      () => trainClassifier(initClassifier({ dims, models: [0], seed: 1 }, opt), { optimizer: opt, data, epochs: 20, batchSize: 10, seed: 1 }),
      (e: unknown) => e instanceof DivergenceError && /diverged: .*model 0 .*lower the learning rate/.test((e as Error).message),
    );
    assert.equal(tf.memory().numTensors, n0);
  });
});

describe('lockstep checkpoint', () => {
  test('resumes on the backend that wrote it, refuses another (the numbers would change)', async () => {
    await initBackend('wasm');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-lockstep-'));
    const file = path.join(dir, 'a.lockstep');
    const opt = optimizer({ name: 'adam', lr: 0.01 });
    const st = initClassifier({ dims, models: [0, 1], seed: 3 }, opt);
    try {
      saveLockstep(file, 'k', st, { note: 1 });
      const back = loadLockstep<{ note: number }>(file, 'k')!;
      assert.equal(back.progress.note, 1);
      assert.deepEqual(back.state.params.map((p) => Array.from(p.dataSync())), st.params.map((p) => Array.from(p.dataSync())));
      assert.deepEqual(Object.keys(back.state.opt.slots).sort(), Object.keys(st.opt.slots).sort());
      disposeClassifier(back.state);
      assert.equal(loadLockstep(file, 'other'), undefined, 'another config: not resumed');
      await initBackend('cpu');
      assert.throws(() => loadLockstep(file, 'k'), (e: Error) => e.message.includes(file) && /written on the wasm backend and this run is on cpu.*--backend wasm/.test(e.message));
      fs.writeFileSync(`${file}.bin`, 'a lockstep file of the single-file format');
      assert.throws(() => loadLockstep(file, 'k'), (e: Error) => e.message.includes(`${file}.bin`) && /delete it and rerun/.test(e.message));
    } finally {
      await initBackend('wasm');
      disposeClassifier(st);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
