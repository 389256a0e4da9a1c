/**
 * Configs of the experiments "teleportation inside standard optimizers": `optimizers-mnist`
 * (paper Figures 5 and 13, Appendix G.2) and `teleport-integration` (Figure 12, Appendix G.1).
 *
 * The codecs' defaults are the paper's sizes; for optimizers-mnist the optimizer rates and the
 * teleport schedule are the public reference code's (see REFERENCE_MNIST_OPTIMIZERS). Presets are files of the package,
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
  refineConfig,
  strict,
  withDefaults,
  type DeepPartial,
} from '../../config/codec.js';
import { Backend, LayerDims, LeakyReluSlope, OutDir, Seed, DEFAULT_LEAKY_RELU_SLOPE } from '../../config/common.js';
import { registerConfig, registerPreflight } from '../../config/registry.js';
import { outDirPreflight } from '../../config/preflight.js';
import { DatasetConfig } from '../../data/config.js';
import { OptimizerConfig } from '../../optim/config.js';
import { TeleportSettings } from '../../teleport/config.js';

/** What happens to the optimizer's state at a teleport (see src/optim/teleporting.ts). */
export const StatePolicy = oneOf(['transport', 'keep', 'reset']);

// ---------------------------------------------------------------------------------------------
// optimizers-mnist (Figures 5 and 13)

/**
 * The arms of the experiment, all trained on the same model ids (same initial weights, same
 * batch order, same teleport batches), so that their paired differences isolate one effect:
 * - 'none': the optimizer alone;
 * - 'teleport': teleports, the optimizer's state transported (first moments pushed forward
 *   with the group action's derivative, second moments kept; src/optim/teleporting.ts);
 * - 'teleport-reset': teleports, the state reset after each (the reference code rebuilds its
 *   optimizer after every teleport);
 * - 'reset': no teleport, the state reset at the same steps (the control for the reset);
 * - 'random': at each teleport a random group element with the same ||g - I||_F per layer as
 *   the paired 'teleport-reset' model's teleport (else the 'teleport' model's), state reset.
 */
export const ARMS = ['none', 'teleport', 'teleport-reset', 'reset', 'random'] as const;
export type Arm = (typeof ARMS)[number];
export const MnistArm = oneOf(ARMS);

/**
 * When and how an optimizer's runs teleport (the reference code's protocol): `count` teleports,
 * each on its own mini-batch of `batchSize` training samples, before steps 0, 1, ..., count-1
 * of epoch `epoch` (0-based), i.e. interleaved with that epoch's first steps.
 */
export const TeleportSchedule = withDefaults(
  strict(
    {
      epoch: NonNegativeInt,
      count: PositiveInt,
      batchSize: PositiveInt,
      settings: TeleportSettings,
      /**
       * 'exact': the toolkit's teleport (hidden states recomputed at every step). 'reference':
       * the reference code's bookkeeping, h <- (I + T) h after each step (reference-teleport.ts;
       * gradNorm only, the 'teleport' arm then keeps the state instead of transporting it).
       */
      hiddenUpdate: oneOf(['exact', 'reference']),
    },
    'TeleportSchedule',
  ),
  // cap: the reference stops a teleport once ||grad L||^2 on its batch exceeds 100
  { epoch: 0, count: 8, batchSize: 200, hiddenUpdate: 'exact', settings: { objective: 'gradNorm', steps: 10, lr: 5e-2, direction: 'increase', kind: 'pinv', cap: 100 } },
);
export type TeleportSchedule = t.TypeOf<typeof TeleportSchedule>;

/**
 * The reference code's optimizers and teleports (teleport_optimization.py). Its optimizer rates
 * are a base lr 1e-2 for AdaGrad, lr/10 for momentum (0.9), lr/100 for RMSProp and Adam. Its
 * teleport (group) rates are 1e-4 for AdaGrad (teleported at epoch 2) and 5e-2 for the others
 * (at epoch 0): these are the numbers Appendix G.2 lists as "learning rates", so the paper's
 * list is the group rates, not the optimizers' (with 5e-2 as its lr RMSProp's first epoch is
 * worse than chance and AdaGrad at 1e-4 hardly trains).
 */
