/**
 * Reader of the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 * a big-endian header `00 00 <type> <ndims>`, ndims uint32 dimensions, then the elements.
 * Only unsigned bytes (type 0x08), the type of every MNIST-like file, are supported. Files
 * ending in `.gz` (or starting with the gzip magic) are gunzipped first.
 *
 * Everything is checked: magic number, element type, expected rank and dimensions, and that
 * the file length is exactly header + elements (a truncated file or trailing bytes are errors).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from './errors.js';

export interface IdxArray {
  /** Dimensions, outermost first (e.g. [60000, 28, 28]). */
  readonly dims: readonly number[];
  /** The elements in row-major order. */
  readonly data: Uint8Array;
}

/** What a caller expects of a file: its rank, and any dimensions it knows (null: any). */
export interface IdxExpectation {
  readonly ndims: number;
  readonly dims?: readonly (number | null)[];
}

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

const hex = (n: number, width = 2) => `0x${n.toString(16).padStart(width, '0')}`;

/** Parse an (uncompressed) IDX buffer; `file` names it in errors. */
export function parseIdx(buf: Uint8Array, file: string, expect?: IdxExpectation): IdxArray {
  const bad = (what: string) => new DataError(`${file}: ${what}`);
  if (buf.length < 4) throw bad(`truncated: ${buf.length} bytes, shorter than the 4-byte IDX magic number`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw bad(`not an IDX file: magic number ${hex(magic, 8)} does not start with 00 00`);
  }
  const type = buf[2]!;
  const ndims = buf[3]!;
  if (type !== UBYTE) {
    const name = TYPE_NAMES[type];
    throw bad(
      name === undefined
        ? `not an IDX file: unknown element type ${hex(type)} in magic number ${hex(magic, 8)}`
        : `unsupported IDX element type ${hex(type)} (${name}); expected ${hex(UBYTE)} (unsigned byte)`,
    );
  }
  if (expect !== undefined && ndims !== expect.ndims) {
    throw bad(`expected ${expect.ndims} dimension(s) (magic ${hex(0x800 + expect.ndims, 8)}), got ${ndims} (magic ${hex(magic, 8)})`);
  }
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw bad(`truncated: ${buf.length} bytes, shorter than the ${header}-byte header of ${ndims} dimension(s)`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  expect?.dims?.forEach((want, i) => {
    if (want !== null && dims[i] !== want) {
      throw bad(`expected dimension ${i} to be ${want}, got ${dims[i]} (dims [${dims.join(', ')}])`);
    }
  });
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = header + count;
  if (buf.length < expected) {
    throw bad(`truncated: ${buf.length} bytes, expected ${expected} (header ${header} + ${dims.join(' x ')} bytes)`);
  }
  if (buf.length > expected) {
    throw bad(`${buf.length - expected} unexpected trailing bytes: expected ${expected} bytes (header ${header} + ${dims.join(' x ')} bytes)`);
  }
  return { dims, data: buf.subarray(header) };
}

/** True for a buffer starting with the gzip magic bytes 1f 8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Gunzip a buffer read from `file`; a corrupted or truncated archive is a DataError naming it. */
export function gunzipFile(buf: Uint8Array, file: string): Uint8Array {
  try {
    return gunzipSync(buf);
  } catch (e) {
    throw new DataError(`${file}: corrupted or truncated gzip data (${(e as Error).message})`);
  }
}

/** Read an IDX file, gunzipping it when it is compressed. */
export function readIdxFile(file: string, expect?: IdxExpectation): IdxArray {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseIdx(isGzip(buf) ? gunzipFile(buf, file) : buf, file, expect);
}
