/**
 * How much of a damaged log file can be kept: a resumed run continues its log files from the
 * lengths its checkpoint recorded, but a file may since have been cut short, deleted, or had
 * bytes changed. Training must not stop for that: the readable prefix is kept (whole TFRecords
 * whose CRCs match, or complete JSON lines), what follows is dropped and named, and the run
 * appends from there.
 */
import * as fs from 'node:fs';
import { intactRecords } from './tensorboard.js';

export type LogKind = 'events' | 'jsonl';

export interface Readable {
  /** Bytes from the start that hold whole, intact records (at most the length asked for). */
  bytes: number;
  /** Why the rest cannot be kept (undefined: all of it is intact). */
  why?: string;
}

/** The complete, parseable JSON lines of `buf` from the start. */
function intactLines(buf: Buffer): Readable {
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0) return { bytes: off, why: `a torn line at byte ${off}` };
    const line = buf.toString('utf8', off, nl);
    if (line.trim() !== '') {
      try {
        JSON.parse(line);
      } catch {
        return { bytes: off, why: `an unreadable line at byte ${off}` };
      }
    }
    off = nl + 1;
  }
  return { bytes: off };
}

/** The intact prefix of the first `upTo` bytes of `file` (which must exist), and why the rest is not. */
export function readableLength(file: string, upTo: number, kind: LogKind): Readable {
  const fd = fs.openSync(file, 'r');
  let buf: Buffer;
  try {
    const size = Math.min(upTo, fs.fstatSync(fd).size);
    buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) off += fs.readSync(fd, buf, off, size - off, off);
  } finally {
    fs.closeSync(fd);
  }
  const r = kind === 'events' ? intactRecords(buf) : intactLines(buf);
  return buf.length < upTo ? { bytes: r.bytes, why: `cut to ${buf.length} of ${upTo} bytes` } : r;
}
