// Meta-training checkpoints written before the slotted store (src/run/checkpoint.ts) still load:
// runs in progress resume from version-4 slots (test/fixtures/checkpoint/meta-v4), and a slot
// written now has the same manifest fields and tensors.bin layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { initBackend } from '../../src/backend/index.js';
import { testBackend } from '../helpers/backend.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import { MetaExperimentCodec, resolveAll, trainedEntry } from '../../src/meta/config.js';
import { buildRunParts } from '../../src/meta/build.js';
import { runSpec } from '../../src/meta/run.js';
import { disposeTrainState, initTrainState } from '../../src/meta/train.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/meta/checkpoint.js';
import { flattenMeta, type MetaParams } from '../../src/meta/params.js';
import { FAULT_SINGLE } from '../../src/faults/configs.js';

await initBackend(testBackend());

const FIXTURE = fileURLToPath(new URL('../fixtures/checkpoint/meta-v4', import.meta.url));
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8'));
const hash = (t: tf.Tensor) => {
  const d = t.dataSync() as Float32Array;
  return createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex');
};
const hashes = (m: MetaParams) => Object.fromEntries(Object.entries(flattenMeta(m)).sort().map(([n, t]) => [n, hash(t)]));

function unit() {
  const exp = decodeOrThrow(MetaExperimentCodec, { ...FAULT_SINGLE, logdir: '/nonexistent/logs', checkpointDir: '/nonexistent/ckpt' });
  const r = resolveAll(exp, 'test');
  assert.ok(E.isRight(r));
  const rv = trainedEntry(r.right, 'LSTM(update)', 'test');
  const parts = buildRunParts(runSpec(rv, exp));
  return { cfg: { learned: rv.learned, estimator: rv.estimator, train: rv.train, task: exp.task }, st: initTrainState(parts.learned, parts.family, rv.train) };
}

test('a version-4 slot written before the slotted store loads: every tensor, counter and mark', () => {
  const { cfg, st } = unit();
  disposeTrainState(st);
  const r = loadCheckpoint(FIXTURE, cfg);
  assert.equal(r.from, path.join(FIXTURE, 'ckpt-00000003'));
  assert.deepEqual(r.skipped, []);
  assert.equal(r.final, false);
  assert.deepEqual(r.logs, [{ file: 'unit/metrics.jsonl', bytes: 1234 }]);
  const s = r.state;
  assert.equal(s.batchesDone, 3);
  assert.equal(s.bestValLoss, 0.25);
  assert.equal(s.windowsSkipped, 1);
  assert.equal(s.lrScale, 0.5);
  assert.deepEqual(s.perm, expected.perm);
  assert.deepEqual(s.order.state(), expected.order);
  assert.deepEqual(hashes(s.meta), expected.meta);
  assert.deepEqual(hashes(s.bestMeta!), expected.best);
  for (const [mod, o] of Object.entries(expected.outer as Record<string, { step: number; slots: Record<string, string[]> }>)) {
    assert.equal(s.outer[mod]!.step, o.step);
    assert.deepEqual(Object.fromEntries(Object.entries(s.outer[mod]!.slots).map(([k, ts]) => [k, ts!.map(hash)])), o.slots);
  }
  disposeTrainState(s);
});

test('a damaged version-4 slot falls back to the one before (which stored the best parameters once)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-ckpt-v4-'));
  try {
    fs.cpSync(FIXTURE, dir, { recursive: true });
    fs.truncateSync(path.join(dir, 'ckpt-00000003', 'tensors.bin'), 8);
    const r = loadCheckpoint(dir, null);
    assert.equal(r.from, path.join(dir, 'ckpt-00000002'));
    assert.match(r.skipped[0]!, /ckpt-00000003: tensors.bin has 8 bytes/);
    assert.equal(r.state.batchesDone, 2);
    assert.deepEqual(hashes(r.state.meta), expected.meta);
    assert.deepEqual(hashes(r.state.bestMeta!), expected.meta, 'the best parameters are the current ones');
    disposeTrainState(r.state);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a slot written now has the version-4 manifest fields and tensors.bin layout', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-ckpt-v4-'));
  try {
    const old = loadCheckpoint(FIXTURE, null);
    const slot = saveCheckpoint(dir, old.state, old.config, { logs: old.logs });
    assert.equal(path.basename(slot), 'ckpt-00000003');
    const read = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8'));
    const a = read(path.join(FIXTURE, 'ckpt-00000003')), b = read(slot);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    const { sha256: _a, backend: _ab, ...restA } = a;
    const { sha256: _b, backend: _bb, ...restB } = b;
    assert.deepEqual(restB, restA);
    assert.ok(fs.readFileSync(path.join(slot, 'tensors.bin')).equals(fs.readFileSync(path.join(FIXTURE, 'ckpt-00000003', 'tensors.bin'))));
    disposeTrainState(old.state);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
