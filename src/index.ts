// The public API of symtele. `tf` is the tfjs namespace the library computes with: make
// tensors through it so they live on the same engine and backend.
export * as tf from '@tensorflow/tfjs';
import { decodeOrThrow } from './config/codec.js';
import { MetaExperimentCodec, type MetaExperiment } from './meta/config.js';
export * from './backend/index.js';
export * from './rng/index.js';

// numerics
export { leakyRelu, leakyReluInv, leakyReluDeriv, exp, sigmoid, tanh, stopGradient, crossEntropy, softmax, DEFAULT_SLOPE } from './ops/activations.js';
export { inv, pinv, SingularMatrixError } from './ops/linalg.js';
export { expm } from './ops/expm.js';

// models and the teleport toolkit
export * from './nn/mlp.js';
export * from './symmetry/action.js';
export * from './symmetry/curve.js';
export * from './symmetry/metrics.js';
export * from './teleport/index.js';
export { TeleportSettings, teleportOptions } from './teleport/config.js';

// optimizers
export * from './optim/index.js';

// configs, logging, reports
export * from './config/codec.js';
export * as codecs from './config/common.js';
export { registerConfig, getConfig, listConfigs } from './config/registry.js';
export * from './logging/index.js';
export * from './run/atomic.js';
export * from './report/plot.js';

// meta-learning: tasks, learned optimizers, estimators, baselines, the trainer, worker pools,
// the experiment; plugins register their own parts through the same registries
export * from './meta/index.js';
export { loadPlugin, loadPlugins, loadedPlugins } from './config/plugins.js';

/** Decode a meta experiment (JSON value) with every default filled and every entry checked; a ConfigError names each bad field. */
export const decodeExperiment = (raw: unknown, source = 'experiment'): MetaExperiment => decodeOrThrow(MetaExperimentCodec, raw, source);

// datasets and the classifier training loop (namespaced: their Batch is a data batch)
export * as data from './data/index.js';
export * as train from './train/classifier.js';
