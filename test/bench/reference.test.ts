import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstmUpdateTeleFlops, findTorchPython, pythonCandidates, runReference, authorsDir, parseReferenceOutput, section, REFERENCE_IMPLEMENTATION } from '../../src/bench/reference.js';

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

test('without SYMTELE_AUTHORS_DIR the section is skipped, with a reason naming the variable', async () => {
  const saved = process.env.SYMTELE_AUTHORS_DIR;
  delete process.env.SYMTELE_AUTHORS_DIR;
  try {
    const figures = await section.run({ quick: true });
    assert.deepEqual(Object.keys(figures), ['referenceSkipped']);
    assert.match(String(figures.referenceSkipped), /SYMTELE_AUTHORS_DIR is not set.*train_meta_opt/);
  } finally {
    if (saved !== undefined) process.env.SYMTELE_AUTHORS_DIR = saved;
  }
  const r = authorsDir({ SYMTELE_AUTHORS_DIR: '/nonexistent/authors-for-test' });
  assert.ok('reason' in r);
  assert.match(r.reason, /SYMTELE_AUTHORS_DIR \(\/nonexistent\/authors-for-test\) holds no learn-to-teleport\/gradient_descent_mlp.py/);
});

// what scripts/reference_meta_authors.py prints, after the authors' own "run 0" lines
const call = (learnTele: boolean) => ({ function: 'train_meta_opt', dim: [20, 20, 20, 20], n_run: 3, n_epoch: 100, learn_tele: learnTele, unroll: 10, lr: 1e-4, lr_meta: 1e-3, T_magnitude: 0.01 });
const fixture = (implementation: string, loaded: string[]) =>
  'run 0\n' +
  JSON.stringify({
    implementation,
    authorsSources: { 'learn-to-teleport/gradient_descent_mlp.py': 'ab' },
    torch: '1.13.0a0',
    threads: 2,
    cpu: 'AMD EPYC',
    openblasEnv: {},
    trajectoryLength: 100,
    timedTrajectories: 3,
    warmup: true,
    updateTele: { call: call(true), callSeconds: 6, trajectoriesPerSecond: 0.5, secondsPerTrajectory: { mean: 2, median: 1.9, min: 1.8, max: 2.2, n: 3 } },
    update: { call: call(false), callSeconds: 3, trajectoriesPerSecond: 1, secondsPerTrajectory: { mean: 1, median: 1, min: 0.9, max: 1.1, n: 3 } },
    blas: { BLAS_INFO: 'generic', LAPACK_INFO: 'generic', loaded },
  }) +
  '\n';

test("the script's output becomes the reference run: both calls' speeds, the set-up string, the BLAS actually loaded", () => {
  const r = parseReferenceOutput(fixture('authors', ['libopenblasp-r0.3.21.so']), 2);
  assert.equal(r.updateTele, 0.5);
  assert.equal(r.update, 1);
  assert.equal(r.threads, 2);
  assert.equal(r.blas, 'OpenBLAS');
  assert.equal(r.setup, 'torch 1.13.0a0, 2 threads, OpenBLAS');
  assert.deepEqual(r.secondsPerTrajectory, { mean: 2, median: 1.9, min: 1.8, max: 2.2, n: 3 });
  assert.equal(r.raw.updateTele.call.learn_tele, true);
  assert.equal(parseReferenceOutput(fixture('authors', ['libblas.so.3.11.0']), 1).setup, 'torch 1.13.0a0, 1 thread, generic (libblas.so.3.11.0)');
  assert.equal(REFERENCE_IMPLEMENTATION, 'authors train_meta_opt');
  // anything but the authors' code is refused as a reference
  assert.throws(() => parseReferenceOutput(fixture('reimplementation', []), 1), /not the authors' code/);
});

const authors = authorsDir();
const found = 'reason' in authors ? authors : findTorchPython(pythonCandidates());
test("the authors' train_meta_opt runs through the timing script, reports finite speeds, and gets no OpenBLAS tuning variables", { skip: 'reason' in found ? found.reason : false }, () => {
  if ('reason' in found || 'reason' in authors) return;
  const saved = process.env.OPENBLAS_CORETYPE;
  process.env.OPENBLAS_CORETYPE = 'Haswell';
  try {
    const r = runReference(found.python, 1, { authorsDir: authors.dir, steps: 11, trajectories: 1, warmup: false });
    assert.ok(Number.isFinite(r.updateTele) && r.updateTele > 0);
    assert.ok(Number.isFinite(r.update) && r.update > 0);
    assert.equal(r.raw.implementation, 'authors');
    assert.equal(r.raw.updateTele.call.learn_tele, true);
    assert.equal(r.raw.update.call.learn_tele, false);
    assert.equal(r.threads, 1);
    assert.equal(r.raw.openblasEnv.OPENBLAS_CORETYPE, undefined);
    assert.match(r.setup, /1 thread/);
  } finally {
    if (saved === undefined) delete process.env.OPENBLAS_CORETYPE;
    else process.env.OPENBLAS_CORETYPE = saved;
  }
});
