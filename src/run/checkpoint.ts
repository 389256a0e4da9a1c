// The checkpoint format of symtele: a directory of numbered slots `ckpt-<n>/`, each holding
// tensors.bin (named float32 tensors back to back, little-endian) and manifest.json (the user's
// record, whose `format` and `version` it chooses, then `tensors`: the layout of tensors.bin,
// `bytes` and `sha256`: its length and hash). A slot is written under a temporary name, fsynced,
// and renamed into place: that one rename is the commit point, so a kill at any moment leaves
// every committed slot whole. The newest `keep` slots are kept; loading takes the newest intact
// one and names the damaged ones it skipped. Meta-training, the generalization study's models
// and the classifier locksteps all keep their state this way (docs/design/checkpoints.md).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import { fsyncDir, removeAtomic, sweepTrash, writeAll, writeFileAtomic } from './atomic.js';
import { keepNonFinite, reviveNonFinite, type WireEntry, type WireTensors } from './tensors.js';

export class CheckpointError extends Error {
  /**
   * `damaged`: the slot is torn, truncated or corrupt, and loading falls back to an older one;
   * otherwise (another config, a version this build does not read) the error stands, since an
   * older slot of the same directory would not do either.
   */
  constructor(where: string, why: string, readonly damaged = true) {
    super(`checkpoint ${where}: ${why}`);
    this.name = 'CheckpointError';
  }
}

/** What a user of the store keeps in a slot's manifest beside the tensors' layout. */
export interface SlotRecord {
  format: string;
  version: number;
}

export type Manifest<R extends SlotRecord> = R & { tensors: WireEntry[]; bytes: number; sha256: string };

/** A tensor to store (a Float32Array is stored as a 1-D tensor). */
export type SlotTensor = tf.Tensor | Float32Array;

const SLOT = /^ckpt-(\d+)$/;
/** A slot being written (or left by a writer that died): `ckpt-<n>.<pid>.tmp`. */
export const SLOT_TEMPORARY = /^ckpt-\d+\.(\d+)\.tmp$/;
const slotName = (n: number) => `ckpt-${String(n).padStart(8, '0')}`;

/** Committed slots of `dir`, newest first. */
export function slots(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => SLOT.test(f))
    .sort()
    .reverse()
    .map((f) => path.join(dir, f));
}

/** The slots of `dir` to try, newest first; a manifest.json at the top (the layout before slots) last. */
function candidates(dir: string): string[] {
  const legacy = fs.existsSync(path.join(dir, 'manifest.json')) ? [dir] : [];
  return [...slots(dir), ...legacy];
}

export const hasSlot = (dir: string): boolean => candidates(dir).length > 0;

/** The number after the newest slot's (0 in an empty directory): for stores not numbered by progress. */
export function nextSlot(dir: string): number {
  const [newest] = slots(dir);
  return newest ? Number(SLOT.exec(path.basename(newest))![1]) + 1 : 0;
}

function hostBytes(t: SlotTensor): { bytes: Uint8Array; shape: number[] } {
  const d = t instanceof Float32Array ? t : (t.dataSync() as Float32Array);
  return { bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength), shape: t instanceof Float32Array ? [t.length] : t.shape };
}

const writeManifest = (file: string, m: unknown) => writeFileAtomic(file, JSON.stringify(m, keepNonFinite, 2) + '\n');
const readManifest = (slot: string): unknown => reviveNonFinite(JSON.parse(fs.readFileSync(path.join(slot, 'manifest.json'), 'utf8')));

/**
 * Write and commit slot `n` of `dir`: the tensors streamed to tensors.bin one at a time (hashing
 * as they go: a host copy of all of them at once would add a full checkpoint to peak memory),
 * then the manifest `{...record, tensors, bytes, sha256}`. Keeps the newest `keep` slots.
 * Returns the slot's path.
 */
