/**
 * One trained model per checkpoint directory (`model-<id>/`, in the slotted format of
 * src/run/checkpoint.ts): its weights per layer, its loss history and a fingerprint of the
 * settings that produced it, so a study can resume and its metrics can be recomputed without
 * retraining. The single-file format of before (`model-<id>.json`) is refused, naming the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, hasSlot, loadNewest, nextSlot, refuseSingleFile, saveSlot, type SlotReader } from '../run/checkpoint.js';

export interface ModelCheckpoint {
  id: number;
  dims: number[];
  /** What produced the model (dataset, sizes, optimizer, seed): resume checks it matches. */
  fingerprint: string;
  /** The backend that trained it (absent in checkpoints from before it was recorded). */
  backend?: string;
  trainLoss: number[];
  testLoss: number[];
  seconds: number[];
  weights: Float32Array[];
}

const FORMAT = 'symtele-model';
/** 1: one JSON file, base64 weights. 2: a slotted checkpoint directory. */
const VERSION = 2;

type ModelRecord = Omit<ModelCheckpoint, 'weights'> & { format: typeof FORMAT; version: number };

export const checkpointPath = (dir: string, id: number) => path.join(dir, `model-${String(id).padStart(4, '0')}`);

export function saveModel(dir: string, c: ModelCheckpoint): void {
  const { weights, ...rest } = c;
  const at = checkpointPath(dir, c.id);
  saveSlot(at, nextSlot(at), weights.map((w, i) => [`layer/${i}`, w]), { format: FORMAT, version: VERSION, ...rest }, 1);
}

/** Whether model `id` has a checkpoint in `dir` (an error for one of the format before). */
function saved(dir: string, id: number): boolean {
  const at = checkpointPath(dir, id);
  refuseSingleFile(`${at}.json`, at);
  return hasSlot(at);
}

/** The checkpoint of model `id`, or null when there is none. */
export function loadModel(dir: string, id: number): ModelCheckpoint | null {
  if (!saved(dir, id)) return null;
  return loadNewest(checkpointPath(dir, id), { format: FORMAT, reads: [VERSION] }, read).value;
}

function read({ slot, manifest, tensors }: SlotReader<ModelRecord>): ModelCheckpoint {
  const { format: _f, version: _v, tensors: _t, bytes: _b, sha256: _s, ...c } = manifest;
  const { layout, data } = tensors();
  const weights = c.dims.slice(0, -1).map((d, i) => {
    const e = layout.find((x) => x.name === `layer/${i}`);
    if (e?.length !== d * c.dims[i + 1]!) throw new CheckpointError(slot, `layer ${i} has ${e?.length} weights, expected ${d * c.dims[i + 1]!}`, false);
    return data.slice(e.offset, e.offset + e.length);
  });
  return { ...c, weights };
}

/** Ids 0..n-1 that have a checkpoint in dir. */
export function savedModels(dir: string, n: number): number[] {
  if (!fs.existsSync(dir)) return [];
  return [...Array(n).keys()].filter((i) => saved(dir, i));
}
