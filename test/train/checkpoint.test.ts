// A trained model's checkpoint (the generalization study's): weights, losses and fingerprint
// round-trip; a model file of the single-file format before the slotted store is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkpointPath, loadModel, saveModel, savedModels, type ModelCheckpoint } from '../../src/train/checkpoint.js';

test('a model checkpoint round-trips; an old model-<id>.json is refused, naming it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-models-'));
  try {
    assert.deepEqual(savedModels(dir, 3), []);
    const c: ModelCheckpoint = { id: 1, dims: [3, 2, 1], fingerprint: 'f', backend: 'wasm', trainLoss: [1, NaN], testLoss: [2, 1.5], seconds: [0.1, 0.2], weights: [new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8])] };
    saveModel(dir, c);
    assert.deepEqual(savedModels(dir, 3), [1]);
    assert.equal(loadModel(dir, 0), null);
    assert.deepEqual(loadModel(dir, 1), c);
    fs.writeFileSync(`${checkpointPath(dir, 2)}.json`, '{}');
    assert.throws(() => savedModels(dir, 3), (e: Error) => e.message.includes('model-0002.json') && /delete it and rerun/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
