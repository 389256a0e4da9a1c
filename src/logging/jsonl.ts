/**
 * JSONL metrics writer: one JSON object per line, appended to a file.
 *
 * Scalars are written as `{"step", "tag", "value", "wallTime"}` (wallTime in seconds since the
 * epoch, like TensorBoard's wall_time); any other JSON-serialisable object can be written with
 * `write`. Non-finite numbers have no JSON form: anywhere in a record they are written as the
 * strings "NaN", "Infinity" or "-Infinity" (JSON.stringify would write null), so that a diverged
 * run stays visible in the log.
 *
 * Lines are buffered and appended synchronously when the buffer grows, on `flush()`, on
 * `close()` and when the process exits.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendBuffer, openContinued } from './append.js';
import { makeDirs } from '../run/atomic.js';

/** One scalar metric record. */
export interface ScalarRecord {
  step: number;
  tag: string;
  value: number | string;
  wallTime: number;
}

/** A writer of JSON lines. */
export interface JsonlWriter {
  /** Path of the file being appended to. */
  readonly path: string;
  /** Append `{step, tag, value, wallTime}`. */
  scalar(tag: string, value: number, step: number): void;
  /** Append an arbitrary JSON-serialisable record (an object, one line). */
  write(record: object): void;
  /** Append buffered lines to the file. */
  flush(): void;
  /** Flush and fsync; returns the file's length (a checkpoint records it, see `continueAt`). */
  commit(): number;
  /** Flush and close; later writes throw. Closing twice is a no-op. */
  close(): void;
}

/** Options of {@link createJsonlWriter}. */
export interface JsonlWriterOptions {
  /** Flush when this many bytes are buffered (default 16 KiB). */
  maxBufferBytes?: number;
  /** Start a fresh file instead of appending to an existing one (default false). */
  truncate?: boolean;
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Cut the file back to this length (recorded by a checkpoint) and append from there. */
  continueAt?: number;
}

function encodeNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/**
 * Open `file` (creating its directory) for appending JSON lines.
 *
 * @throws Error naming the path when the file cannot be created.
 */
export function createJsonlWriter(file: string, options: JsonlWriterOptions = {}): JsonlWriter {
  if (typeof file !== 'string' || file.trim() === '') {
    throw new Error(`invalid JSONL path ${JSON.stringify(file)}: expected a non-empty path`);
  }
  const target = path.resolve(file);
  const now = options.now ?? Date.now;
  const maxBufferBytes = options.maxBufferBytes ?? 16 * 1024;
  let fd: number;
  try {
    makeDirs(path.dirname(target));
    fd =
      options.continueAt !== undefined
        ? openContinued(target, options.continueAt, 'JSONL file')
        : fs.openSync(target, options.truncate ? 'w' : 'a');
  } catch (e) {
    throw new Error(`cannot open JSONL file "${target}": ${(e as Error).message}`, { cause: e });
  }

  const buf = appendBuffer(fd, target, 'JSONL file', maxBufferBytes);

  const writer: JsonlWriter = {
    path: target,

    scalar(tag, value, step) {
      const rec: ScalarRecord = { step, tag, value: encodeNumber(value), wallTime: now() / 1000 };
      writer.write(rec);
    },

    write(record) {
      if (buf.closed) throw new Error(`JSONL writer for "${target}" is closed`);
      const line = JSON.stringify(record, (_key, v: unknown) => (typeof v === 'number' ? encodeNumber(v) : v));
      if (typeof line !== 'string' || !line.startsWith('{')) {
        throw new Error(`JSONL record must be a JSON object, got ${line}`);
      }
      buf.push(Buffer.from(line + '\n', 'utf8'));
    },

    flush: () => buf.flush(),
    commit: () => buf.commit(),
    close: () => buf.close(),
  };
  return writer;
}

/** Read a JSONL file back into an array of records (blank lines are skipped). */
export function readJsonl(file: string): unknown[] {
  const out: unknown[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as unknown);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: invalid JSON line: ${(e as Error).message}`, { cause: e });
      }
    });
  return out;
}
