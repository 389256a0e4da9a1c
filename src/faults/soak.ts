// The crash soak: a small meta-training study run once without faults, then again and again
// SIGKILLed at random file-system writes (see kill-at-write.ts) and resumed each time until it
// finishes; every finished run must equal the uninterrupted one: the same held-out results,
// the same TensorBoard scalars (no step missing or written twice), the same JSONL records.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import { readJsonl } from '../logging/jsonl.js';
import { eventFiles, readEventFile } from '../logging/tensorboard.js';
import { JSONL_FILE } from '../meta/unit-logs.js';
import { leftovers } from '../meta/run-dirs.js';
import { readStudy } from '../meta/study.js';

export interface SoakOptions {
  /** A meta experiment config (its logdir and checkpointDir are set per run). */
  config: Record<string, unknown>;
  /** Scratch directory. */
  dir: string;
  /** Faults to inject in all. */
  faults: number;
  seed: number;
  /** The CLI entry and the fault preload (default: the built ones next to this file in dist/). */
  cli?: string;
  preload?: string;
  /** Extra arguments of the faulted runs (e.g. `--jobs 2`); the uninterrupted run has none. */
  args?: string[];
  /**
   * The fault: `kill` (SIGKILL at a write, default), `diskFull` (ENOSPC at a write: the run must
   * stop with the resume command), `logDamage` (a kill, then one of the unit's log files cut
   * short, deleted or with a byte flipped before the resume: the results must still match).
   */
  kind?: FaultKind;
  /** Per child process, ms (default 120 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export type FaultKind = 'kill' | 'diskFull' | 'logDamage';

export interface SoakResult {
  /** Processes killed at an injected fault. */
  faults: number;
  /** Faulted runs that were resumed to the end and matched the uninterrupted run. */
  recovered: number;
  /** Faulted runs finished in all (recovered or not). */
  runs: number;
  /** Processes started in all. */
  processes: number;
  /** What differed, per run that did not match. */
  problems: string[];
  /** Files killed processes left behind, counted after every finished run (see meta/run-dirs.ts). */
  leftovers: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));

interface Child {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Writes in all, and those matching SYMTELE_FAULT_MATCH. */
  writes: { all: number; matched: number };
}

