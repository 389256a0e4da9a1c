// Checkpoints of meta-training: meta-parameters, outer (Adam) moments per module, best-so-far
// parameters, the step, the RNG position, the config, and how long the run's log files were.
//
// A checkpoint directory holds numbered slots `ckpt-<batch>/` (tensors.bin: raw float32;
// manifest.json: layout, config, counters and the SHA-256 of tensors.bin). A slot is written
// under a temporary name, fsynced, and renamed into place: that one rename is the commit point,
// so a kill at any moment leaves every committed slot whole. The newest `keep` slots are kept;
// loading takes the newest intact one and says when it had to fall back.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { checkpointBackend } from '../backend/resume-check.js';
import { fsyncDir, removeAtomic, sweepTrash, writeAll, writeFileAtomic, writeJsonAtomic } from '../run/atomic.js';
import { firstDifference, pick } from '../config/diff.js';
import { restoreStream, type StreamState } from '../rng/index.js';
import type { Params } from '../nn/lstm.js';
import { namedState, stateFromNamed } from '../optim/state.js';
import type { TaskConfig } from '../tasks/registry.js';
import type { OuterStates } from './learner.js';
import { cloneMeta, flattenMeta, unflattenMeta, type MetaParams } from './params.js';
import { decodeTensors, type WireEntry } from './wire.js';
import type { MetaTrainState, TrainConfig } from './train.js';
import type { EstimatorConfig } from './estimators/registry.js';
import type { LearnedConfig } from './learned/registry.js';

export const CHECKPOINT_FORMAT = 'symtele-meta-checkpoint';
/**
 * 2: meta-parameters namespaced by module, outer optimizer state per module (one slot, the
 * files at the top of the directory). 3: numbered slots, log lengths, and the best parameters
 * left out when they equal the current ones. 4: the config names the learned optimizer by its
 * registered kind and the estimator beside the training settings (3 and 2 named a paper variant).
 */
export const CHECKPOINT_VERSION = 4;
const READS = [4];
/** Slots kept per checkpoint directory by default: the newest and one before it. */
export const KEEP_CHECKPOINTS = 2;

/** A log file of the run (relative to its log directory) and its length at the checkpoint. */
export interface LogMark {
  file: string;
  bytes: number;
}

export class CheckpointError extends Error {
  constructor(dir: string, why: string) {
    super(`checkpoint ${dir}: ${why}`);
    this.name = 'CheckpointError';
  }
}

/** What must be equal for a resume to continue the same run. */
export interface CheckpointConfig {
  learned: LearnedConfig;
  estimator: EstimatorConfig;
  train: TrainConfig;
  task: TaskConfig;
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
  /** The meta learning rates' scale after rollbacks (absent before it existed: 1). */
  lrScale?: number;
  /** The backend that wrote it (absent before it was recorded). */
  backend?: string;
  order: StreamState;
  perm: number[];
  tensors: WireEntry[];
  bytes: number;
  sha256: string;
  /** 3: the best parameters are the current ones (not stored twice). */
  bestIsMeta?: boolean;
  /** 3: a finished run's last checkpoint: only the parameters it keeps (best, else last). */
  final?: boolean;
  /** 3: the run's log files at this checkpoint. */
  logs?: LogMark[];
}

/** Outer states as "module/slot/name" tensors (slot tensors are aligned with the sorted names). */
function flattenOuter(o: OuterStates, meta: MetaParams): Params {
  return Object.assign({}, ...Object.entries(o).map(([mod, s]) => namedState(s, Object.keys(meta[mod]).sort(), `${mod}/`)));
}

function unflattenOuter(p: Params, steps: Record<string, number>, meta: MetaParams): OuterStates {
  const out: OuterStates = {};
  for (const mod of Object.keys(meta)) out[mod] = stateFromNamed(p, Object.keys(meta[mod]).sort(), steps[mod] ?? 0, `${mod}/`);
  return out;
}

const hostBytes = (t: tf.Tensor): Uint8Array => {
  const d = t.dataSync() as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
};

/** Whether the best parameters hold the same numbers as the current ones (then stored once). */
function bestEqualsMeta(st: MetaTrainState): boolean {
  if (!st.bestMeta) return false;
  const m = flattenMeta(st.meta), b = flattenMeta(st.bestMeta);
  const names = Object.keys(m);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((k) => b[k] && Buffer.compare(hostBytes(m[k]), hostBytes(b[k])) === 0);
}

function collect(st: MetaTrainState, withBest: boolean): [string, tf.Tensor][] {
  const out: [string, tf.Tensor][] = [];
  const add = (group: string, p: Params | null) => {
    if (p) for (const k of Object.keys(p).sort()) out.push([`${group}/${k}`, p[k]]);
  };
  add('meta', flattenMeta(st.meta));
  add('outer', flattenOuter(st.outer, st.meta));
  add('best', withBest && st.bestMeta ? flattenMeta(st.bestMeta) : null);
  return out;
}

const SLOT = /^ckpt-(\d+)$/;
const slotName = (batch: number) => `ckpt-${String(batch).padStart(8, '0')}`;

