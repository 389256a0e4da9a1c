/**
 * CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): `data_batch_1.bin`
 * .. `data_batch_5.bin` and `test_batch.bin`, each a sequence of records of 1 label byte
 * followed by 3072 pixel bytes (3 x 32 x 32, channel-major: the 1024 red, then green, then
 * blue values, rows top to bottom). Samples keep that CHW order.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.js';
import { cifar10FetchCommand } from './default-dir.js';
import type { RawSplit } from './types.js';

export const CIFAR10_PIXELS = 3 * 32 * 32;
export const CIFAR10_RECORD = 1 + CIFAR10_PIXELS;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
/** The directory the official archive extracts to. */
export const CIFAR10_ARCHIVE_DIR = 'cifar-10-batches-bin';
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Parse one batch file's bytes; `file` names it in errors. */
export function parseCifarBatch(buf: Uint8Array, file: string): RawSplit {
  if (buf.length === 0 || buf.length % CIFAR10_RECORD !== 0) {
    const n = Math.floor(buf.length / CIFAR10_RECORD);
    throw new DataError(
      `${file}: ${buf.length} bytes is not a whole number of ${CIFAR10_RECORD}-byte records ` +
        `(1 label byte + ${CIFAR10_PIXELS} pixel bytes)` +
        (buf.length === 0 ? ': the file is empty' : `: ${n} records and ${buf.length - n * CIFAR10_RECORD} extra bytes (truncated?)`),
    );
  }
  const n = buf.length / CIFAR10_RECORD;
  const x = new Uint8Array(n * CIFAR10_PIXELS);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * CIFAR10_RECORD;
    const label = buf[off]!;
    if (label > 9) throw new DataError(`${file}: record ${i} has label ${label}, expected 0..9 (not a CIFAR-10 batch?)`);
    y[i] = label;
    x.set(buf.subarray(off + 1, off + CIFAR10_RECORD), i * CIFAR10_PIXELS);
  }
  return { x, y, n, d: CIFAR10_PIXELS };
}

/** Concatenate splits of the same width. */
export function concatRaw(parts: readonly RawSplit[]): RawSplit {
  const d = parts[0]!.d;
  const n = parts.reduce((s, p) => s + p.n, 0);
  const x = new Uint8Array(n * d);
  const y = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    x.set(p.x, at * d);
    y.set(p.y, at);
    at += p.n;
  }
  return { x, y, n, d };
}

/** `dir` itself or `dir/cifar-10-batches-bin`, whichever holds test_batch.bin. */
export function cifar10Dir(dir: string): string {
  for (const d of [dir, path.join(dir, CIFAR10_ARCHIVE_DIR)]) if (existsSync(path.join(d, CIFAR10_TEST_FILE))) return d;
  throw new DataError(
    `CIFAR-10: ${CIFAR10_TEST_FILE} not found in ${dir} or ${path.join(dir, CIFAR10_ARCHIVE_DIR)}. ` +
      `Download it (the binary version, ~163 MB) with: ${cifar10FetchCommand(dir)}` +
      ` (offline: add --archive cifar-10-binary.tar.gz with a copy downloaded elsewhere)`,
  );
}

function readBatch(file: string): RawSplit {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DataError(`CIFAR-10: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCifarBatch(buf, file);
}

/** Read the five training batches (in order) and the test batch. */
export function readCifar10(dir: string): { train: RawSplit; test: RawSplit } {
  const root = cifar10Dir(dir);
  return {
    train: concatRaw(CIFAR10_TRAIN_FILES.map((f) => readBatch(path.join(root, f)))),
    test: readBatch(path.join(root, CIFAR10_TEST_FILE)),
  };
}
