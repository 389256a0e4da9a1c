// A lock so that two processes never write the same checkpoint directory: a `.lock` file
// created exclusively, holding the owner's pid and host. A lock whose pid is dead on this host
// is stale and is taken over; a live one (or one from another host, which cannot be checked)
// is an error naming the directory and the holder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export class DirLockedError extends Error {
  constructor(readonly dir: string, readonly holder: LockInfo) {
    super(
      `${dir} is in use by pid ${holder.pid} on ${holder.host} since ${holder.since} ` +
        `(another training writes there: stop it or use another directory)`,
    );
    this.name = 'DirLockedError';
  }
}

export interface LockInfo {
  pid: number;
  host: string;
  since: string;
  nonce: string;
}

export interface DirLock {
  readonly dir: string;
  release(): void;
}

const LOCK_FILE = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null; // gone, or half-written by a process that died while creating it
  }
}

/** A lock file written moments ago may be unreadable only because its writer is mid-write. */
function fresh(file: string): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs < 2000;
  } catch {
    return false;
  }
}

/** Lock `dir` (created if missing) for this process until `release()` or exit. */
export function lockDir(dir: string): DirLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      const release = () => {
        if (readLock(file)?.nonce === me.nonce) fs.rmSync(file, { force: true });
        process.removeListener('exit', release);
      };
      process.on('exit', release);
      return { dir, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readLock(file);
    if (!holder && fresh(file)) throw new Error(`${dir}: another process is taking the lock ${LOCK_FILE} right now`);
    if (holder && (holder.host !== me.host || alive(holder.pid))) throw new DirLockedError(dir, holder);
    // stale (its pid is dead) or unreadable: move it aside, then check we moved what we judged
    const aside = `${file}.stale.${me.nonce}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = readLock(aside);
    if (holder && moved?.nonce !== holder.nonce) {
      // a fresh lock was taken between our read and the rename: put it back
      fs.renameSync(aside, file);
      throw new DirLockedError(dir, moved ?? holder);
    }
    fs.rmSync(aside, { force: true });
  }
  throw new Error(`${dir}: could not take the lock ${LOCK_FILE} (contended)`);
}
