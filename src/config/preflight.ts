// Checks of a decoded config that depend on the machine, run before any work by both
// `symtele config check` and the commands themselves: output paths that can be written, and
// sizes whose estimated memory and time fit. Problems are lines `field: what is wrong`, thrown
// together as one ConfigError.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './codec.js';
import type { Preflight } from './registry.js';

/** What a path will be: a folder the run creates (or fills), or a file it writes. */
export type OutputKind = 'dir' | 'file';

export interface OutputPath {
  /** The config field or flag that names it (`checkpointDir`, `--json`). */
  field: string;
  /** undefined: not asked for (an unset flag), nothing to check */
  path: string | undefined;
  kind: OutputKind;
}

const statOrNull = (p: string): fs.Stats | null => {
  try {
    return fs.statSync(p);
  } catch {
    return null; // absent, or under a file (ENOTDIR): the walk up finds which
  }
};

const writable = (dir: string): boolean => {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Kernel file systems whose folders pass the access check (as root) but take no new files:
 * a mkdir there fails, and Node's recursive mkdir spins on the failure for good.
 */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x1cd1: 'devpts',
  0x62656570: 'configfs',
  0xcafe4a11: 'bpf',
  0x6165676c: 'pstore',
};

/** The kernel file system `dir` is on, when it is one that takes no files (else null). */
export function pseudoFileSystem(dir: string): string | null {
  try {
    return PSEUDO_FS[fs.statfsSync(dir).type] ?? null;
  } catch {
    return null;
  }
}

/** Why files cannot be made in the existing directory `dir`, or null. */
const notWritable = (dir: string): string | null => {
  const pseudo = pseudoFileSystem(dir);
  if (pseudo !== null) return `${dir} is on a ${pseudo} file system, where no files can be made`;
  return writable(dir) ? null : `${dir} is not writable`;
};

/**
 * Why `o.path` cannot be written, or null. Looks at the path, else walks up to its nearest
 * existing ancestor, which must be a writable directory; creates nothing.
 */
export function outputPathProblem(o: OutputPath): string | null {
  if (o.path === undefined) return null;
  const target = path.resolve(o.path);
  const own = statOrNull(target);
  if (own !== null) {
    if (o.kind === 'dir' && !own.isDirectory()) return `${o.field}: ${o.path} is a file, expected a directory`;
    if (o.kind === 'file' && own.isDirectory()) return `${o.field}: ${o.path} is a directory, expected a file`;
    // a file is replaced by a rename in its directory (atomic writes), so the directory counts
    const dir = o.kind === 'dir' ? target : path.dirname(target);
    const why = notWritable(dir);
    return why === null ? null : `${o.field}: ${why}`;
  }
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    const st = statOrNull(dir);
    if (st !== null && !st.isDirectory()) return `${o.field}: ${o.path} is under ${dir}, which is a file, not a directory`;
    if (st !== null) {
      const why = notWritable(dir);
      return why === null ? null : `${o.field}: ${o.path} cannot be created, ${why}`;
    }
    if (path.dirname(dir) === dir) return `${o.field}: ${o.path} has no existing ancestor`;
  }
}

/** The problems of every output path. */
export const outputPathProblems = (outputs: readonly OutputPath[]): string[] =>
  outputs.map(outputPathProblem).filter((p): p is string => p !== null);

/** A run's estimated memory (the part that grows with its sizes) and work, and what each is made of (lines for messages). */
export interface Estimate {
  bytes: number;
  seconds: number;
  /** e.g. "held-out records: 2.02e+3 entries x 18.2 B = 35.9 KiB" */
  memory: string[];
  /** e.g. "meta-training: 4.02 min for 3 variant(s) x 1 meta-seed(s)" */
  time: string[];
}

/** Refused above: this fraction of the machine's memory, and this much work. */
export interface Limits {
  bytes: number;
  seconds: number;
}

/** Half the machine's memory (the rest: tfjs, the OS, other jobs); 30 days of work. */
export const defaultLimits = (): Limits => ({ bytes: os.totalmem() / 2, seconds: 30 * 86400 });

export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return `${b >= 100 || i === 0 ? b.toFixed(0) : b.toPrecision(3)} ${units[i]}`;
}

export function formatDuration(s: number): string {
  if (s < 120) return `${s.toPrecision(2)} s`;
  if (s < 7200) return `${(s / 60).toPrecision(3)} min`;
  if (s < 2 * 86400) return `${(s / 3600).toPrecision(3)} h`;
  if (s < 2 * 365 * 86400) return `${(s / 86400).toPrecision(3)} days`;
  return `${(s / (365 * 86400)).toPrecision(3)} years`;
}

/** The estimate for `config check`: totals and their parts. */
export const describeEstimate = (e: Estimate): string =>
  [`estimate: memory that grows with the sizes ~${formatBytes(e.bytes)} (on top of the process's own), work ~${formatDuration(e.seconds)}`, ...e.memory, ...e.time].join('\n  ');

/** The estimate's problems against the limits, each with the estimate and its parts in it. */
export function estimateProblems(e: Estimate, limits: Limits = defaultLimits()): string[] {
  const out: string[] = [];
  if (!(e.bytes <= limits.bytes)) {
    out.push(`sizes: an estimated ${formatBytes(e.bytes)} of memory, above the ${formatBytes(limits.bytes)} allowed (half of this machine's): ${e.memory.join('; ')}`);
  }
  if (!(e.seconds <= limits.seconds)) {
    out.push(`sizes: an estimated ${formatDuration(e.seconds)} of work, above the ${formatDuration(limits.seconds)} allowed: ${e.time.join('; ')}`);
  }
  return out;
}

/** Throw every problem (a line, or a message at a dotted path) as one ConfigError of `source`; nothing when there are none. */
export function throwProblems(source: string, problems: ReadonlyArray<string | { path: string; message: string }>): void {
  if (problems.length > 0) throw new ConfigError(source, problems.map((p) => (typeof p === 'string' ? p : `${p.path}: ${p.message}`)));
}

/** The preflight of a config whose checks before work are its output paths (named by `outputs`). */
export const outputsPreflight =
  <A>(outputs: (value: A, flags: Readonly<Record<string, unknown>>) => OutputPath[]): Preflight<A> =>
  (value, source, flags = {}) => {
    throwProblems(source, outputPathProblems(outputs(value, flags)));
    return '';
  };

/** The preflight of a config whose one output is the folder `out`. */
export const outDirPreflight = outputsPreflight((c: { out: string }) => [{ field: 'out', path: c.out, kind: 'dir' }]);
