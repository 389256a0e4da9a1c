/**
 * Teleportation inside an optimizer: `withTeleport(optimizer, policy)` is an optimizer with the
 * same update rule plus a schedule of teleports, each moving the parameters along the symmetry
 * group (the toolkit's `teleport`) and deciding what happens to the optimizer's state.
 *
 *     const opt = withTeleport(optimizer({ name: 'adagrad', lr: 1e-2 }), {
 *       at: [0], data: () => batches, teleport: { objective: 'adagradNorm', steps: 10, lr: 7.5e-3, loss: 'mse' },
 *     });
 *     let state = opt.init(params);
 *     for (...) {
 *       const grads = ...gradient at params...;
 *       ({ params, state } = opt.step(params, grads, state));   // teleports inside when due
 *     }
 *
 * A teleport is due before the gradient of the next step is computed, so the step that
 * follows uses the gradient at the teleported point. `step` runs the update and then, when a
 * teleport is due before the next step, the teleport: a loop that only calls `step` gets every
 * scheduled teleport but one scheduled before the very first step (`at: [0]`), which no step
 * can run before its gradient exists. `stepWithTeleport` runs that one too (the same numbers
 * otherwise); `due` and `teleport` stay available for loops that teleport by hand.
 *
 * What happens to the state (`state` policy):
 * - 'transport' (default): first-moment buffers (SGD/RMSprop momentum, Adam's exp_avg,
 *   centered RMSprop's grad_avg) are velocities of the parameters, so they are pushed forward
 *   with the derivative of each group step (`pushForward`): after the teleport the optimizer
 *   keeps moving in the image of the direction it was moving in. Second-moment buffers are
 *   per-coordinate scale statistics that a coordinate-mixing group element has no exact image
 *   for; they are kept as they are.
 * - 'keep': every buffer kept as it is (the paper's "teleport parameters but not momentum").
 * - 'reset': a fresh state, as from `init` (the paper's "reset momentum to 0").
 * For AdaGrad, the objective 'adagradNorm' uses the optimizer's own accumulator G_t.
 */
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from './types.js';
import type { HandOptimizer } from './hand.js';
import { SLOTS, adagradAccumulator, disposeState, mapState, slotNames, type OptimizerState, type SlotName } from './state.js';
import { teleport, type TeleportOptions } from '../teleport/teleport.js';
import type { Batch } from '../teleport/objectives.js';

export type StatePolicy = 'transport' | 'keep' | 'reset';

export interface TeleportPolicy {
  /** Completed-step counts before whose next step a teleport runs (0: before the first step). */
  at?: number[];
  /** Also teleport every `every` steps (before steps every, 2·every, ...). */
  every?: number;
  /** The data of the k-th teleport (k = 0, 1, ...): the rounds run on each batch in turn. */
  data: (k: number) => Batch[];
  /** The teleport itself (objective, steps, lr, direction, action kind, loss, ...). */
  teleport: Omit<TeleportOptions, 'batches' | 'tangents' | 'accumulator'>;
  state?: StatePolicy;
}

export interface TeleportEvent {
  /** Completed optimizer steps when it ran. */
  atStep: number;
  seconds: number;
  objectiveBefore: number;
  objectiveAfter: number;
  lossBefore: number;
  lossAfter: number;
  rounds: number;
  /** Per moving layer, ||g - I||_F of the teleport's whole group element. */
  distanceFromIdentity: number[];
}

export interface TeleportingState {
  inner: OptimizerState;
  /** Steps done so far (the schedule's clock: a reset restarts the inner optimizer's own count). */
  steps: number;
  /** Teleports done so far. */
  teleports: number;
  /** The step count at which the last teleport ran (-1: none), so a due check is idempotent. */
  lastTeleportStep: number;
  /** What the last teleport did (absent before the first). */
  lastEvent?: TeleportEvent;
}

export interface TeleportingOptimizer extends Optimizer<TeleportingState> {
  readonly inner: HandOptimizer;
  readonly policy: TeleportPolicy;
  /** Is a teleport scheduled before the next step? */
  due(state: TeleportingState): boolean;
  /** Teleport now; returns new parameters and state (inputs untouched) and what happened. */
  teleport(params: tf.Tensor[], state: TeleportingState): { params: tf.Tensor[]; state: TeleportingState; event: TeleportEvent };
}

const isFirstMoment = (slot: SlotName) => SLOTS[slot].moment === 1;

