// Checkpoints of meta-training: meta-parameters, outer (Adam) moments per module, best-so-far
// parameters, the step, the RNG position, the config, and how long the run's log files were.
// Stored in the slotted checkpoint format of src/run/checkpoint.ts, one slot `ckpt-<batch>/` per
// save (tensors.bin; manifest.json: the record below, the layout and the SHA-256).
import * as tf from '@tensorflow/tfjs';
import { checkpointBackend } from '../backend/resume-check.js';
import { CheckpointError, hasSlot, loadNewest, newestManifest, saveSlot, type SlotKind, type SlotReader } from '../run/checkpoint.js';
import { firstDifference, pick } from '../config/diff.js';
import { restoreStream, type StreamState } from '../rng/index.js';
import type { Params } from '../nn/lstm.js';
import { namedState, stateFromNamed } from '../optim/state.js';
import type { TaskConfig } from '../tasks/registry.js';
import type { OuterStates } from './learner.js';
import { cloneMeta, flattenMeta, unflattenMeta, type MetaParams } from './params.js';
import { decodeTensors } from './wire.js';
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
const KIND: SlotKind = {
  format: CHECKPOINT_FORMAT,
  reads: [4],
  hint: (v) => (v < 4 ? ' (written before learned optimizers were named by kind: retrain the unit, e.g. with --fresh)' : ''),
};
/** Slots kept per checkpoint directory by default: the newest and one before it. */
export const KEEP_CHECKPOINTS = 2;

/** A log file of the run (relative to its log directory) and its length at the checkpoint. */
export interface LogMark {
  file: string;
  bytes: number;
}

export { CheckpointError, importSlot, newestSlot, type SlotFiles } from '../run/checkpoint.js';

/** What must be equal for a resume to continue the same run. */
export interface CheckpointConfig {
  learned: LearnedConfig;
  estimator: EstimatorConfig;
  train: TrainConfig;
  task: TaskConfig;
}

/** A slot's record (manifest.json beside the tensors' layout, size and SHA-256). */
interface MetaRecord {
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

/** The tensors of a slot, in the order of tensors.bin: "meta/...", "outer/...", "best/..." (names sorted in each). */
function* collect(st: MetaTrainState, withBest: boolean): Generator<[string, tf.Tensor]> {
  const groups: [string, Params | null][] = [
    ['meta', flattenMeta(st.meta)],
    ['outer', flattenOuter(st.outer, st.meta)],
    ['best', withBest && st.bestMeta ? flattenMeta(st.bestMeta) : null],
  ];
  for (const [group, p] of groups) if (p) for (const k of Object.keys(p).sort()) yield [`${group}/${k}`, p[k]];
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

/** Write and commit a new slot for `st`; returns its path. */
export function saveCheckpoint(dir: string, st: MetaTrainState, config: CheckpointConfig, opts: SaveOptions = {}): string {
  const final = opts.final ?? false;
  const bestIsMeta = !final && bestEqualsMeta(st);
  // the counters are `st`'s; the tensors stored are `kept`'s
  const kept: MetaTrainState = final ? { ...st, meta: st.bestMeta ?? st.meta, outer: {}, bestMeta: null } : st;
  const record: MetaRecord = {
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
    bestIsMeta,
    final,
    logs: opts.logs ?? [],
  };
  return saveSlot(dir, st.batchesDone, collect(kept, !bestIsMeta), record, final ? 1 : (opts.keep ?? KEEP_CHECKPOINTS));
}

export const hasCheckpoint = hasSlot;

/** The log lengths the newest slot of `dir` recorded (none when there is no slot or its manifest is unreadable). */
export const logMarksOf = (dir: string): LogMark[] => (newestManifest(dir) as Partial<MetaRecord> | null)?.logs ?? [];

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
  const { value, from, skipped } = loadNewest(dir, KIND, (s: SlotReader<MetaRecord>) => readSlot(s, expected));
  return { ...value, from, skipped };
}

function readSlot({ slot, manifest: m, tensors }: SlotReader<MetaRecord>, expected: CheckpointConfig | null): Omit<LoadedCheckpoint, 'from' | 'skipped'> {
  if (expected) {
    const d = firstDifference(m.config, expected);
    if (d) {
      throw new CheckpointError(slot, `was written by a different config: ${d} differs (checkpoint ${JSON.stringify(pick(m.config, d))}, now ${JSON.stringify(pick(expected, d))})`, false);
    }
  }
  const wire = tensors();
  const groups: Record<string, Params> = { meta: {}, outer: {}, best: {} };
  for (const e of wire.layout) if (!(e.name.split('/')[0] in groups)) throw new CheckpointError(slot, `unknown tensor group in ${e.name}`);
  for (const [name, t] of Object.entries(decodeTensors(wire, `checkpoint ${slot}`))) {
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
