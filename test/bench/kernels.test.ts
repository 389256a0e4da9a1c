import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { countKernels, timeKernels, timeLearnerStep } from '../../src/bench/kernels.js';
import { testBackend } from '../helpers/backend.js';

await initBackend(testBackend());

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

// the first count makes the caches that live on (the LSTM's gate constants): tensors are counted after it
test('kernel counts: the same twice, no tensors left behind', async () => {
  const a = await countKernels('LSTM(update)', 2);
  const n0 = tf.memory().numTensors;
  const b = await countKernels('LSTM(update)', 2);
  assert.deepEqual(a, b);
  assert.ok(a.perStep > a.forwardPerStep && a.forwardPerStep > 0, JSON.stringify(a));
  // the counts by kernel add up to the total (each rounded to a tenth)
  assert.ok(Math.abs(sum(Object.values(a.byKernel)) - a.perStep) < 0.05 * Object.keys(a.byKernel).length + 1e-9);
  assert.equal(tf.memory().numTensors, n0);
});

test('kernel times: the parts add up to the kernels\u2019 time, products are BatchMatMul, no tensors left behind', async () => {
  const n0 = tf.memory().numTensors;
  const t = await timeKernels('LSTM(update)', 2, 'tuned', 1, 1);
  const tol = 0.001 * (Object.keys(t.byKernelMs).length + 3);
  assert.ok(t.wallMs > 0 && t.kernelMs > 0, JSON.stringify(t));
  assert.equal(t.productMs, t.byKernelMs.BatchMatMul);
  assert.ok(Math.abs(sum(Object.values(t.byKernelMs)) - t.kernelMs) <= tol, JSON.stringify(t));
  assert.ok(Math.abs(sum(Object.values(t.bySizeMs)) - t.kernelMs) <= tol, JSON.stringify(t));
  assert.equal(tf.memory().numTensors, n0);
});

test('the learner step is timed without leaving tensors behind', () => {
  const n0 = tf.memory().numTensors;
  assert.ok(timeLearnerStep('LSTM(update)', 'tuned', 1) > 0);
  assert.equal(tf.memory().numTensors, n0);
});