export function withTeleport(opt: HandOptimizer, policy: TeleportPolicy): TeleportingOptimizer {
  const statePolicy = policy.state ?? 'transport';
  if (policy.every !== undefined && !(Number.isInteger(policy.every) && policy.every > 0)) {
    throw new Error(`withTeleport: every must be a positive integer, got ${policy.every}`);
  }
  const at = new Set(policy.at ?? []);

  const due = (s: TeleportingState) => {
    const k = s.steps;
    if (s.lastTeleportStep === k) return false;
    return at.has(k) || (policy.every !== undefined && k > 0 && k % policy.every === 0);
  };

  const doTeleport = (params: tf.Tensor[], s: TeleportingState) => {
    const batches = policy.data(s.teleports);
    if (batches.length === 0) throw new Error('withTeleport: the policy gave no data batches for the teleport');
    const slotsToCarry = statePolicy === 'transport' ? slotNames(s.inner).filter(isFirstMoment) : [];
    const tangents = slotsToCarry.map((slot) => [...s.inner.slots[slot]!]);
    const accumulator = policy.teleport.objective === 'adagradNorm' ? [...adagradAccumulator(s.inner)] : undefined;
    const eps = policy.teleport.eps ?? (opt.config as { eps?: number }).eps;
    const t0 = performance.now();
    const r = teleport(params as tf.Tensor2D[], batches[0].x, batches[0].target, {
      ...policy.teleport,
      eps,
      accumulator,
      batches: batches.slice(1),
      tangents,
    });
    const seconds = (performance.now() - t0) / 1000;
    let inner: OptimizerState;
    if (statePolicy === 'reset') inner = opt.init(r.weights);
    else {
      inner = mapState(s.inner, (t, ref) => {
        const i = slotsToCarry.indexOf(ref.slot);
        return i >= 0 ? r.tangents[i][ref.index] : tf.clone(t);
      });
    }
    const event: TeleportEvent = {
      atStep: s.steps,
      seconds,
      objectiveBefore: r.objectiveBefore,
      objectiveAfter: r.objectiveAfter,
      lossBefore: r.lossBefore,
      lossAfter: r.lossAfter,
      rounds: r.rounds.length,
      distanceFromIdentity: r.distanceFromIdentity,
    };
    if (statePolicy === 'reset') tf.dispose(r.tangents.flat());
    return { params: r.weights as tf.Tensor[], state: { inner, steps: s.steps, teleports: s.teleports + 1, lastTeleportStep: s.steps, lastEvent: event }, event };
  };

  return {
    name: `${opt.name}+teleport`,
    inner: opt,
    policy,
    init: (params) => ({ inner: opt.init(params), steps: 0, teleports: 0, lastTeleportStep: -1 }),
    step: (params, grads, s) => {
      const r = opt.step(params, grads, s.inner);
      const stepped: TeleportingState = { ...s, inner: r.state, steps: s.steps + 1 };
      if (!due(stepped)) return { params: r.params, state: stepped };
      // the update's outputs are intermediate here: the caller gets the teleported ones
      try {
        const t = doTeleport(r.params, stepped);
        return { params: t.params, state: t.state };
      } finally {
        tf.dispose(r.params);
        disposeState(r.state);
      }
    },
    due,
    teleport: doTeleport,
  };
}

/** Dispose every tensor of a teleporting optimizer's state. */
export function disposeTeleportingState(s: TeleportingState): void {
  disposeState(s.inner);
}

/**
 * One training step with teleportation: teleport first when one is due (only a teleport before
 * the first step is still due here: `step` runs the others at the end of the step before), then
 * take the gradient at the (possibly teleported) parameters and step. Disposes the superseded
 * params and state; returns the event of a teleport that ran in this call.
 */
export function stepWithTeleport(
  opt: TeleportingOptimizer,
  params: tf.Tensor[],
  state: TeleportingState,
  gradients: (params: tf.Tensor[]) => tf.Tensor[],
): { params: tf.Tensor[]; state: TeleportingState; event?: TeleportEvent } {
  let event: TeleportEvent | undefined;
  if (opt.due(state)) {
    const t = opt.teleport(params, state);
    tf.dispose(params);
    disposeTeleportingState(state);
    ({ params, state, event } = t);
  }
  const grads = gradients(params);
  const next = opt.step(params, grads, state);
  tf.dispose([...params, ...grads]);
  disposeTeleportingState(state);
  // `state` is already past a teleport that ran above; one more inside `step` is the latest event
  if (next.state.teleports > state.teleports) event = next.state.lastEvent;
  return { ...next, event };
}
