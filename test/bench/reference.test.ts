import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstmUpdateTeleFlops, findTorchPython, pythonCandidates, runReference } from '../../src/bench/reference.js';

test('FLOPs of an LSTM(update,tele) trajectory: 6 per weight of the matrix products per step, about 2.7 GFLOP', () => {
  // independent count: weights of the four LSTM cells' input and recurrent matrices and the two heads
  const n = 20, h = 300, inputs = 2 * n * n;
  const cell = (i: number) => 4 * h * (i + h);
  const weights = cell(inputs) + cell(h) + h * inputs + cell(inputs) + cell(h) + h * n * n;
  const flops = lstmUpdateTeleFlops({ n, hidden: h, steps: 100 });
  assert.equal(flops, 6 * weights * 100);
  assert.ok(flops > 2.6e9 && flops < 2.8e9, `${flops}`);
  assert.equal(lstmUpdateTeleFlops({ n, hidden: h, steps: 10 }) * 10, flops);
});

test('no python with torch: a reason naming what was tried, no throw', () => {
  const r = findTorchPython(['/nonexistent/python-for-test']);
  assert.ok('reason' in r);
  assert.match(r.reason, /no python3 with torch.*\/nonexistent\/python-for-test/);
  assert.deepEqual(pythonCandidates({ SYMTELE_TORCH_PYTHON: 'mypy3' }).slice(0, 2), ['mypy3', 'python3']);
});

const found = findTorchPython(pythonCandidates());
test('the reference timing script runs, reports finite speeds, and gets no OpenBLAS tuning variables', { skip: 'reason' in found ? found.reason : false }, () => {
  if ('reason' in found) return;
  const saved = process.env.OPENBLAS_CORETYPE;
  process.env.OPENBLAS_CORETYPE = 'Haswell';
  try {
    const r = runReference(found.python, 1, { steps: 11, trajectories: 1, warmup: 0 });
    assert.ok(Number.isFinite(r.updateTele) && r.updateTele > 0);
    assert.ok(Number.isFinite(r.update) && r.update > 0);
    assert.ok(r.gdStepMs > 0);
    assert.equal(r.threads, 1);
    assert.equal(r.raw.openblasEnv.OPENBLAS_CORETYPE, undefined);
    assert.match(r.setup, /1 thread/);
  } finally {
    if (saved === undefined) delete process.env.OPENBLAS_CORETYPE;
    else process.env.OPENBLAS_CORETYPE = saved;
  }
});