export const REFERENCE_MNIST_OPTIMIZERS = [
  { optimizer: { name: 'adagrad', lr: 1e-2 }, teleport: { epoch: 2, settings: { lr: 1e-4 } } },
  { optimizer: { name: 'momentum', lr: 1e-3, momentum: 0.9 }, teleport: { epoch: 0, settings: { lr: 5e-2 } } },
  { optimizer: { name: 'rmsprop', lr: 1e-4 }, teleport: { epoch: 0, settings: { lr: 5e-2 } } },
  { optimizer: { name: 'adam', lr: 1e-4 }, teleport: { epoch: 0, settings: { lr: 5e-2 } } },
] as const;

/** Appendix G.2's numbers read as optimizer rates (AdaGrad 1e-4, the others 5e-2): experiments/fig5-paper.json. */
export const PAPER_MNIST_OPTIMIZERS = [
  { optimizer: { name: 'adagrad', lr: 1e-4 } },
  { optimizer: { name: 'momentum', lr: 5e-2, momentum: 0.9 } },
  { optimizer: { name: 'rmsprop', lr: 5e-2 } },
  { optimizer: { name: 'adam', lr: 5e-2 } },
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
    /** Paired runs (model ids) per optimizer; every arm trains the same ones. */
    runs: PositiveInt,
    optimizers: arrayOf(strict({ optimizer: OptimizerConfig, teleport: TeleportSchedule }, 'MnistOptimizer'), { min: 1 }),
    arms: arrayOf(MnistArm, { min: 1 }),
    /** Epochs (1-based) of the tables of paired differences, next to the last one reached. */
    tableEpochs: arrayOf(PositiveInt),
  },
  'OptimizersMnistConfig',
);
export type MnistConfig = t.TypeOf<typeof MnistShape>;
export type MnistOptimizer = MnistConfig['optimizers'][number];

/** The paper's sizes (Appendix G.2) with the reference code's rates and schedule; experiments/optimizers-mnist-full.json states them. */
const MNIST_DEFAULTS = {
  seed: 0,
  out: 'logs/optimizers-mnist',
  data: { name: 'mnist', trainSize: 50_000, validationSize: 0 },
  dims: [784, 16, 10, 10],
  slope: DEFAULT_LEAKY_RELU_SLOPE,
  batchSize: 20,
  epochs: 40,
  runs: 5,
  optimizers: structuredClone(REFERENCE_MNIST_OPTIMIZERS),
  arms: [...ARMS],
  tableEpochs: [1, 5, 10, 40],
};

/** Config checks across fields, reported at the field. */
function mnistProblems(c: MnistConfig): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  if (new Set(c.arms).size !== c.arms.length) out.push({ path: 'arms', message: `arms repeat: ${c.arms.join(', ')}` });
  if (c.arms.includes('random') && !c.arms.includes('teleport-reset') && !c.arms.includes('teleport')) {
    out.push({ path: 'arms', message: "'random' draws elements as far from I as a teleport: it needs 'teleport-reset' or 'teleport' among the arms" });
  }
  const perEpoch = Math.ceil(c.data.trainSize / c.batchSize);
  c.optimizers.forEach((o, i) => {
    if (o.teleport.epoch >= c.epochs) out.push({ path: `optimizers.${i}.teleport.epoch`, message: `expected an epoch below epochs (${c.epochs}), got ${o.teleport.epoch}` });
    if (o.teleport.count > perEpoch) out.push({ path: `optimizers.${i}.teleport.count`, message: `expected at most the ${perEpoch} steps of an epoch, got ${o.teleport.count}` });
    if (o.teleport.hiddenUpdate === 'reference' && o.teleport.settings.objective !== 'gradNorm') {
      out.push({ path: `optimizers.${i}.teleport.hiddenUpdate`, message: `'reference' implements the gradNorm objective only, got objective ${o.teleport.settings.objective}` });
    }
    if (o.teleport.batchSize > c.data.trainSize) {
      out.push({ path: `optimizers.${i}.teleport.batchSize`, message: `expected at most data.trainSize (${c.data.trainSize}), got ${o.teleport.batchSize}` });
    }
  });
  return out;
}

const MnistChecked = refineConfig(MnistShape, mnistProblems);

export const MnistConfig: t.Type<MnistConfig, unknown, unknown> = withDefaults(
  MnistChecked,
  MNIST_DEFAULTS as unknown as DeepPartial<t.OutputOf<typeof MnistShape>>,
);
registerConfig('optimizers-mnist', MnistConfig, 'symtele run optimizers-mnist: optimizers with/without teleport on MNIST (Fig. 5, 13)');
registerPreflight('optimizers-mnist', outDirPreflight);

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

registerPreflight('teleport-integration', outDirPreflight);