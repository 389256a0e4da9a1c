/**
 * The state of a lockstep of classifiers (`ClassifierState` with a hand-designed optimizer's
 * state) with whatever progress record the experiment keeps beside it (JSON): a run killed at
 * any moment resumes from the last save and gives the same numbers as an uninterrupted one,
 * since the batch order depends only on (seed, model, epoch).
 *
 * Stored in the slotted checkpoint format of src/run/checkpoint.ts (a directory; each save a new
 * slot, the one before dropped once it is committed). The record carries a key of the config
 * that produced it: a directory of another config is not resumed from, and one written on
 * another backend is an error (see backend/resume-check.ts). The single-file format of before
 * (`<dir>.bin`) is refused, naming the file.
 */
import * as tf from '@tensorflow/tfjs';
import { checkpointBackend, checkResumeBackend } from '../backend/resume-check.js';
import { hasSlot, loadNewest, nextSlot, refuseSingleFile, saveSlot, type SlotReader } from '../run/checkpoint.js';
import { decodeTensors } from '../run/tensors.js';
import { namedState, stateFromNamed, type OptimizerState } from '../optim/state.js';
import type { ClassifierState } from './classifier.js';
import type { Params } from '../nn/lstm.js';

const FORMAT = 'symtele-lockstep';
/** 1: one wire file (run/tensors.ts packWire). 2: a slotted checkpoint directory. */
const VERSION = 2;

interface LockstepRecord<P> {
  format: typeof FORMAT;
  version: number;
  key: string;
  epoch: number;
  models: number[];
  step: number;
  layers: number;
  backend: string;
  progress: P;
}

export interface SavedLockstep<P> {
  state: ClassifierState<OptimizerState>;
  progress: P;
}

function named(state: ClassifierState<OptimizerState>): Params {
  const out: Params = {};
  state.params.forEach((p, i) => (out[`param/${i}`] = p));
  return { ...out, ...namedState(state.opt, state.params.map((_, i) => String(i))) };
}

/** Save the lockstep's state and progress in `dir` (a kill leaves the previous save or this one). */
export function saveLockstep<P>(dir: string, key: string, state: ClassifierState<OptimizerState>, progress: P): void {
  const record: LockstepRecord<P> = { format: FORMAT, version: VERSION, key, epoch: state.epoch, models: [...state.models], step: state.opt.step, layers: state.params.length, backend: checkpointBackend(), progress };
  saveSlot(dir, nextSlot(dir), Object.entries(named(state)), record, 1);
}

/**
 * The lockstep saved in `dir` (new tensors, owned by the caller), or undefined when there is
 * none or it was saved for another config (`key`). A damaged save, or one written on another
 * backend, is an error naming it.
 */
export function loadLockstep<P>(dir: string, key: string): SavedLockstep<P> | undefined {
  refuseSingleFile(`${dir}.bin`, dir);
  if (!hasSlot(dir)) return undefined;
  return loadNewest(dir, { format: FORMAT, reads: [VERSION] }, (s: SlotReader<LockstepRecord<P>>) => read(s, key)).value;
}

function read<P>({ slot, manifest: h, tensors }: SlotReader<LockstepRecord<P>>, key: string): SavedLockstep<P> | undefined {
  if (h.key !== key) return undefined;
  checkResumeBackend(slot, h.backend);
  const t = decodeTensors(tensors(), slot);
  const get = (name: string) => {
    const x = t[name];
    if (!x) throw new Error(`${slot}: no tensor "${name}"`);
    return x;
  };
  const params = Array.from({ length: h.layers }, (_, i) => get(`param/${i}`) as tf.Tensor3D);
  const opt = stateFromNamed(t, params.map((_, i) => String(i)), h.step, '', slot);
  return { state: { params, opt, epoch: h.epoch, models: h.models }, progress: h.progress };
}
