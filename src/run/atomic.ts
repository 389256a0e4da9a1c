/**
 * Atomic file replacement for checkpoints and results.
 *
 * `writeFileAtomic` writes to a temporary file in the destination's directory, fsyncs it,
 * renames it over the destination (atomic on POSIX file systems) and fsyncs the directory, so
 * a reader sees either the old content or the new one, never a torn file. On failure the
 * temporary file is removed and the destination is left untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of a newly created file (default 0o644, before umask). */
  mode?: number;
  /** Create the parent directory if missing (default true). */
  mkdir?: boolean;
}

/** Atomically replace (or create) `file` with `data` (strings are written as UTF-8). */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  if (options.mkdir ?? true) {
    try {
      makeDirs(dir);
    } catch (e) {
      throw new Error(`cannot write "${target}": cannot create directory "${dir}": ${(e as Error).message}`, { cause: e });
    }
  }
  // Hidden name ending in .tmp (ignored by git); unique per process and call.
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd = -1;
  try {
    fd = fs.openSync(tmp, 'wx', options.mode ?? 0o644);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd >= 0) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; keep the first error
      }
    }
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot write "${target}" atomically: ${(e as Error).message}`, { cause: e });
  }
  fsyncDir(dir);
}

/** Atomically write `value` as JSON (2-space indent by default) followed by a newline. */
export function writeJsonAtomic(file: string, value: unknown, options: AtomicWriteOptions & { indent?: number } = {}): void {
  const text = JSON.stringify(value, null, options.indent ?? 2);
  if (text === undefined) throw new Error(`cannot write "${file}": value is not JSON-serialisable`);
  writeFileAtomic(file, text + '\n', options);
}

/**
 * Remove a file or directory tree so that a crash never leaves half of it: it is renamed to a
 * `.tmp` sibling (one atomic step: the path is whole or gone), then deleted. Leftovers of a
 * crash are swept by {@link sweepTrash}.
 */
export function removeAtomic(target: string): void {
  if (!fs.existsSync(target)) return;
  const trash = path.join(path.dirname(target), `.${path.basename(target)}.trash.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  fs.renameSync(target, trash);
  fsyncDir(path.dirname(target));
  fs.rmSync(trash, { recursive: true, force: true });
}

/** Delete what {@link removeAtomic} left in `dir` when its process died mid-delete. */
export function sweepTrash(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) if (/\.trash\.\d+\.[0-9a-f]+\.tmp$/.test(f)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}

/**
 * `mkdir -p` one level at a time: an error names the folder that could not be made. (Node's
 * recursive mkdir retries for good where a kernel file system such as /proc refuses one.)
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d) && path.dirname(d) !== d; d = path.dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Persist a rename by fsyncing its directory; best effort (not supported everywhere). */
export function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms and file systems refuse to open or fsync a directory.
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/**
 * Write all of `data` to an open file descriptor (fs.writeSync may write less than asked);
 * a failure names the file.
 */
export function writeAll(fd: number, data: Uint8Array, file: string, what: string): void {
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
  } catch (e) {
    throw new Error(`cannot write ${what} "${file}": ${(e as Error).message}`, { cause: e });
  }
}
