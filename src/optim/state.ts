/**
 * State of the hand-designed optimizers: a plain value, so it can be checkpointed (tensors and
 * numbers only) and transported through a group action (map every tensor).
 *
 *     { step: 3, slots: { expAvg: [m0, m1], expAvgSq: [v0, v1] } }
 *
 * `step` counts the completed steps (torch's `state['step']`). Each slot holds one tensor per
 * parameter, aligned with the parameter list and of the same shape. Slot names are torch's
 * state keys in camelCase (see SLOTS). An optimizer without per-parameter state (plain SGD)
 * has no slots.
 *
 * Ownership: the state's tensors belong to whoever holds the state. `step` returns a new state
 * whose slot tensors are all new; dispose the old one with `disposeState` when done with it.
 */
import type * as tf from '@tensorflow/tfjs';

/** What each slot is, and the name of the same buffer in torch's optimizer state. */
export const SLOTS = {
  /**
   * SGD / RMSprop momentum buffer: a running sum of (preconditioned) gradients. SGD's starts
   * as zeros and is replaced by the first step's gradient (torch creates it then).
   */
  momentumBuffer: { torch: 'momentum_buffer', moment: 1 },
  /** Adagrad: the sum of squared gradients G_t (plus the initial accumulator value). */
  sum: { torch: 'sum', moment: 2 },
  /** RMSprop: running average of squared gradients. */
  squareAvg: { torch: 'square_avg', moment: 2 },
  /** Centered RMSprop: running average of gradients. */
  gradAvg: { torch: 'grad_avg', moment: 1 },
  /** Adam: first moment. */
  expAvg: { torch: 'exp_avg', moment: 1 },
  /** Adam: second moment. */
  expAvgSq: { torch: 'exp_avg_sq', moment: 2 },
  /** AMSGrad: running maximum of the second moment. */
  maxExpAvgSq: { torch: 'max_exp_avg_sq', moment: 2 },
} as const;

export type SlotName = keyof typeof SLOTS;

export interface OptimizerState {
  /** Completed steps. */
  readonly step: number;
  /** Per-parameter tensors by slot; each array is aligned with the parameters. */
  readonly slots: { readonly [K in SlotName]?: readonly tf.Tensor[] };
}

/** Where a state tensor sits: its slot and the index of its parameter. */
export interface SlotRef {
  readonly slot: SlotName;
  readonly index: number;
}

/** The slot names present in a state, in SLOTS order (deterministic for checkpoints). */
export function slotNames(state: OptimizerState): SlotName[] {
  return (Object.keys(SLOTS) as SlotName[]).filter((k) => state.slots[k] !== undefined);
}

/** Every tensor of a state, slot by slot (SLOTS order), parameter by parameter. */
export function stateTensors(state: OptimizerState): tf.Tensor[] {
  return slotNames(state).flatMap((k) => [...state.slots[k]!]);
}

/** Every tensor of a state with its place, in the order of `stateTensors`. */
export function stateEntries(state: OptimizerState): Array<SlotRef & { tensor: tf.Tensor }> {
  return slotNames(state).flatMap((slot) => state.slots[slot]!.map((tensor, index) => ({ slot, index, tensor })));
}

/**
 * A state's tensors by name for a checkpoint: `<prefix><slot>/<names[i]>`, `names` one per
 * parameter (their indices, or the parameters' own names). `stateFromNamed` reads them back.
 */
export function namedState(state: OptimizerState, names: readonly string[], prefix = ''): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const { slot, index, tensor } of stateEntries(state)) out[`${prefix}${slot}/${names[index]}`] = tensor;
  return out;
}

/** The state of `step` whose tensors `namedState` wrote into `t` (its slots are those found). */
export function stateFromNamed(t: Readonly<Record<string, tf.Tensor>>, names: readonly string[], step: number, prefix = '', where = 'checkpoint'): OptimizerState {
  const slots: { [K in SlotName]?: tf.Tensor[] } = {};
  for (const slot of Object.keys(SLOTS) as SlotName[]) {
    if (!t[`${prefix}${slot}/${names[0]}`]) continue;
    slots[slot] = names.map((n) => {
      const x = t[`${prefix}${slot}/${n}`];
      if (!x) throw new Error(`${where}: no tensor "${prefix}${slot}/${n}"`);
      return x;
    });
  }
  return { step, slots };
}

/**
 * A new state with every tensor replaced by `f(tensor, {slot, index})` and the same step.
 * Pure: nothing is disposed, the input state stays valid. `index` is the parameter's position,
 * so `f` can apply a layer's group element; `SLOTS[slot].moment` tells first-moment buffers
 * (transported like gradients) from second-moment ones.
 */
export function mapState(state: OptimizerState, f: (tensor: tf.Tensor, ref: SlotRef) => tf.Tensor): OptimizerState {
  const slots: { [K in SlotName]?: tf.Tensor[] } = {};
  for (const slot of slotNames(state)) slots[slot] = state.slots[slot]!.map((x, index) => f(x, { slot, index }));
  return { step: state.step, slots };
}

/** A slot's tensors; throws when the optimizer keeps no such slot. */
export function getSlot(state: OptimizerState, slot: SlotName): readonly tf.Tensor[] {
  const s = state.slots[slot];
  if (s === undefined) {
    const have = slotNames(state);
    throw new Error(
      `optimizer state has no "${slot}" slot (it has ${have.length > 0 ? have.join(', ') : 'no slots'})`,
    );
  }
  return s;
}

/**
 * Adagrad's accumulator G_t (torch's `state['sum']`): per parameter, the initial accumulator
 * value plus the sum of the squared (weight-decayed) gradients so far, elementwise; Adagrad
 * divides by sqrt(G_t) + eps. The paper's AdaGrad norm uses A = (eps I + diag(G_t))^(-1/2).
 * Throws for the state of any other optimizer. The tensors are the state's own: do not
 * dispose them.
 */
export function adagradAccumulator(state: OptimizerState): readonly tf.Tensor[] {
  return getSlot(state, 'sum');
}

/** Dispose every tensor of a state. */
export function disposeState(state: OptimizerState): void {
  for (const x of stateTensors(state)) x.dispose();
}
