/**
 * Configs of the experiments "teleportation inside standard optimizers": `optimizers-mnist`
 * (paper Figures 5 and 13, Appendix G.2) and `teleport-integration` (Figure 12, Appendix G.1).
 *
 * The codecs' defaults are the paper's settings. Presets are files of the package,
 * experiments/<experiment>-<preset>.json (`quick`: minutes on a 2-core CPU; `full`: the paper,
 * equal to the defaults); `symtele run` layers defaults, preset, `--config` file and flags
 * (src/cli/experiments/_preset.ts):
 *
 *     decodeConfig(MnistConfig, fileContents, 'experiments/fig5-reference.json');
 */
import * as t from 'io-ts';
import {
  arrayOf,
  NonEmptyString,
  NonNegativeInt,
  oneOf,
  optional,
  PositiveInt,
  strict,
  withDefaults,
  type DeepPartial,
} from '../config/codec.js';
import { Backend, LayerDims, LeakyReluSlope, OutDir, Seed, DEFAULT_LEAKY_RELU_SLOPE } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import { DatasetConfig } from '../data/config.js';
import { OptimizerConfig } from '../optim/config.js';
import { TeleportSettings } from '../teleport/config.js';

/** What happens to the optimizer's state at a teleport (see src/optim/teleporting.ts). */
export const StatePolicy = oneOf(['transport', 'keep', 'reset']);

// ---------------------------------------------------------------------------------------------
// optimizers-mnist (Figures 5 and 13)

/** The paper's learning rates (Appendix G.2). */
export const PAPER_MNIST_OPTIMIZERS = [
  { name: 'adagrad', lr: 1e-4 },
  { name: 'momentum', lr: 5e-2, momentum: 0.9 },
  { name: 'rmsprop', lr: 5e-2 },
  { name: 'adam', lr: 5e-2 },
] as const;

/** The public reference code's learning rates (teleport_optimization.py: lr 1e-2, /10, /100). */
export const REFERENCE_MNIST_OPTIMIZERS = [
  { name: 'adagrad', lr: 1e-2 },
  { name: 'momentum', lr: 1e-3, momentum: 0.9 },
  { name: 'rmsprop', lr: 1e-4 },
  { name: 'adam', lr: 1e-4 },
] as const;

const MnistShape = strict(
  {
    backend: optional(Backend),
    seed: Seed,
    out: OutDir,
    data: DatasetConfig,
    /** Layer widths; bias-free MLP, LeakyReLU, cross-entropy. */
    dims: LayerDims,
    slope: LeakyReluSlope,
    batchSize: PositiveInt,
    epochs: PositiveInt,
    /** Runs (seeds) per optimizer; with and without teleport share them. */
    runs: PositiveInt,
    /** Train the runs of an arm in lockstep as one batched computation (faster; times are then per run, amortised). */
    batchRuns: t.boolean,
    optimizers: arrayOf(OptimizerConfig, { min: 1 }),
    teleport: strict({
      /** Epochs before which to teleport (0: before the first epoch). */
      epochs: arrayOf(NonNegativeInt, { min: 1 }),
      /** Mini-batches of training data per teleport, and their size. */
      batches: PositiveInt,
      batchSize: PositiveInt,
      settings: TeleportSettings,
      state: StatePolicy,
    }),
    /** Epochs shown in the summary table next to the final one. */
    tableEpochs: arrayOf(PositiveInt),
  },
  'OptimizersMnistConfig',
);
export type MnistConfig = t.TypeOf<typeof MnistShape>;

/** The paper's settings (Appendix G.2); experiments/optimizers-mnist-full.json states them. */
const MNIST_DEFAULTS = {
  seed: 0,
  out: 'logs/optimizers-mnist',
  data: { name: 'mnist', trainSize: 50_000, validationSize: 0 },
  dims: [784, 16, 10, 10],
  slope: DEFAULT_LEAKY_RELU_SLOPE,
  batchSize: 20,
  epochs: 40,
  runs: 5,
  batchRuns: true,
  optimizers: PAPER_MNIST_OPTIMIZERS.map((o) => ({ ...o })),
  teleport: {
    epochs: [0],
    batches: 8,
    batchSize: 200,
    settings: { objective: 'gradNorm', steps: 10, lr: 5e-2, direction: 'increase', kind: 'pinv' },
    // at epoch 0 the state is fresh anyway; the reference code rebuilds its optimizer after a teleport
    state: 'reset',
  },
  tableEpochs: [1, 5],
};

