/** Config of a dataset: which one, where its files are, and the train/validation split. */
import * as t from 'io-ts';
import { NonNegativeInt, oneOf, optional, strict, withDefaults } from '../config/codec.js';
import { Path } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import { DATASET_NAMES } from './types.js';

export const DatasetConfig = withDefaults(
  strict({
    name: oneOf(DATASET_NAMES),
    /** Directory of the files (defaults per dataset, see LoadOptions.dir). */
    dir: optional(Path),
    trainSize: NonNegativeInt,
    /** Default: the rest of the training set. */
    validationSize: optional(NonNegativeInt),
    /** Default: the whole test set. */
    testSize: optional(NonNegativeInt),
  }),
  { name: 'mnist', trainSize: 50_000 },
);
export type DatasetConfig = t.TypeOf<typeof DatasetConfig>;

registerConfig('dataset', DatasetConfig, 'a dataset: mnist | fashion-mnist | cifar10, its directory and split sizes');