export function saveSlot<R extends SlotRecord>(dir: string, n: number, tensors: Iterable<[string, SlotTensor]>, record: R, keep: number): string {
  const slot = path.join(dir, slotName(n));
  // A slot of the same number (a run resumed from an older slot redoes it) is replaced.
  commitAside(dir, slot, true, (tmp) => {
    const bin = path.join(tmp, 'tensors.bin');
    const hash = createHash('sha256');
    const layout: WireEntry[] = [];
    let off = 0;
    const fd = fs.openSync(bin, 'w');
    try {
      for (const [name, t] of tensors) {
        const { bytes, shape } = hostBytes(t);
        writeAll(fd, bytes, bin, 'checkpoint file');
        hash.update(bytes);
        layout.push({ name, shape, offset: off, length: bytes.byteLength / 4 });
        off += bytes.byteLength / 4;
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const manifest: Manifest<R> = { ...record, tensors: layout, bytes: off * 4, sha256: hash.digest('hex') };
    writeManifest(path.join(tmp, 'manifest.json'), manifest);
  });
  prune(dir, keep);
  return slot;
}

/**
 * Commit `slot` of `dir`: its files written by `fill` into a temporary sibling (removed again
 * when a write fails, e.g. on a full disk), then renamed into place, the one commit point.
 * `replace`: a slot already there is moved aside first (a rename cannot replace a non-empty
 * directory).
 */
function commitAside(dir: string, slot: string, replace: boolean, fill: (tmp: string) => void): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${slot}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (replace) removeAtomic(slot);
  fs.renameSync(tmp, slot);
  fsyncDir(dir);
}

/** Drop all but the newest `keep` slots, the pre-slot layout's files, and temporaries of dead writes. */
function prune(dir: string, keep: number): void {
  for (const old of slots(dir).slice(Math.max(1, keep))) removeAtomic(old);
  for (const f of ['manifest.json', 'tensors.bin']) fs.rmSync(path.join(dir, f), { force: true });
  for (const f of fs.readdirSync(dir)) {
    const pid = SLOT_TEMPORARY.exec(f)?.[1];
    if (pid !== undefined && pid !== String(process.pid)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  }
  sweepTrash(dir);
}

/** Which slots a reader takes: its `format`, and the versions of it this build reads. */
export interface SlotKind {
  format: string;
  reads: readonly number[];
  /** Said after the refusal of a version this build does not read (what to do about it). */
  hint?: (version: number) => string;
}

/** A slot being loaded: its manifest (format and version checked) and, on demand, its tensors (length and hash checked). */
export interface SlotReader<R extends SlotRecord> {
  slot: string;
  manifest: Manifest<R>;
  tensors(): WireTensors;
}

export interface Loaded<T> {
  value: T;
  /** The slot loaded. */
  from: string;
  /** Newer slots that were damaged and skipped, with why. */
  skipped: string[];
}

/**
 * The newest intact slot of `dir` of this kind, as `read` makes it. A damaged slot (torn,
 * truncated, corrupt, or a CheckpointError of `read` marked damaged) is skipped for an older one
 * and named in `skipped`; a version this build does not read, and any other error of `read`,
 * stands (an older slot of the same directory would not do either).
 */
export function loadNewest<R extends SlotRecord, T>(dir: string, kind: SlotKind, read: (s: SlotReader<R>) => T): Loaded<T> {
  const all = candidates(dir);
  if (all.length === 0) throw new CheckpointError(dir, 'no checkpoint (no ckpt-* slot with a manifest.json)');
  const skipped: string[] = [];
  for (const slot of all) {
    try {
      return { value: read(openSlot<R>(slot, kind)), from: slot, skipped };
    } catch (e) {
      if (!(e instanceof CheckpointError) || !e.damaged) throw e;
      skipped.push(e.message);
    }
  }
  throw new CheckpointError(dir, `no intact checkpoint: ${skipped.join('; ')}`);
}

function openSlot<R extends SlotRecord>(slot: string, { format, reads, hint }: SlotKind): SlotReader<R> {
  const mpath = path.join(slot, 'manifest.json');
  if (!fs.existsSync(mpath)) throw new CheckpointError(slot, 'no manifest.json (an unfinished slot)');
  let m: Manifest<R>;
  try {
    m = readManifest(slot) as Manifest<R>;
  } catch (e) {
    throw new CheckpointError(slot, `manifest.json is corrupt: ${(e as Error).message}`);
  }
  if (m?.format !== format) throw new CheckpointError(slot, `not a ${format} checkpoint (format ${JSON.stringify(m?.format)})`);
  if (!reads.includes(m.version)) throw new CheckpointError(slot, `version ${m.version}, this build reads ${reads.join(' and ')}${hint?.(m.version) ?? ''}`, false);
  const tensors = (): WireTensors => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(path.join(slot, 'tensors.bin'));
    } catch (e) {
      throw new CheckpointError(slot, `cannot read tensors.bin: ${(e as Error).message}`);
    }
    if (bytes.byteLength !== m.bytes) throw new CheckpointError(slot, `tensors.bin has ${bytes.byteLength} bytes, manifest says ${m.bytes} (truncated or corrupt)`);
    if (createHash('sha256').update(bytes).digest('hex') !== m.sha256) throw new CheckpointError(slot, 'tensors.bin does not match its SHA-256 (corrupt)');
    // a view when aligned (no second host copy of a large file), else a copy
    const data =
      bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
        : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return { layout: m.tensors, data };
  };
  return { slot, manifest: m, tensors };
}

/** The newest slot's manifest (null when there is no slot or its manifest is unreadable). */
export function newestManifest(dir: string): Record<string, unknown> | null {
  const [slot] = slots(dir);
  if (!slot) return null;
  try {
    return readManifest(slot) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** A committed slot's two files, to move a checkpoint between machines (a Redis unit job's result). */
export interface SlotFiles {
  /** The slot's directory name (ckpt-<n>). */
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

/**
 * Commit `f` as a slot of `dir` (as saveSlot commits one: written aside, renamed into place),
 * after checking its bytes against the manifest's SHA-256. A slot of that name already there
 * (the files came from this machine) is left as it is. Returns the slot's path.
 */
export function importSlot(dir: string, f: SlotFiles): string {
  if (!SLOT.test(f.slot)) throw new CheckpointError(dir, `"${f.slot}" is not a slot name (ckpt-<n>)`);
  const slot = path.join(dir, f.slot);
  if (fs.existsSync(path.join(slot, 'manifest.json'))) return slot;
  let m: { sha256?: string };
  try {
    m = JSON.parse(f.manifest);
  } catch (e) {
    throw new CheckpointError(slot, `the imported manifest is corrupt: ${(e as Error).message}`);
  }
  if (createHash('sha256').update(f.tensors).digest('hex') !== m.sha256) throw new CheckpointError(slot, 'the imported tensors do not match their SHA-256');
  commitAside(dir, slot, false, (tmp) => {
    writeFileAtomic(path.join(tmp, 'tensors.bin'), f.tensors);
    writeFileAtomic(path.join(tmp, 'manifest.json'), f.manifest);
  });
  return slot;
}

/**
 * Refuse a checkpoint file of a format from before this store (a single file where the store
 * now keeps a directory of slots): this build does not read it.
 */
export function refuseSingleFile(file: string, dir: string): void {
  if (fs.existsSync(file) && fs.statSync(file).isFile()) {
    throw new Error(`${file}: a checkpoint of the single-file format this build no longer reads (it keeps ${dir}/ckpt-*/ now): delete it and rerun`);
  }
}
