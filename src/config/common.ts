/**
 * Codecs of the pieces every experiment shares. Compose them into experiment configs with the
 * combinators of ./codec.js, e.g.
 *
 *     import { strict, withDefaults, PositiveInt } from './codec.js';
 *     import { Backend, Seed, OutDir, MlpSpec } from './common.js';
 *
 *     export const RegressionConfig = withDefaults(
 *       strict({ backend: Backend, seed: Seed, out: OutDir, model: MlpSpec, steps: PositiveInt }),
 *       { backend: 'wasm', seed: 0, out: 'logs/regression', steps: 100, model: { dims: [20, 20, 20] } },
 *     );
 *     export type RegressionConfig = t.TypeOf<typeof RegressionConfig>;
 */
import * as t from 'io-ts';
import { BACKEND_CHOICES } from '../backend/index.js';
import {
  arrayOf,
  refine,
  NonNegativeInt,
  numberIn,
  oneOf,
  PositiveInt,
  strict,
  withDefaults,
} from './codec.js';
import { registerConfig } from './registry.js';

/** tfjs backend: auto | wasm | cpu | tensorflow | tensorflow-gpu. */
export const Backend = oneOf(BACKEND_CHOICES);
export type Backend = t.TypeOf<typeof Backend>;

/** The one seed every random stream of a run derives from. */
export const Seed = NonNegativeInt;

/** An output directory (logs, checkpoints, results). */
export const OutDir = refine(t.string, (s) => s.length > 0, 'OutDir', 'a non-empty path');
/** A TensorBoard log directory. */
export const LogDir = OutDir;
/** A path to a file or directory to read. */
export const Path = OutDir;

/** LeakyReLU slope in (0, 1] (1 is linear). */
export const LeakyReluSlope = numberIn({ gt: 0, le: 1 });

export const DEFAULT_LEAKY_RELU_SLOPE = 0.1;

/** Activation of hidden layers: LeakyReLU with its slope (default 0.1). */
export const Activation = withDefaults(strict({ leakyReluSlope: LeakyReluSlope }), {
  leakyReluSlope: DEFAULT_LEAKY_RELU_SLOPE,
});
export type Activation = t.TypeOf<typeof Activation>;

/** Loss of an MLP: mean squared error (regression) or cross-entropy (classification). */
export const Loss = oneOf(['mse', 'ce']);
export type Loss = t.TypeOf<typeof Loss>;

/** Layer widths d_0 .. d_L: at least two positive integers. */
export const LayerDims = arrayOf(PositiveInt, { min: 2, name: 'LayerDims' });

/** An MLP: `dims` required; activation and loss default to LeakyReLU(0.1) and mse. */
export const MlpSpec = withDefaults(
  strict({ dims: LayerDims, activation: Activation, loss: Loss }, 'MlpSpec'),
  { activation: { leakyReluSlope: DEFAULT_LEAKY_RELU_SLOPE }, loss: 'mse' },
);
export type MlpSpec = t.TypeOf<typeof MlpSpec>;

/** What a teleport maximises (or, for sharpness/curvature, what it moves along). */
export const TeleportObjective = oneOf(['gradNorm', 'adagradNorm', 'sharpness', 'curvature']);
export type TeleportObjective = t.TypeOf<typeof TeleportObjective>;

/** How the group acts on a layer: with the pseudo-inverse or the inverse of its input. */
export const ActionKind = oneOf(['pinv', 'inverse']);
export type ActionKind = t.TypeOf<typeof ActionKind>;

registerConfig('mlp', MlpSpec, 'an MLP: dims, activation, loss');
