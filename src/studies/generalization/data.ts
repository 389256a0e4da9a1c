/** Datasets and per-dataset defaults of the generalization experiments (paper Appendix F). */
import * as tf from '@tensorflow/tfjs';
import * as t from 'io-ts';
import { strict, withDefaults, optional, oneOf, PositiveInt, PositiveNumber } from '../../config/codec.js';
import { Backend, Seed, OutDir, LayerDims } from '../../config/common.js';
import { DATASET_NAMES } from '../../data/types.js';
import { DATASET_DIR_ABSENT } from '../../data/config.js';
import { loadDataset, gatherColumns, type Dataset, type DatasetName, type DataSplit } from '../../data/index.js';
import type { Stream } from '../../rng/index.js';

/** Architecture and SGD learning rate of the correlation study (Appendix F.3). */
export const STUDY_DEFAULTS: Record<DatasetName, { dims: number[]; lr: number }> = {
  mnist: { dims: [784, 16, 10, 10], lr: 0.01 },
  'fashion-mnist': { dims: [784, 16, 10, 10], lr: 0.01 },
  cifar10: { dims: [3072, 128, 32, 10], lr: 0.02 },
};

/** Table 1 of the paper. */
export const PAPER_TABLE1: Record<DatasetName, { sharpness: number; curvature: number }> = {
  mnist: { sharpness: 0.704, curvature: -0.05 },
  'fashion-mnist': { sharpness: 0.79, curvature: -0.232 },
  cifar10: { sharpness: 0.899, curvature: -0.167 },
};

/**
 * The sharpness displacements of the reference code (correlation.py): np.arange(0.001, 0.2,
 * 0.01) for MNIST, np.arange(0.0001, 0.02, 0.001) for Fashion-MNIST and CIFAR-10; 20 each.
 */
const arange = (start: number, step: number, n: number) => Array.from({ length: n }, (_, i) => Math.round((start + step * i) * 1e7) / 1e7);
export const REFERENCE_DISPLACEMENTS: Record<DatasetName, number[]> = {
  mnist: arange(0.001, 0.01, 20),
  'fashion-mnist': arange(0.0001, 0.001, 20),
  cifar10: arange(0.0001, 0.001, 20),
};

/** The data of a study: which dataset, where its files are, how many samples to use. */
export const DataSettings = withDefaults(
  strict({
    name: oneOf(DATASET_NAMES),
    dir: optional(t.string, DATASET_DIR_ABSENT),
    trainSize: PositiveInt,
    testSize: optional(PositiveInt, 'the whole test set'),
  }),
  { name: 'mnist', trainSize: 50_000 },
);
export type DataSettings = t.TypeOf<typeof DataSettings>;

/** The fields every study config starts with: where it runs, its data and its model. */
export const STUDY_PROPS = {
  backend: optional(Backend),
  seed: Seed,
  out: OutDir,
  dataset: DataSettings,
  /** Layer widths; default per dataset (Appendix F.3). */
  dims: optional(LayerDims),
  /** SGD learning rate; default per dataset (0.01 MNIST / Fashion-MNIST, 0.02 CIFAR-10). */
  lr: optional(PositiveNumber),
};

/**
 * Train split and the held-out split used as "validation" (the paper's 10,000 test samples).
 * CIFAR-10 is read from dataset.dir, else from where `symtele data fetch cifar10` puts it.
 */
export function loadStudyData(s: DataSettings, seed: number): Dataset {
  return loadDataset(s.name, { dir: s.dir, seed, trainSize: s.trainSize, validationSize: 0, testSize: s.testSize });
}

/** `count` samples of a split drawn without replacement: x [d, count], labels int32 [count]. */
export function sampleColumns(split: DataSplit, count: number, rng: Stream): { x: tf.Tensor2D; y: tf.Tensor1D } {
  if (count > split.n) throw new Error(`asked for ${count} samples of a split of ${split.n}`);
  const idx = rng.permutation(split.n).subarray(0, count);
  const y = Int32Array.from(idx, (i) => split.y[i]!);
  return { x: tf.tensor2d(gatherColumns(split, idx), [split.d, count]), y: tf.tensor1d(y, 'int32') };
}
