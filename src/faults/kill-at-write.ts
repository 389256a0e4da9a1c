// Fault injection, loaded with `node --import <this file>`: counts the process's file-system
// writes (creating, writing, syncing, renaming, removing, truncating) and SIGKILLs the process
// just before the N-th one, i.e. between any two writes, including the writes of a checkpoint.
//
//   SYMTELE_FAULT_KILL_AT=N     kill before the N-th counted write (unset: only count)
//   SYMTELE_FAULT_MATCH=regex   count towards N only writes whose path matches (e.g. `ckpt-`)
//   SYMTELE_FAULT_COUNT_FILE=f  at exit, write {"all": writes, "matched": matching writes} to f
//   SYMTELE_FAULT_ENOSPC=1      at the N-th write throw ENOSPC (a full disk) instead of killing
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const killAt = Number(process.env.SYMTELE_FAULT_KILL_AT ?? 0);
const match = process.env.SYMTELE_FAULT_MATCH ? new RegExp(process.env.SYMTELE_FAULT_MATCH) : null;
const countFile = process.env.SYMTELE_FAULT_COUNT_FILE;
const diskFull = process.env.SYMTELE_FAULT_ENOSPC === '1';
const real = { ...fs };
const fdPaths = new Map<number, string>();
let all = 0;
let matched = 0;

function write(file: unknown): void {
  const p = typeof file === 'number' ? (fdPaths.get(file) ?? '') : String(file);
  all++;
  if (match && !match.test(p)) return;
  matched++;
  if (matched === killAt && diskFull) {
    // as the kernel reports it; the write itself does not happen
    throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  }
  if (matched === killAt) {
    process.kill(process.pid, 'SIGKILL');
    for (;;); // the signal is on its way; never perform the write
  }
}

type Fn = (...a: unknown[]) => unknown;
const wrap = (name: keyof typeof fs, counted: (a: unknown[]) => boolean = () => true) => {
  const f = real[name] as Fn;
  (fs as unknown as Record<string, Fn>)[name] = (...a: unknown[]) => {
    if (counted(a)) write(a[0]);
    return f(...a);
  };
};

const writes = (flags: unknown) => typeof flags === 'string' && /[wax+]/.test(flags);
const openSync = real.openSync as Fn;
(fs as unknown as Record<string, Fn>).openSync = (...a: unknown[]) => {
  if (writes(a[1])) write(a[0]);
  const fd = openSync(...a) as number;
  fdPaths.set(fd, String(a[0]));
  return fd;
};
for (const name of ['writeSync', 'writeFileSync', 'appendFileSync', 'renameSync', 'linkSync', 'symlinkSync', 'rmSync', 'unlinkSync', 'rmdirSync', 'mkdirSync', 'truncateSync', 'ftruncateSync', 'fsyncSync', 'fdatasyncSync'] as const) {
  wrap(name);
}
syncBuiltinESMExports();

if (countFile) process.on('exit', () => real.writeFileSync(countFile, JSON.stringify({ all, matched })));