/** Committed slots of `dir`, newest first. */
function slots(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => SLOT.test(f))
    .sort()
    .reverse()
    .map((f) => path.join(dir, f));
}

export interface SaveOptions {
  /** The run's log files and their lengths now (written after everything they record). */
  logs?: LogMark[];
  /** Committed slots to keep (default {@link KEEP_CHECKPOINTS}). */
  keep?: number;
  /**
   * The run is finished: store only the parameters it keeps (best validated, else the last),
   * a quarter of a full checkpoint (no Adam moments, no second copy), and drop the older slots.
   */
  final?: boolean;
}

/**
 * The files of a slot, in `tmp`: tensors streamed to tensors.bin one at a time (hashing as they
 * go; a full-size host copy of every tensor at once would add ~100 MB to peak memory), then the
 * manifest. `st` holds the counters, `kept` the tensors to store.
 */
function writeSlot(tmp: string, st: MetaTrainState, kept: MetaTrainState, withBest: boolean, config: CheckpointConfig, extra: Pick<Manifest, 'bestIsMeta' | 'final' | 'logs'>): void {
  const hash = createHash('sha256');
  const tensors: WireEntry[] = [];
  let off = 0;
  const fd = fs.openSync(path.join(tmp, 'tensors.bin'), 'w');
  try {
    for (const [name, t] of collect(kept, withBest)) {
      const bytes = hostBytes(t);
      writeAll(fd, bytes, path.join(tmp, 'tensors.bin'), 'checkpoint file');
      hash.update(bytes);
      tensors.push({ name, shape: t.shape, offset: off, length: t.size });
      off += t.size;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config,
    batchesDone: st.batchesDone,
    outerSteps: Object.fromEntries(Object.entries(kept.outer).map(([k, o]) => [k, o.step])),
    bestValLoss: Number.isFinite(st.bestValLoss) ? st.bestValLoss : null,
    windowsSkipped: st.windowsSkipped,
    lrScale: st.lrScale,
    backend: checkpointBackend(),
    order: st.order.state(),
    perm: st.perm,
    tensors,
    bytes: off * 4,
    sha256: hash.digest('hex'),
    ...extra,
  };
  writeJsonAtomic(path.join(tmp, 'manifest.json'), manifest);
}

/** Write and commit a new slot for `st`; returns its path. */
export function saveCheckpoint(dir: string, st: MetaTrainState, config: CheckpointConfig, opts: SaveOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const slot = path.join(dir, slotName(st.batchesDone));
  const tmp = `${slot}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  const final = opts.final ?? false;
  const bestIsMeta = !final && bestEqualsMeta(st);
  const kept: MetaTrainState = final ? { ...st, meta: st.bestMeta ?? st.meta, outer: {}, bestMeta: null } : st;
  try {
    writeSlot(tmp, st, kept, !bestIsMeta, config, { bestIsMeta, final, logs: opts.logs ?? [] });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true }); // a failed write (a full disk) leaves nothing
    throw e;
  }
  // The commit point. A slot of the same batch (a run resumed from an older slot redoes it)
  // is moved aside first: a rename cannot replace a non-empty directory.
  removeAtomic(slot);
  fs.renameSync(tmp, slot);
  fsyncDir(dir);
  prune(dir, final ? 1 : (opts.keep ?? KEEP_CHECKPOINTS));
  return slot;
}

/** Drop all but the newest `keep` slots, the pre-slot layout's files, and temporaries of dead writes. */
function prune(dir: string, keep: number): void {
  for (const old of slots(dir).slice(Math.max(1, keep))) removeAtomic(old);
  for (const f of ['manifest.json', 'tensors.bin']) fs.rmSync(path.join(dir, f), { force: true });
  for (const f of fs.readdirSync(dir)) if (/^ckpt-\d+\.\d+\.tmp$/.test(f) && !f.includes(`.${process.pid}.`)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  sweepTrash(dir);
}

/** The checkpoints of `dir` to try, newest first (slots; the pre-slot layout's one last). */
function candidates(dir: string): string[] {
  const legacy = fs.existsSync(path.join(dir, 'manifest.json')) ? [dir] : [];
  return [...slots(dir), ...legacy];
}

export const hasCheckpoint = (dir: string): boolean => candidates(dir).length > 0;

/** A committed slot's two files, to move a checkpoint between machines (a Redis unit job's result). */
export interface SlotFiles {
  /** The slot's directory name (ckpt-<batch>). */
  slot: string;
  manifest: string;
  tensors: Buffer;
}

/** The newest committed slot of `dir`, or null when there is none. */
export function newestSlot(dir: string): SlotFiles | null {
  const [slot] = slots(dir);
  if (!slot) return null;
  return { slot: path.basename(slot), manifest: fs.readFileSync(path.join(slot, 'manifest.json'), 'utf8'), tensors: fs.readFileSync(path.join(slot, 'tensors.bin')) };
}

/** The log lengths the newest slot of `dir` recorded (none when there is no slot or its manifest is unreadable). */
export function logMarksOf(dir: string): LogMark[] {
  const [slot] = slots(dir);
  if (!slot) return [];
  try {
    return (JSON.parse(fs.readFileSync(path.join(slot, 'manifest.json'), 'utf8')) as Manifest).logs ?? [];
  } catch {
    return [];
  }
}

/**
 * Commit `f` as a slot of `dir` (as saveCheckpoint commits one: written aside, renamed into
 * place), after checking its bytes against the manifest's SHA-256. A slot of that name already
 * there (the files came from this machine) is left as it is. Returns the slot's path.
 */
export function importSlot(dir: string, f: SlotFiles): string {
  if (!SLOT.test(f.slot)) throw new CheckpointError(dir, `"${f.slot}" is not a slot name (ckpt-<batch>)`);
  const slot = path.join(dir, f.slot);
  if (fs.existsSync(path.join(slot, 'manifest.json'))) return slot;
  let m: Manifest;
  try {
    m = JSON.parse(f.manifest) as Manifest;
  } catch (e) {
    throw new CheckpointError(slot, `the imported manifest is corrupt: ${(e as Error).message}`);
  }
  if (createHash('sha256').update(f.tensors).digest('hex') !== m.sha256) throw new CheckpointError(slot, 'the imported tensors do not match their SHA-256');
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${slot}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    writeFileAtomic(path.join(tmp, 'tensors.bin'), f.tensors);
    writeFileAtomic(path.join(tmp, 'manifest.json'), f.manifest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.renameSync(tmp, slot);
  fsyncDir(dir);
  return slot;
}

export interface LoadedCheckpoint {
  state: MetaTrainState;
  config: CheckpointConfig;
  /** The run's log files at the checkpoint. */
  logs: LogMark[];
  /** The slot loaded. */
  from: string;
  /** Newer slots that were damaged and skipped, with why. */
  skipped: string[];
  /** A finished run's compact checkpoint: `state.meta` is what it keeps; no outer state to train on. */
  final: boolean;
  /** The backend that wrote it (undefined for checkpoints from before it was recorded). */
  backend: string | undefined;
}

/**
 * The newest intact checkpoint of `dir`. A damaged slot (torn, truncated, corrupt) is skipped
 * for an older one and named in `skipped`; a config mismatch is an error (an older slot of the
 * same directory would not match either).
 */
export function loadCheckpoint(dir: string, expected: CheckpointConfig | null): LoadedCheckpoint {
  const all = candidates(dir);
  if (all.length === 0) throw new CheckpointError(dir, 'no checkpoint (no ckpt-* slot with a manifest.json)');
  const skipped: string[] = [];
  for (const slot of all) {
    try {
      return { ...loadSlot(slot, expected), from: slot, skipped };
    } catch (e) {
      if (!(e instanceof CheckpointError) || e instanceof ConfigMismatch) throw e;
      skipped.push(e.message);
    }
  }
  throw new CheckpointError(dir, `no intact checkpoint: ${skipped.join('; ')}`);
}

class ConfigMismatch extends CheckpointError {}

function loadSlot(dir: string, expected: CheckpointConfig | null): Omit<LoadedCheckpoint, 'from' | 'skipped'> {
  const mpath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(mpath)) throw new CheckpointError(dir, 'no manifest.json (an unfinished slot)');
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(mpath, 'utf8')) as Manifest;
  } catch (e) {
    throw new CheckpointError(dir, `manifest.json is corrupt: ${(e as Error).message}`);
  }
  if (m?.format !== CHECKPOINT_FORMAT) throw new CheckpointError(dir, `not a meta-training checkpoint (format ${JSON.stringify(m?.format)})`);
  if (!READS.includes(m.version)) throw new ConfigMismatch(dir, `version ${m.version}, this build reads ${READS.join(' and ')}${m.version < 4 ? ' (written before learned optimizers were named by kind: retrain the unit, e.g. with --fresh)' : ''}`);
  if (expected) {
    const d = firstDifference(m.config, expected);
    if (d) {
      throw new ConfigMismatch(dir, `was written by a different config: ${d} differs (checkpoint ${JSON.stringify(pick(m.config, d))}, now ${JSON.stringify(pick(expected, d))})`);
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
  for (const e of m.tensors) if (!(e.name.split('/')[0] in groups)) throw new CheckpointError(dir, `unknown tensor group in ${e.name}`);
  for (const [name, t] of Object.entries(decodeTensors({ layout: m.tensors, data }, `checkpoint ${dir}`))) {
    const slash = name.indexOf('/');
    groups[name.slice(0, slash)][name.slice(slash + 1)] = t;
  }
  const meta = unflattenMeta(groups.meta);
  const state: MetaTrainState = {
    meta,
    outer: unflattenOuter(groups.outer, m.outerSteps, meta),
    batchesDone: m.batchesDone,
    order: restoreStream(m.order),
    perm: m.perm,
    bestValLoss: m.bestValLoss ?? Infinity,
    bestMeta: m.bestIsMeta ? cloneMeta(meta) : Object.keys(groups.best).length ? unflattenMeta(groups.best) : null,
    windowsSkipped: m.windowsSkipped,
    lrScale: m.lrScale ?? 1,
  };
  return { state, config: m.config, logs: m.logs ?? [], final: m.final ?? false, backend: m.backend };
}
