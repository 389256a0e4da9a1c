// The tensor container of symtele: named float32 tensors as one Float32Array plus a small JSON
// layout (name, shape, offset, length in floats). A worker thread gets the Float32Array by
// transfer; Redis, checkpoints and lockstep files get `packWire` bytes: magic, a 4-byte header
// length, the JSON header, padding to 4 bytes, then the floats (little-endian, the host order of
// every platform tfjs runs on).
import * as tf from '@tensorflow/tfjs';

/** Named tensors. */
export type Params = Record<string, tf.Tensor>;

export interface WireEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/** Named float32 tensors: layout + data. `data` may be transferred (it is a fresh buffer). */
export interface WireTensors {
  layout: WireEntry[];
  data: Float32Array;
}

/** Read named tensors to host memory, in name order (one host copy). */
export function encodeTensors(p: Params, shared = false): WireTensors {
  const names = Object.keys(p).sort();
  const layout: WireEntry[] = [];
  let off = 0;
  for (const name of names) {
    const t = p[name];
    if (t.dtype !== 'float32') throw new Error(`wire: tensor "${name}" is ${t.dtype}, expected float32`);
    layout.push({ name, shape: t.shape.slice(), offset: off, length: t.size });
    off += t.size;
  }
  // shared: posted to worker threads without a copy per thread (it is never written after this)
  const data = shared ? new Float32Array(new SharedArrayBuffer(4 * off)) : new Float32Array(off);
  for (const e of layout) data.set(p[e.name].dataSync() as Float32Array, e.offset);
  return { layout, data };
}

/** New tensors from a layout and its data (the caller owns them). */
export function decodeTensors(w: WireTensors, where = 'wire'): Params {
  const out: Params = {};
  for (const e of w.layout) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (n !== e.length || e.offset < 0 || e.offset + e.length > w.data.length) {
      throw new Error(`${where}: tensor "${e.name}" (shape [${e.shape}], offset ${e.offset}) does not fit ${w.data.length} floats`);
    }
    out[e.name] = tf.tensor(w.data.subarray(e.offset, e.offset + e.length), e.shape, 'float32');
  }
  return out;
}

/** A JSON.stringify replacer: non-finite numbers (a diverged window's loss) survive as strings. */
export const keepNonFinite = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);

/** Undo {@link keepNonFinite} on parsed JSON: "NaN", "Infinity" and "-Infinity" become numbers again. */
export const reviveNonFinite = (v: unknown): unknown =>
  v === 'NaN' || v === 'Infinity' || v === '-Infinity' ? Number(v) : Array.isArray(v) ? v.map(reviveNonFinite) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reviveNonFinite(x)])) : v;

const MAGIC = 0x53594d57; // "SYMW"

/**
 * One byte buffer: magic, header length, JSON header `{layout, extra}`, padding, floats.
 * `extra` carries the JSON fields beside the tensors (an estimate's weight and losses).
 */
export function packWire(w: WireTensors, extra: unknown = null): Buffer {
  const header = Buffer.from(JSON.stringify({ layout: w.layout, extra }, keepNonFinite), 'utf8');
  const start = 8 + header.length + ((4 - ((8 + header.length) % 4)) % 4);
  const out = Buffer.alloc(start + w.data.byteLength);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).copy(out, start);
  return out;
}

export function unpackWire(buf: Buffer, where = 'wire'): { wire: WireTensors; extra: unknown } {
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) throw new Error(`${where}: not symtele wire bytes`);
  const hlen = buf.readUInt32LE(4);
  if (8 + hlen > buf.length) throw new Error(`${where}: truncated header`);
  let header: { layout: WireEntry[]; extra: unknown };
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  } catch (e) {
    throw new Error(`${where}: corrupt header (${(e as Error).message})`);
  }
  const start = 8 + hlen + ((4 - ((8 + hlen) % 4)) % 4);
  const n = header.layout.reduce((a, e) => Math.max(a, e.offset + e.length), 0);
  if (start + n * 4 !== buf.length) throw new Error(`${where}: ${buf.length - start} data bytes, layout needs ${n * 4}`);
  // copy into an aligned buffer of its own (a Buffer from Redis may share a pool at any offset)
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(buf.subarray(start));
  return { wire: { layout: header.layout, data }, extra: reviveNonFinite(header.extra) };
}

