/**
 * A small reader of tar archives (POSIX ustar, with GNU long names and pax path records),
 * enough for dataset archives: regular files and directories; links and devices are skipped.
 * Header checksums are verified, and entry paths that would leave the target directory
 * (absolute, or with `..`) are rejected.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.js';

export interface TarEntry {
  readonly name: string;
  readonly type: 'file' | 'directory' | 'other';
  readonly data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function str(b: Uint8Array, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const end = s.indexOf(0);
  return decoder.decode(end < 0 ? s : s.subarray(0, end));
}

function octal(b: Uint8Array, off: number, len: number, what: string, file: string): number {
  // GNU base-256 for large values: high bit of the first byte set.
  if (b[off]! & 0x80) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const s = str(b, off, len).trim();
  if (!/^[0-7]*$/.test(s)) throw new DataError(`${file}: corrupted tar header (${what} "${s}" is not octal)`);
  return s === '' ? 0 : parseInt(s, 8);
}

/** Parse the pax extended header records `"<len> key=value\n"`. */
function paxPath(data: Uint8Array): string | undefined {
  const text = decoder.decode(data);
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) found = m[1];
  }
  return found;
}

/** The entries of an (uncompressed) tar archive; `file` names it in errors. */
export function readTar(buf: Uint8Array, file = 'archive'): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((v) => v === 0)) return out; // end-of-archive marker
    const stored = octal(h, 148, 8, 'checksum', file);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== stored) throw new DataError(`${file}: corrupted tar header at byte ${off} (checksum ${stored}, computed ${sum})`);
    const size = octal(h, 124, 12, 'size', file);
    const flag = String.fromCharCode(h[156]!);
    const prefix = str(h, 257, 6) === 'ustar' ? str(h, 345, 155) : '';
    const start = off + BLOCK;
    if (start + size > buf.length) {
      throw new DataError(`${file}: truncated tar archive (entry at byte ${off} needs ${size} bytes, ${buf.length - start} left)`);
    }
    const data = buf.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L') {
      longName = str(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (flag === 'g') continue;
    const name = longName ?? (prefix !== '' ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    longName = undefined;
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other';
    out.push({ name, type, data });
  }
  throw new DataError(`${file}: truncated tar archive (no end-of-archive marker)`);
}

/** A safe path for `name` inside `dir`; throws for absolute paths and `..`. */
function inside(dir: string, name: string, file: string): string {
  const norm = path.posix.normalize(name);
  if (path.posix.isAbsolute(norm) || norm === '..' || norm.startsWith('../')) {
    throw new DataError(`${file}: refusing to extract "${name}" outside the target directory`);
  }
  return path.join(dir, ...norm.split('/'));
}

/** Write the files and directories of an archive under `dir`; returns the paths written. */
export function extractTar(buf: Uint8Array, dir: string, file = 'archive'): string[] {
  const written: string[] = [];
  for (const e of readTar(buf, file)) {
    if (e.type === 'other') continue;
    const target = inside(dir, e.name, file);
    if (e.type === 'directory') {
      mkdirSync(target, { recursive: true });
    } else {
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, e.data);
      written.push(target);
    }
  }
  return written;
}
