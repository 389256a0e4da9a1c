/**
 * Buffered appends to an open log file, shared by the JSONL and TensorBoard writers: chunks are
 * kept in memory and appended synchronously when `maxBufferBytes` are buffered, on `flush()`,
 * on `close()` and when the process exits (so a run that ends without closing its writers still
 * leaves complete records on disk). `commit()` makes them durable and returns the length, which
 * a checkpoint records so that a resumed run cuts the file back to it (no record twice).
 */
import * as fs from 'node:fs';
import { writeAll } from '../run/atomic.js';

export interface AppendBuffer {
  readonly closed: boolean;
  /** Buffer `data`; flushes when the buffer is full. */
  push(data: Buffer): void;
  /** Append the buffered chunks to the file. */
  flush(): void;
  /** Flush, fsync, and return the file's length: a point a resumed run can cut the file back to. */
  commit(): number;
  /** Flush and close the file; closing twice is a no-op. */
  close(): void;
}

const open = new Set<AppendBuffer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const b of open) {
      try {
        b.close();
      } catch {
        // Nothing sensible to do while exiting.
      }
    }
  });
}

/** Buffer appends to `fd` (open for writing); `file` and `what` name it in errors. */
export function appendBuffer(fd: number, file: string, what: string, maxBufferBytes: number): AppendBuffer {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let closed = false;
  const buf: AppendBuffer = {
    get closed() {
      return closed;
    },
    push(data) {
      chunks.push(data);
      buffered += data.length;
      if (buffered >= maxBufferBytes) buf.flush();
    },
    flush() {
      if (chunks.length === 0 || closed) return;
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
      chunks = [];
      buffered = 0;
      writeAll(fd, data, file, what);
    },
    commit() {
      if (closed) throw new Error(`${what} "${file}" is closed`);
      buf.flush();
      fs.fsyncSync(fd);
      return fs.fstatSync(fd).size;
    },
    close() {
      if (closed) return;
      try {
        buf.flush();
      } finally {
        closed = true;
        open.delete(buf);
        fs.closeSync(fd);
      }
    },
  };
  open.add(buf);
  installExitHook();
  return buf;
}

/**
 * Open `file` for appending after cutting it back to `bytes` (what a checkpoint recorded): the
 * records a killed run wrote after its last checkpoint are dropped, to be written again.
 */
export function openContinued(file: string, bytes: number, what: string): number {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new Error(`cannot continue ${what} "${file}": ${(e as Error).message}`, { cause: e });
  }
  if (size < bytes) throw new Error(`cannot continue ${what} "${file}": it has ${size} bytes, the checkpoint recorded ${bytes}`);
  fs.truncateSync(file, bytes);
  return fs.openSync(file, 'a');
}