export const MnistConfig: t.Type<MnistConfig, unknown, unknown> = withDefaults(
  MnistShape,
  MNIST_DEFAULTS as DeepPartial<t.OutputOf<typeof MnistShape>>,
);
registerConfig('optimizers-mnist', MnistConfig, 'symtele run optimizers-mnist: optimizers with/without teleport on MNIST (Fig. 5, 13)');

// ---------------------------------------------------------------------------------------------
// teleport-integration (Figure 12)

const IntegrationVariant = withDefaults(
  strict({
    label: NonEmptyString,
    /** No teleport when absent (the baseline). */
    teleport: optional(TeleportSettings),
    state: StatePolicy,
  }),
  { state: 'transport' },
);

const IntegrationShape = strict(
  {
    backend: optional(Backend),
    seed: Seed,
    out: OutDir,
    /** Regression MLP widths d_0..d_L; X is [d_0, samples], Y [d_L, samples], all entries U[0, 1). */
    dims: LayerDims,
    samples: PositiveInt,
    slope: LeakyReluSlope,
    repeats: PositiveInt,
    /** Full-batch steps (one per epoch). */
    epochs: PositiveInt,
    /** Completed epochs before the teleport (the paper: 5). */
    teleportAt: NonNegativeInt,
    panels: arrayOf(
      strict({ name: NonEmptyString, optimizer: OptimizerConfig, variants: arrayOf(IntegrationVariant, { min: 1 }) }),
      { min: 1 },
    ),
    /**
     * Also search, per teleporting variant, the largest group learning rate (two significant
     * figures) with which no repeat diverges, as the paper chose its rates.
     */
    tuneGroupLr: t.boolean,
  },
  'TeleportIntegrationConfig',
);
export type IntegrationConfig = t.TypeOf<typeof IntegrationShape>;
export type IntegrationPanel = IntegrationConfig['panels'][number];
export type IntegrationVariant = IntegrationPanel['variants'][number];

/** The paper gives no learning rates for the optimizers of Appendix G.1; these converge on the problem without diverging. */
const gradNormTeleport = { objective: 'gradNorm', steps: 10, lr: 1.2e-5 } as const;
/** The paper's settings (Appendix G.1); experiments/teleport-integration-full.json states them. */
const INTEGRATION_DEFAULTS = {
  seed: 0,
  out: 'logs/teleport-integration',
  dims: [5, 6, 7, 8],
  samples: 4,
  slope: DEFAULT_LEAKY_RELU_SLOPE,
  repeats: 5,
  epochs: 40,
  teleportAt: 5,
  panels: [
    {
      name: 'momentum',
      optimizer: { name: 'momentum', lr: 1e-5, momentum: 0.9 },
      variants: [
        { label: 'no teleport' },
        { label: 'transport momentum', teleport: gradNormTeleport, state: 'transport' },
        { label: 'keep momentum', teleport: gradNormTeleport, state: 'keep' },
        { label: 'reset momentum', teleport: gradNormTeleport, state: 'reset' },
      ],
    },
    {
      name: 'adagrad',
      optimizer: { name: 'adagrad', lr: 1e-1 },
      variants: [
        { label: 'no teleport' },
        { label: 'max ||grad||_2', teleport: gradNormTeleport, state: 'keep' },
        { label: 'max ||grad||_A', teleport: { objective: 'adagradNorm', steps: 10, lr: 7.5e-3 }, state: 'keep' },
      ],
    },
  ],
  tuneGroupLr: true,
};

export const IntegrationConfig: t.Type<IntegrationConfig, unknown, unknown> = withDefaults(
  IntegrationShape,
  INTEGRATION_DEFAULTS as DeepPartial<t.OutputOf<typeof IntegrationShape>>,
);
registerConfig('teleport-integration', IntegrationConfig, 'symtele run teleport-integration: momentum and AdaGrad with teleport (Fig. 12)');
