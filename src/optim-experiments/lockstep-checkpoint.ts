/**
 * The state of one lockstep group of Figure 5's arms after an epoch, in one file: every model's
 * weights and optimizer state (batched tensors) and the run records so far, so a run killed at
 * any moment resumes at the last finished epoch and gives the same numbers as an uninterrupted
 * one (the batch order and the teleports depend only on (seed, model, epoch, k)).
 *
 * Format: the wire bytes of `meta/wire.ts` (named float32 tensors + a JSON header), written
 * atomically; the header carries a key of the config that produced it, and a file of another
 * config is not resumed from.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../logging/atomic.js';
import { encodeTensors, decodeTensors, packWire, unpackWire } from '../meta/wire.js';
import { SLOTS, type OptimizerState, type SlotName } from '../optim/state.js';
import type { ClassifierState } from '../train/classifier.js';
import type { Params } from '../nn/lstm.js';

/** What a lockstep group carries from one epoch to the next besides its tensors. */
export interface LockstepProgress<R> {
  /** The run records of the group's slots, in slot order. */
  runs: R[];
  /** Teleport seconds per slot. */
  teleportSeconds: number[];
  /** ||g - I|| per layer of the random arm's source teleports: [model, per k, per layer]. */
  distances: Array<[number, number[][]]>;
}

export interface LockstepSnapshot<R> extends LockstepProgress<R> {
  state: ClassifierState<OptimizerState>;
}

const FORMAT = 'symtele-lockstep';

interface Header<R> extends LockstepProgress<R> {
  format: typeof FORMAT;
  key: string;
  epoch: number;
  models: number[];
  step: number;
  layers: number;
}

function named(state: ClassifierState<OptimizerState>): Params {
  const out: Params = {};
  state.params.forEach((p, i) => (out[`param/${i}`] = p));
  for (const [slot, ts] of Object.entries(state.opt.slots)) ts!.forEach((t, i) => (out[`${slot}/${i}`] = t));
  return out;
}

/** Write the group's state after an epoch (atomic: a kill leaves the previous file or this one). */
export function saveLockstep<R>(file: string, key: string, snap: LockstepSnapshot<R>): void {
  const { state, ...progress } = snap;
  const header: Header<R> = { format: FORMAT, key, epoch: state.epoch, models: [...state.models], step: state.opt.step, layers: state.params.length, ...progress };
  writeFileAtomic(file, packWire(encodeTensors(named(state)), header));
}

/**
 * The snapshot in `file` (new tensors, owned by the caller), or undefined when there is none or
 * it was written for another config (`key`). A damaged file is an error naming it.
 */
export function loadLockstep<R>(file: string, key: string): LockstepSnapshot<R> | undefined {
  if (!fs.existsSync(file)) return undefined;
  const { wire, extra } = unpackWire(fs.readFileSync(file), file);
  const h = extra as Header<R>;
  if (h?.format !== FORMAT) throw new Error(`${file}: not a ${FORMAT} file`);
  if (h.key !== key) return undefined;
  const t = decodeTensors(wire, file);
  const params = Array.from({ length: h.layers }, (_, i) => {
    const p = t[`param/${i}`];
    if (!p) throw new Error(`${file}: no tensor "param/${i}"`);
    return p as tf.Tensor3D;
  });
  const slots: { [K in SlotName]?: tf.Tensor[] } = {};
  for (const slot of Object.keys(SLOTS) as SlotName[]) {
    if (!t[`${slot}/0`]) continue;
    slots[slot] = params.map((_, i) => {
      const x = t[`${slot}/${i}`];
      if (!x) throw new Error(`${file}: no tensor "${slot}/${i}"`);
      return x;
    });
  }
  const { runs, teleportSeconds, distances } = h;
  return { state: { params, opt: { step: h.step, slots }, epoch: h.epoch, models: h.models }, runs, teleportSeconds, distances };
}
