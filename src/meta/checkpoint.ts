// Checkpoints of meta-training: meta-parameters, outer (Adam) moments per module, best-so-far parameters, the
// step, the RNG position and the config. Two files per checkpoint directory: tensors.bin (raw
// float32) and manifest.json (layout, config, counters and the SHA-256 of tensors.bin), each
// written atomically, the manifest last. Loading checks format, config and hash, so a torn,
// corrupt or foreign checkpoint is a clear error rather than different numbers.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomic } from '../logging/atomic.js';
import { restoreStream, type StreamState } from '../rng/index.js';
import type { Params } from '../nn/lstm.js';
import type { SlotName } from '../optim/state.js';
import type { TaskConfig } from '../tasks/registry.js';
import type { OuterStates } from './learner.js';
import { flattenMeta, unflattenMeta, type MetaParams } from './params.js';
import type { MetaTrainState, TrainConfig } from './train.js';
import type { VariantConfig } from './variant.js';

export const CHECKPOINT_FORMAT = 'symtele-meta-checkpoint';
/** 2: meta-parameters namespaced by module, outer optimizer state per module. */
export const CHECKPOINT_VERSION = 2;

export class CheckpointError extends Error {
  constructor(dir: string, why: string) {
    super(`checkpoint ${dir}: ${why}`);
    this.name = 'CheckpointError';
  }
}

/** What must be equal for a resume to continue the same run. */
export interface CheckpointConfig {
  variant: VariantConfig;
  train: TrainConfig;
  task: TaskConfig;
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

interface Manifest {
  format: string;
  version: number;
  config: CheckpointConfig;
  batchesDone: number;
  /** Outer optimizer steps per module. */
  outerSteps: Record<string, number>;
  bestValLoss: number | null;
  windowsSkipped: number;
  order: StreamState;
  perm: number[];
  tensors: TensorEntry[];
  bytes: number;
  sha256: string;
}

/** Outer states as "module/slot/name" tensors (slot tensors are aligned with the sorted names). */
function flattenOuter(o: OuterStates, meta: MetaParams): Params {
  const out: Params = {};
  for (const [mod, s] of Object.entries(o)) {
    const names = Object.keys(meta[mod]).sort();
    for (const [slot, ts] of Object.entries(s.slots)) ts!.forEach((t, i) => (out[`${mod}/${slot}/${names[i]}`] = t));
  }
  return out;
}

function unflattenOuter(p: Params, steps: Record<string, number>, meta: MetaParams): OuterStates {
  const out: OuterStates = {};
  for (const mod of Object.keys(meta)) {
    const names = Object.keys(meta[mod]).sort();
    const slots: { [K in SlotName]?: tf.Tensor[] } = {};
    for (const key of Object.keys(p).filter((k) => k.startsWith(`${mod}/`))) {
      const slot = key.split('/')[1] as SlotName;
      slots[slot] ??= names.map((n) => p[`${mod}/${slot}/${n}`]);
    }
    out[mod] = { step: steps[mod] ?? 0, slots };
  }
  return out;
}

function collect(st: MetaTrainState): [string, tf.Tensor][] {
  const out: [string, tf.Tensor][] = [];
  const add = (group: string, p: Params | null) => {
    if (p) for (const k of Object.keys(p).sort()) out.push([`${group}/${k}`, p[k]]);
  };
  add('meta', flattenMeta(st.meta));
  add('outer', flattenOuter(st.outer, st.meta));
  add('best', st.bestMeta ? flattenMeta(st.bestMeta) : null);
  return out;
}

/**
 * Tensors are streamed to a temporary file one at a time (hashing as they go) and renamed into
 * place: a full-size host copy of every tensor at once would add ~100 MB to peak memory.
 */
export function saveCheckpoint(dir: string, st: MetaTrainState, config: CheckpointConfig): void {
  fs.mkdirSync(dir, { recursive: true });
  const binPath = path.join(dir, 'tensors.bin');
  const tmp = `${binPath}.${process.pid}.tmp`;
  const hash = createHash('sha256');
  const tensors: TensorEntry[] = [];
  let off = 0;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const [name, t] of collect(st)) {
      const data = t.dataSync() as Float32Array;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      fs.writeSync(fd, bytes);
      hash.update(bytes);
      tensors.push({ name, shape: t.shape, offset: off, length: t.size });
      off += t.size;
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, binPath);
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config,
    batchesDone: st.batchesDone,
    outerSteps: Object.fromEntries(Object.entries(st.outer).map(([k, o]) => [k, o.step])),
    bestValLoss: Number.isFinite(st.bestValLoss) ? st.bestValLoss : null,
    windowsSkipped: st.windowsSkipped,
    order: st.order.state(),
    perm: st.perm,
    tensors,
    bytes: off * 4,
    sha256: hash.digest('hex'),
  };
  writeJsonAtomic(path.join(dir, 'manifest.json'), manifest);
}

