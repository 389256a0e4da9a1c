/**
 * The state of a lockstep of classifiers (`ClassifierState` with a hand-designed optimizer's
 * state) in one file, with whatever progress record the experiment keeps beside it (JSON): a
 * run killed at any moment resumes from the last file and gives the same numbers as an
 * uninterrupted one, since the batch order depends only on (seed, model, epoch).
 *
 * Format: the wire bytes of `meta/wire.ts` (named float32 tensors + a JSON header), written
 * atomically; the header carries a key of the config that produced it, and a file of another
 * config is not resumed from, and a file written on another backend is an error (see
 * backend/resume-check.ts).
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { checkpointBackend, checkResumeBackend } from '../backend/resume-check.js';
import { writeFileAtomic } from '../run/atomic.js';
import { encodeTensors, decodeTensors, packWire, unpackWire } from '../run/tensors.js';
import { namedState, stateFromNamed, type OptimizerState } from '../optim/state.js';
import type { ClassifierState } from './classifier.js';
import type { Params } from '../nn/lstm.js';

const FORMAT = 'symtele-lockstep';

interface Header<P> {
  format: typeof FORMAT;
  key: string;
  epoch: number;
  models: number[];
  step: number;
  layers: number;
  /** The backend that wrote it (absent in files from before it was recorded). */
  backend?: string;
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

/** Write the lockstep's state and progress (atomic: a kill leaves the previous file or this one). */
export function saveLockstep<P>(file: string, key: string, state: ClassifierState<OptimizerState>, progress: P): void {
  const header: Header<P> = { format: FORMAT, key, epoch: state.epoch, models: [...state.models], step: state.opt.step, layers: state.params.length, backend: checkpointBackend(), progress };
  writeFileAtomic(file, packWire(encodeTensors(named(state)), header));
}

/**
 * The lockstep in `file` (new tensors, owned by the caller), or undefined when there is none or
 * it was written for another config (`key`). A damaged file, or one written on another
 * backend, is an error naming it.
 */
export function loadLockstep<P>(file: string, key: string): SavedLockstep<P> | undefined {
  if (!fs.existsSync(file)) return undefined;
  const { wire, extra } = unpackWire(fs.readFileSync(file), file);
  const h = extra as Header<P>;
  if (h?.format !== FORMAT) throw new Error(`${file}: not a ${FORMAT} file`);
  if (h.key !== key) return undefined;
  checkResumeBackend(file, h.backend);
  const t = decodeTensors(wire, file);
  const get = (name: string) => {
    const x = t[name];
    if (!x) throw new Error(`${file}: no tensor "${name}"`);
    return x;
  };
  const params = Array.from({ length: h.layers }, (_, i) => get(`param/${i}`) as tf.Tensor3D);
  const opt = stateFromNamed(t, params.map((_, i) => String(i)), h.step, '', file);
  // the first version of the format kept the progress fields in the header itself
  const { format: _f, key: _k, epoch: _e, models: _m, step: _s, layers: _l, backend: _b, ...inline } = h;
  const progress = 'progress' in h ? h.progress : (inline as unknown as P);
  return { state: { params, opt, epoch: h.epoch, models: h.models }, progress };
}
