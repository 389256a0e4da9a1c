/**
 * Optimizers: the shared interface, the hand-designed optimizers of torch.optim (sgd,
 * momentum, adagrad, rmsprop, adam) and helpers over their state.
 */
export type { Optimizer } from './types.js';
export { optimizer, type HandOptimizer } from './hand.js';
export {
  OptimizerConfig,
  SgdConfig,
  MomentumConfig,
  AdagradConfig,
  RmspropConfig,
  AdamConfig,
  resolveOptimizerConfig,
  type OptimizerInput,
  type OptimizerName,
  type OptimizerConfigOf,
} from './config.js';
export {
  SLOTS,
  adagradAccumulator,
  disposeState,
  getSlot,
  mapState,
  slotNames,
  stateEntries,
  stateTensors,
  type OptimizerState,
  type SlotName,
  type SlotRef,
} from './state.js';
export {
  withTeleport,
  stepWithTeleport,
  disposeTeleportingState,
  type TeleportPolicy,
  type TeleportingOptimizer,
  type TeleportingState,
  type TeleportEvent,
  type StatePolicy,
} from './teleporting.js';
