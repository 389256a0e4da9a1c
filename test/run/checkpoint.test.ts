// The slotted checkpoint store: slots committed by rename, the newest `keep` kept, the newest
// intact one loaded (damaged ones skipped and named), records with non-finite numbers, and
// single files of the formats before it refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, hasSlot, loadNewest, nextSlot, refuseSingleFile, saveSlot, type SlotReader } from '../../src/run/checkpoint.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-store-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

interface Rec {
  format: 'test';
  version: number;
  loss: number[];
}
const TEST = { format: 'test', reads: [1] };
const read = ({ manifest, tensors }: SlotReader<Rec>) => {
  const { layout, data } = tensors();
  return { loss: manifest.loss, tensors: Object.fromEntries(layout.map((e) => [e.name, { shape: e.shape, data: Array.from(data.subarray(e.offset, e.offset + e.length)) }])) };
};

test('a slot holds tensors and a record (non-finite numbers included); the newest intact one loads', () => {
  const dir = path.join(root, 'a');
  assert.equal(hasSlot(dir), false);
  assert.equal(nextSlot(dir), 0);
  assert.throws(() => loadNewest(dir, TEST, read), /no checkpoint/);
  const t = tf.tensor2d([[1, 2], [3, 4]]);
  for (const n of [0, 1, 2]) saveSlot(dir, n, [['w', t], ['b', new Float32Array([n])]], { format: 'test', version: 1, loss: [n, NaN, -Infinity] }, 2);
  t.dispose();
  assert.deepEqual(fs.readdirSync(dir).sort(), ['ckpt-00000001', 'ckpt-00000002'], 'the newest two kept');
  assert.equal(nextSlot(dir), 3);
  const r = loadNewest(dir, TEST, read);
  assert.equal(r.from, path.join(dir, 'ckpt-00000002'));
  assert.deepEqual(r.value, { loss: [2, NaN, -Infinity], tensors: { w: { shape: [2, 2], data: [1, 2, 3, 4] }, b: { shape: [1], data: [2] } } });

  // damaged: skipped for the slot before, and named
  fs.appendFileSync(path.join(dir, 'ckpt-00000002', 'tensors.bin'), 'x');
  const back = loadNewest(dir, TEST, read);
  assert.equal(back.value.tensors.b!.data[0], 1);
  assert.match(back.skipped[0]!, /ckpt-00000002: tensors.bin has 21 bytes, manifest says 20/);
  // an error of the reader not marked damaged stands
  assert.throws(
    () => loadNewest(dir, TEST, ({ slot }) => { throw new CheckpointError(slot, 'another config', false); }),
    (e: Error) => e instanceof CheckpointError && /another config/.test(e.message),
  );
  // a version this build does not read stands (an older slot would not do either)
  assert.throws(() => loadNewest(dir, { format: 'test', reads: [2], hint: () => ' (rerun)' }, read), (e: Error) => e instanceof CheckpointError && /version 1, this build reads 2 \(rerun\)/.test(e.message));
  // another format: not this store's checkpoint
  assert.throws(() => loadNewest(dir, { format: 'other', reads: [1] }, read), /no intact checkpoint: .*not a other checkpoint/);
});

test('a dead write leaves no slot: its temporary is swept by the next save', () => {
  const dir = path.join(root, 'b');
  saveSlot(dir, 0, [], { format: 'test', version: 1, loss: [] }, 1);
  fs.mkdirSync(path.join(dir, 'ckpt-00000001.999999.tmp'));
  assert.equal(loadNewest(dir, TEST, read).from, path.join(dir, 'ckpt-00000000'));
  saveSlot(dir, 1, [], { format: 'test', version: 1, loss: [] }, 1);
  assert.deepEqual(fs.readdirSync(dir), ['ckpt-00000001']);
});

test('a single file of the format before the store is refused, naming it', () => {
  const file = path.join(root, 'old.lockstep.bin');
  refuseSingleFile(file, path.join(root, 'old.lockstep'));
  fs.writeFileSync(file, 'x');
  assert.throws(() => refuseSingleFile(file, path.join(root, 'old.lockstep')), (e: Error) => e.message.startsWith(file) && /no longer reads.*delete it and rerun/.test(e.message));
});