/** Paths where two configs differ ('' if equal). */
function firstDifference(a: unknown, b: unknown, at = 'config'): string {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) return at;
  if (a && typeof a === 'object') {
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    for (const k of new Set([...ka, ...kb])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
    return '';
  }
  return a === b ? '' : at;
}

export const hasCheckpoint = (dir: string): boolean => fs.existsSync(path.join(dir, 'manifest.json'));

export function loadCheckpoint(dir: string, expected: CheckpointConfig | null): { state: MetaTrainState; config: CheckpointConfig } {
  const mpath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(mpath)) throw new CheckpointError(dir, 'no manifest.json (not a checkpoint directory)');
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(mpath, 'utf8')) as Manifest;
  } catch (e) {
    throw new CheckpointError(dir, `manifest.json is corrupt: ${(e as Error).message}`);
  }
  if (m?.format !== CHECKPOINT_FORMAT) throw new CheckpointError(dir, `not a meta-training checkpoint (format ${JSON.stringify(m?.format)})`);
  if (m.version !== CHECKPOINT_VERSION) throw new CheckpointError(dir, `version ${m.version}, this build reads ${CHECKPOINT_VERSION}`);
  if (expected) {
    const d = firstDifference(m.config, expected);
    if (d) {
      throw new CheckpointError(dir, `was written by a different config: ${d} differs (checkpoint ${JSON.stringify(pick(m.config, d))}, now ${JSON.stringify(pick(expected, d))})`);
    }
  }
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(dir, 'tensors.bin'));
  } catch (e) {
    throw new CheckpointError(dir, `cannot read tensors.bin: ${(e as Error).message}`);
  }
  if (bytes.byteLength !== m.bytes) throw new CheckpointError(dir, `tensors.bin has ${bytes.byteLength} bytes, manifest says ${m.bytes} (truncated or corrupt)`);
  if (createHash('sha256').update(bytes).digest('hex') !== m.sha256) throw new CheckpointError(dir, 'tensors.bin does not match its SHA-256 (corrupt)');
  // a view when aligned (no second host copy of a large file), else a copy
  const data =
    bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const groups: Record<string, Params> = { meta: {}, outer: {}, best: {} };
  for (const e of m.tensors) {
    const slash = e.name.indexOf('/');
    const g = e.name.slice(0, slash);
    if (!(g in groups)) throw new CheckpointError(dir, `unknown tensor group in ${e.name}`);
    groups[g][e.name.slice(slash + 1)] = tf.tensor(data.subarray(e.offset, e.offset + e.length), e.shape);
  }
  const meta = unflattenMeta(groups.meta);
  const state: MetaTrainState = {
    meta,
    outer: unflattenOuter(groups.outer, m.outerSteps, meta),
    batchesDone: m.batchesDone,
    order: restoreStream(m.order),
    perm: m.perm,
    bestValLoss: m.bestValLoss ?? Infinity,
    bestMeta: Object.keys(groups.best).length ? unflattenMeta(groups.best) : null,
    windowsSkipped: m.windowsSkipped,
  };
  return { state, config: m.config };
}

function pick(o: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .slice(1)
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
}
