// Atomic file writes: a reader sees the old content or the new, never a torn file; folders made
// one level at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tmpDirs } from '../helpers/tmp.js';
import { makeDirs, removeAtomic, sweepTrash, writeFileAtomic, writeJsonAtomic } from '../../src/run/atomic.js';

const tmpDir = tmpDirs('symtele-atomic');

test('writeFileAtomic replaces content and leaves no temporary files', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt', 'state.json');
  writeJsonAtomic(file, { step: 1 });
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { step: 1 });
  writeJsonAtomic(file, { step: 2, w: [1.5, 2.5] });
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { step: 2, w: [1.5, 2.5] });
  writeFileAtomic(path.join(dir, 'ckpt', 'w.bin'), new Uint8Array([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(path.join(dir, 'ckpt', 'w.bin'))], [1, 2, 3]);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ckpt')).sort(), ['state.json', 'w.bin']);

  // A failing write (target is a directory) leaves the old state and no temporary file.
  fs.mkdirSync(path.join(dir, 'ckpt', 'adir'));
  assert.throws(() => writeFileAtomic(path.join(dir, 'ckpt', 'adir'), 'x'), /adir/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ckpt')).sort(), ['adir', 'state.json', 'w.bin']);
});

test('makeDirs fails at once on a kernel file system (where a recursive mkdir spins), naming the folder', { skip: !fs.existsSync('/proc/self') }, () => {
  assert.throws(() => makeDirs('/proc/symtele-logs/a'), /ENOENT.*\/proc\/symtele-logs'/);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-mkdirs-'));
  makeDirs(path.join(root, 'a', 'b'));
  makeDirs(path.join(root, 'a', 'b'));
  assert.ok(fs.statSync(path.join(root, 'a', 'b')).isDirectory());
  fs.rmSync(root, { recursive: true, force: true });
});

test('removeAtomic moves a tree aside before deleting it; sweepTrash deletes what a dead process left', () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'slot'));
  fs.writeFileSync(path.join(dir, 'slot', 'a'), 'x');
  removeAtomic(path.join(dir, 'slot'));
  removeAtomic(path.join(dir, 'gone'));
  assert.deepEqual(fs.readdirSync(dir), []);
  fs.mkdirSync(path.join(dir, '.slot.trash.123.abcd.tmp'));
  fs.writeFileSync(path.join(dir, 'keep.tmp'), '');
  sweepTrash(dir);
  assert.deepEqual(fs.readdirSync(dir), ['keep.tmp']);
});
