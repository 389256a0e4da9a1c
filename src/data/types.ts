/** In-memory datasets: one sample per row of `x` (n rows of d pixels in [0, 1]). */

/** n samples of d features, row-major (sample i is x[i*d .. (i+1)*d)), and their labels. */
export interface DataSplit {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly d: number;
}

/** Raw samples as read from the files: bytes 0..255, before scaling and splitting. */
export interface RawSplit {
  readonly x: Uint8Array;
  readonly y: Uint8Array;
  readonly n: number;
  readonly d: number;
}

export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface Dataset {
  readonly name: DatasetName;
  /** Training samples (by default 50,000, as in the paper). */
  readonly train: DataSplit;
  /** The held-out part of the original training set (may be empty). */
  readonly validation: DataSplit;
  /** The official test set. */
  readonly test: DataSplit;
  readonly classes: number;
}
