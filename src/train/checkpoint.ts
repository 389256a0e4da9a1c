/**
 * One trained model per file (atomic JSON): its weights as base64 float32 per layer, its loss
 * history and a fingerprint of the settings that produced it, so a study can resume and its
 * metrics can be recomputed without retraining.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../run/atomic.js';

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

const encode = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function decode(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export const checkpointPath = (dir: string, id: number) => path.join(dir, `model-${String(id).padStart(4, '0')}.json`);

export function saveModel(dir: string, c: ModelCheckpoint): void {
  writeJsonAtomic(checkpointPath(dir, c.id), { ...c, weights: c.weights.map(encode) });
}

/** The checkpoint of model `id`, or null when there is none. */
export function loadModel(dir: string, id: number): ModelCheckpoint | null {
  const file = checkpointPath(dir, id);
  if (!fs.existsSync(file)) return null;
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<ModelCheckpoint, 'weights'> & { weights: string[] };
  const weights = raw.weights.map(decode);
  raw.dims.slice(0, -1).forEach((d, i) => {
    if (weights[i]?.length !== d * raw.dims[i + 1]!) throw new Error(`${file}: layer ${i} has ${weights[i]?.length} weights, expected ${d * raw.dims[i + 1]!}`);
  });
  return { ...raw, weights };
}

/** Ids 0..n-1 that have a checkpoint in dir. */
export function savedModels(dir: string, n: number): number[] {
  return [...Array(n).keys()].filter((i) => fs.existsSync(checkpointPath(dir, i)));
}
