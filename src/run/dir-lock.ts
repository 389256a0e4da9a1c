// A lock so that two processes never write the same checkpoint directory: a `.lock` file
// holding the owner's pid and host, created whole (written to a temporary file, then hard-linked
// to the lock's name, which fails if it exists): a process killed while taking it never leaves
// a half-written lock. A lock whose pid is dead on this host is stale and is taken over; a live
// one (or one from another host, which cannot be checked) is an error naming the directory and
// the holder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeDirs } from '../run/atomic.js';

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

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
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

/** Create `file` holding `info`, whole, unless it exists (then false). */
function createWhole(file: string, info: LockInfo): boolean {
  const tmp = `${file}.${info.nonce}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info));
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Temporaries of processes that died between writing a lock and linking it. */
function sweepTemporaries(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    if (!/^\.lock\.[0-9a-f]+\.tmp$/.test(f)) continue;
    try {
      if (Date.now() - fs.statSync(path.join(dir, f)).mtimeMs > 60_000) fs.rmSync(path.join(dir, f), { force: true });
    } catch {
      // removed meanwhile
    }
  }
}

/** Lock `dir` (created if missing) for this process until `release()` or exit. */
export function lockDir(dir: string): DirLock {
  makeDirs(dir);
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createWhole(file, me)) {
      sweepTemporaries(dir);
      const release = () => {
        if (readLock(file)?.nonce === me.nonce) fs.rmSync(file, { force: true });
        process.removeListener('exit', release);
      };
      process.on('exit', release);
      return { dir, release };
    }
    const holder = readLock(file);
    if (holder && (holder.host !== me.host || pidAlive(holder.pid))) throw new DirLockedError(dir, holder);
    // stale (its pid is dead) or unreadable (damaged: locks are created whole): move it aside,
    // then check we moved what we judged
    const aside = `${file}.stale.${me.nonce}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = readLock(aside);
    if (moved && moved.nonce !== holder?.nonce) {
      // a fresh lock was taken between our read and the rename: put it back
      fs.renameSync(aside, file);
      throw new DirLockedError(dir, moved);
    }
    fs.rmSync(aside, { force: true });
  }
  throw new Error(`${dir}: could not take the lock ${LOCK_FILE} (contended)`);
}
