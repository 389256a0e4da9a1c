// scripts/export-fig5-setup.ts: what it writes is what optimizers-mnist trains on (initial
// weights, batch order, teleport batches), and the authors' code, when present, gives the same
// mini-batch losses on it (scripts/reference_fig5_authors.py --check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/backend/index.js';
import { loadDataset } from '../../src/data/index.js';
import { optimizer } from '../../src/optim/index.js';
import { initWeights } from '../../src/nn/batched.js';
import { initClassifier, trainClassifier, disposeClassifier } from '../../src/train/classifier.js';
import { findTorchPython, pythonCandidates } from '../../src/bench/reference.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'fig5-export-'));
const cfgFile = path.join(dir, 'config.json');
const out = path.join(dir, 'setup');
// 1,000 samples, 2 model ids; the check trains model 0 with momentum for one whole epoch (50 steps)
const cfg = { data: { name: 'mnist', trainSize: 1000, testSize: 200 }, runs: 2, epochs: 3, backend: 'wasm' };

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('export-fig5-setup writes the initial weights, batch orders and teleport batches that optimizers-mnist uses', async () => {
  writeFileSync(cfgFile, JSON.stringify(cfg));
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/export-fig5-setup.ts', '--preset', 'quick', '--config', cfgFile, '--out', out, '--epochs', '2', '--check-steps', '50', '--check-optimizer', 'momentum'], { cwd: ROOT, stdio: 'pipe' });
  const m = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(m.models, [0, 1]);
  assert.deepEqual(m.train, { n: 1000, d: 784 });
  assert.deepEqual(m.teleport, { count: 8, batchSize: 200 });
  const bytes = (f: string) => {
    const b = readFileSync(path.join(out, f));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  const i32 = (f: string) => new Int32Array(bytes(f));
  const f32 = (f: string) => new Float32Array(bytes(f));
  // every epoch's order is a permutation of the training rows, and epochs differ
  const order = i32('order_1.i32');
  assert.equal(order.length, 2 * 1000);
  for (let e = 0; e < 2; e++) assert.deepEqual([...order.subarray(e * 1000, (e + 1) * 1000)].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(order.subarray(0, 20), order.subarray(1000, 1020));
  const tele = i32('teleport_0.i32');
  assert.equal(tele.length, 8 * 200);
  assert.equal(new Set(tele.subarray(0, 200)).size, 200);
  const flat = initWeights([784, 16, 10, 10], 0, 1).flatMap((w) => [...w]);
  assert.deepEqual([...f32('init_1.f32')], flat);
  const ds = loadDataset('mnist', { seed: 0, trainSize: 1000, testSize: 200 });
  assert.deepEqual(f32('train_x.f32'), ds.train.x);
  assert.deepEqual(i32('test_y.i32'), ds.test.y);

  // the check's 50 batch losses are the classifier loop's first epoch of model 0 (its mean train loss)
  await initBackend('wasm');
  const opt = optimizer({ name: 'momentum', lr: 1e-3, momentum: 0.9 });
  const state = initClassifier({ dims: [784, 16, 10, 10], models: [0], seed: 0 }, opt);
  const run = trainClassifier(state, { optimizer: opt, data: { train: ds.train, test: ds.test }, epochs: 1, batchSize: 20, seed: 0 });
  disposeClassifier(run.state);
  const losses: number[] = m.check.batchLoss;
  assert.equal(losses.length, 50);
  const mean = losses.reduce((s, v) => s + v, 0) / losses.length;
  assert.ok(Math.abs(mean - run.history[0]!.trainLoss[0]!) < 1e-5, `${mean} vs ${run.history[0]!.trainLoss[0]}`);
});

const authors = process.env.SYMTELE_AUTHORS_DIR;
const hasAuthors = authors !== undefined && existsSync(path.join(authors, 'gradient_descent_mlp_utils.py'));
const torch = hasAuthors ? findTorchPython(pythonCandidates()) : { reason: 'not looked for' };
const skip = !hasAuthors
  ? "SYMTELE_AUTHORS_DIR does not name a checkout of the authors' Teleportation-Optimization code (not part of symtele)"
  : 'reason' in torch
    ? torch.reason
    : false;
test("the authors' functions give the same mini-batch losses on the exported setup (float32 rounding)", { skip }, () => {
  if ('reason' in torch) return;
  const stdout = execFileSync(torch.python, ['scripts/reference_fig5_authors.py', '--authors-dir', authors!, '--setup', out, '--check', '50'], { cwd: ROOT, encoding: 'utf8' });
  const r = JSON.parse(stdout);
  assert.equal(r.step0.symtele, r.step0.reference);
  assert.ok(r.maxAbsDiff < 1e-5, `max |difference| ${r.maxAbsDiff}`);
});