function runChild(cli: string, preload: string, configFile: string, extra: string[], env: Record<string, string>, countFile: string, timeoutMs: number): Child {
  fs.rmSync(countFile, { force: true });
  const r = spawnSync(process.execPath, ['--import', preload, cli, 'meta', 'train', '--config', configFile, '--quiet', ...extra], {
    env: { ...process.env, ...env, SYMTELE_FAULT_COUNT_FILE: countFile, SYMTELE_BACKEND: process.env.SYMTELE_BACKEND ?? 'wasm' },
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const writes = fs.existsSync(countFile) ? (JSON.parse(fs.readFileSync(countFile, 'utf8')) as Child['writes']) : { all: 0, matched: 0 };
  return { status: r.status, signal: r.signal, stderr: r.stderr ?? '', writes };
}

/** Everything of a finished run that must not depend on crashes: results, scalars, JSONL. */
export function runRecord(logdir: string): { results: unknown; scalars: string[]; jsonl: string[] } {
  const res = JSON.parse(fs.readFileSync(path.join(logdir, 'results.json'), 'utf8')) as { variants: Record<string, Record<string, unknown>> };
  // wall-clock fields differ between any two runs
  const results = Object.fromEntries(Object.entries(res.variants).map(([k, v]) => [k, { loss: v.loss, gradNormSq: v.gradNormSq }]));
  const scalars: string[] = [];
  const jsonl: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
    const rel = path.relative(logdir, dir);
    for (const f of eventFiles(dir)) {
      for (const ev of readEventFile(f)) for (const v of ev.values) scalars.push(`${rel} ${v.tag} @${ev.step} = ${v.simpleValue ?? '(non-scalar)'}`);
    }
    const jf = path.join(dir, JSONL_FILE);
    if (fs.existsSync(jf)) for (const r of readJsonl(jf)) jsonl.push(`${rel} ${JSON.stringify({ ...(r as object), seconds: undefined })}`);
  };
  walk(logdir);
  return { results, scalars: scalars.sort(), jsonl };
}

/** Differences between a run and the reference, as lines (empty: equal). */
export function compareRuns(ref: ReturnType<typeof runRecord>, got: ReturnType<typeof runRecord>): string[] {
  const out: string[] = [];
  if (JSON.stringify(ref.results) !== JSON.stringify(got.results)) out.push('held-out results differ');
  const seen = new Set<string>();
  for (const s of got.scalars) {
    const key = s.slice(0, s.lastIndexOf(' = '));
    if (seen.has(key)) out.push(`TensorBoard step written twice: ${key}`);
    seen.add(key);
  }
  const missing = ref.scalars.filter((s) => !got.scalars.includes(s));
  if (missing.length) out.push(`TensorBoard scalars missing or different: ${missing.slice(0, 3).join('; ')}${missing.length > 3 ? ` (+${missing.length - 3})` : ''}`);
  const extra = got.scalars.filter((s) => !ref.scalars.includes(s));
  if (extra.length) out.push(`TensorBoard scalars the uninterrupted run does not have: ${extra.slice(0, 3).join('; ')}${extra.length > 3 ? ` (+${extra.length - 3})` : ''}`);
  if (JSON.stringify(ref.jsonl) !== JSON.stringify(got.jsonl)) out.push(`JSONL records differ (${got.jsonl.length} lines, uninterrupted ${ref.jsonl.length})`);
  return out.slice(0, 8);
}

/**
 * Run the soak. Kill points are drawn uniformly over all counted writes of an uninterrupted
 * run, or (every other fault) over the writes into checkpoint slots only, so that kills land
 * between the files of one checkpoint too.
 */
export function soak(o: SoakOptions): SoakResult {
  const log = o.log ?? (() => {});
  const cli = o.cli ?? path.join(here, '..', 'cli', 'main.js');
  const preload = o.preload ?? path.join(here, 'kill-at-write.js');
  const timeoutMs = o.timeoutMs ?? 120_000;
  const rng = seedrandom(String(o.seed));
  fs.mkdirSync(o.dir, { recursive: true });
  const configFor = (name: string) => {
    const file = path.join(o.dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...o.config, logdir: path.join(o.dir, name, 'logs'), checkpointDir: path.join(o.dir, name, 'ckpt') }));
    return file;
  };
  const countFile = path.join(o.dir, 'writes.txt');
  const check = (c: Child, what: string) => {
    if (c.status !== 0) throw new Error(`${what} failed (exit ${c.status}, signal ${c.signal}): ${c.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  };
  // the uninterrupted run, counting all writes and the checkpoint slots' writes
  const SLOTS = 'ckpt-';
  const first = runChild(cli, preload, configFor('reference'), ['--fresh'], { SYMTELE_FAULT_MATCH: SLOTS }, countFile, timeoutMs);
  check(first, 'the uninterrupted run');
  const ref = runRecord(path.join(o.dir, 'reference', 'logs'));
  log(`uninterrupted run: ${first.writes.all} writes, ${first.writes.matched} into checkpoint slots; ${ref.scalars.length} scalars`);

  const result: SoakResult = { faults: 0, recovered: 0, runs: 0, processes: 1, problems: [], leftovers: 0 };
  const kind = o.kind ?? 'kill';
  const faulty = configFor('faulty');
  // a faulted run that got to its end: compared with the uninterrupted one
  const finished = (c: Child, what: string) => {
    check(c, what);
    result.runs++;
    const got = runRecord(path.join(o.dir, 'faulty', 'logs'));
    // damaged logs lose records by design: the results must still be the uninterrupted run's
    const diff = kind === 'logDamage' ? (JSON.stringify(got.results) === JSON.stringify(ref.results) ? [] : ['held-out results differ']) : compareRuns(ref, got);
    const left = runLeftovers(path.join(o.dir, 'faulty'));
    result.leftovers += left.length;
    if (left.length > 0) diff.push(`leftovers: ${left.map((f) => path.basename(f)).join(', ')}`);
    if (diff.length === 0) result.recovered++;
    else result.problems.push(`run ${result.runs}: ${diff.join('; ')}`);
    log(`run ${result.runs} finished after ${result.faults} faults in all: ${diff.length === 0 ? 'equal to the uninterrupted run' : diff.join('; ')}`);
  };
  let fresh = true;
  while (result.faults < o.faults) {
    const inSlots = result.faults % 2 === 1;
    const n = inSlots ? first.writes.matched : first.writes.all;
    const env: Record<string, string> = {
      SYMTELE_FAULT_KILL_AT: String(1 + Math.floor(rng() * n)),
      ...(inSlots ? { SYMTELE_FAULT_MATCH: SLOTS } : {}),
      ...(kind === 'diskFull' ? { SYMTELE_FAULT_ENOSPC: '1' } : {}),
    };
    const c = runChild(cli, preload, faulty, [fresh ? '--fresh' : '--resume', ...(o.args ?? [])], env, countFile, timeoutMs);
    result.processes++;
    fresh = false;
    const stoppedByFullDisk = kind === 'diskFull' && c.status === 1 && /no space left on device[\s\S]*resume with:/.test(c.stderr);
    if (c.signal === 'SIGKILL' || stoppedByFullDisk) {
      result.faults++;
      if (kind === 'logDamage') log(damageLog(path.join(o.dir, 'faulty', 'logs'), rng));
      continue;
    }
    finished(c, 'a resumed run');
    fresh = true;
  }
  // the last run, resumed without faults
  if (!fresh) {
    result.processes++;
    finished(runChild(cli, preload, faulty, ['--resume', ...(o.args ?? [])], {}, countFile, timeoutMs), 'the last resumed run');
  }
  return result;
}

/** Files under a run's folder that killed processes left (temporaries of dead writers, stale slots). */
export function runLeftovers(runDir: string): string[] {
  const study = readStudy(path.join(runDir, 'ckpt'));
  if (!study) return [];
  return leftovers({ ...study.config, checkpointDir: path.join(runDir, 'ckpt'), logdir: path.join(runDir, 'logs') }, study.units);
}

/** Damage one unit log file under `logdir` at random: cut it short, delete it, or flip a byte. */
export function damageLog(logdir: string, rng: () => number): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if ((e.name === JSONL_FILE || e.name.startsWith('events.out.tfevents.')) && !p.includes(`${path.sep}heldout${path.sep}`)) files.push(p);
    }
  };
  walk(logdir);
  if (files.length === 0) return 'no log file to damage yet';
  const f = files[Math.floor(rng() * files.length)]!;
  const size = fs.statSync(f).size;
  const how = Math.floor(rng() * 3);
  if (how === 0) fs.truncateSync(f, Math.floor(rng() * size));
  else if (how === 1) fs.rmSync(f);
  else if (size > 0) {
    const b = fs.readFileSync(f);
    b[Math.floor(rng() * size)] ^= 0xff;
    fs.writeFileSync(f, b);
  }
  return `damaged ${path.relative(logdir, f)}: ${['cut short', 'deleted', 'a byte flipped'][how]}`;
}
