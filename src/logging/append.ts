/**
 * Buffered appends to an open log file, shared by the JSONL and TensorBoard writers: chunks are
 * kept in memory and appended synchronously when `maxBufferBytes` are buffered, on `flush()`,
 * on `close()` and when the process exits (so a run that ends without closing its writers still
 * leaves complete records on disk).
 */
import * as fs from 'node:fs';
import { writeAll } from './atomic.js';

export interface AppendBuffer {
  readonly closed: boolean;
  /** Buffer `data`; flushes when the buffer is full. */
  push(data: Buffer): void;
  /** Append the buffered chunks to the file. */
  flush(): void;
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
