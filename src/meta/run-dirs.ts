// What a meta-training run finds in its directories before it writes there, and the advice its
// refusals give: a logdir that holds another run's logs is not overwritten unasked, and a unit
// whose checkpoints are damaged can be trained again alone.
import fs from 'node:fs';
import path from 'node:path';
import { removeAtomic, writeJsonAtomic } from '../run/atomic.js';
import { SLOT_TEMPORARY, newestManifest, slots } from '../run/checkpoint.js';
import { eventFiles } from '../logging/tensorboard.js';
import { CheckpointError, hasCheckpoint } from './checkpoint.js';
import type { MetaExperiment } from './config.js';
import { checkpointDirOf, unitLogDirOf } from './paths.js';
import { JSONL_FILE } from './unit-logs.js';
import { pidAlive } from '../run/dir-lock.js';

type UnitKey = { label: string; metaSeed: number };

/** The files of `logdir` a new run of these units would replace (its results, its units' logs). */
export function runLogsIn(logdir: string, units: readonly UnitKey[]): string[] {
  const found = ['results.json', 'summary.md'].map((f) => path.join(logdir, f)).filter((f) => fs.existsSync(f));
  for (const u of units) {
    const dir = unitLogDirOf(logdir, u.label, u.metaSeed);
    found.push(...eventFiles(dir), ...[path.join(dir, JSONL_FILE)].filter((f) => fs.existsSync(f)));
  }
  return found;
}

/** In a logdir: the checkpointDir of the run whose logs it holds. */
export const RUN_MARK = '.run.json';

const markOf = (logdir: string): string | null => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(logdir, RUN_MARK), 'utf8')) as { checkpointDir?: string }).checkpointDir ?? null;
  } catch {
    return null; // none (or a damaged one: then the checkpoints decide)
  }
};

/**
 * Why a run must not write to `exp.logdir`, or null: the logs there belong to another run,
 * which this one would delete. They do when the logdir's mark names another checkpointDir, or,
 * without a mark, when none of these units has a checkpoint in this checkpointDir.
 */
export function logdirOfAnotherRun(exp: MetaExperiment, units: readonly UnitKey[]): string | null {
  const mark = markOf(exp.logdir);
  const ours = mark !== null ? mark === path.resolve(exp.checkpointDir) : units.some((u) => hasCheckpoint(checkpointDirOf(exp.checkpointDir, u.label, u.metaSeed)));
  if (ours) return null;
  const found = runLogsIn(exp.logdir, units);
  if (found.length === 0) return null;
  const shown = found.slice(0, 3).map((f) => path.relative(exp.logdir, f)).join(', ') + (found.length > 3 ? ` (+${found.length - 3})` : '');
  return (
    `${exp.logdir} (logdir) holds the logs of another run${mark ? ` (checkpointDir ${mark})` : ''}: ${shown}; this run (checkpointDir ${exp.checkpointDir}) would replace them. ` +
    'Set another logdir for this run, or start over with --fresh (replaces them)'
  );
}

/** Mark `exp.logdir` as holding the logs of the run in `exp.checkpointDir`. */
export const markLogdir = (exp: MetaExperiment): void => writeJsonAtomic(path.join(exp.logdir, RUN_MARK), { checkpointDir: path.resolve(exp.checkpointDir) });

/** The `--retrain-unit` value that names a unit. */
export const unitKey = (label: string, metaSeed: number): string => `${label}#${metaSeed}`;

/** Parse `<label>#<seed>` against the run's units (an error lists them). */
export function parseUnitKey(key: string, units: readonly UnitKey[]): UnitKey {
  const u = units.find((x) => unitKey(x.label, x.metaSeed) === key);
  if (!u) throw new Error(`--retrain-unit ${key}: no such unit; the run's units are ${units.map((x) => unitKey(x.label, x.metaSeed)).join(', ')}`);
  return u;
}

/** A checkpoint error of one unit gets what to do: train that unit again alone, the others kept. */
export function withRetrainAdvice(e: unknown, label: string, metaSeed: number): unknown {
  if (e instanceof CheckpointError && !e.message.includes('--retrain-unit')) {
    e.message += `. Train this unit again from the start, keeping the other units, with: --resume --retrain-unit '${unitKey(label, metaSeed)}'`;
  }
  return e;
}

/** Remove a unit's checkpoints and logs (each whole), so that it trains again from the start. */
export function retrainUnit(exp: MetaExperiment, u: UnitKey): void {
  for (const dir of [checkpointDirOf(exp.checkpointDir, u.label, u.metaSeed), unitLogDirOf(exp.logdir, u.label, u.metaSeed)]) removeAtomic(dir);
}

/**
 * Where `meta eval` writes its report: the logdir, unless its results.json holds the results of
 * other held-out problems or other variants (a training run's), which are kept; then a folder in
 * it named after the evaluation. `why` says so.
 */
export function evalLogdir(exp: MetaExperiment, labels: readonly string[]): { logdir: string; why?: string } {
  const file = path.join(exp.logdir, 'results.json');
  let earlier: { heldout?: { seed?: number; trajectories?: number; steps?: number }; variants?: Record<string, unknown> };
  try {
    earlier = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof earlier;
  } catch {
    return { logdir: exp.logdir }; // none (or unreadable: nothing to keep)
  }
  const h = earlier.heldout ?? {};
  const same =
    h.seed === exp.seed &&
    h.trajectories === exp.heldout.trajectories &&
    h.steps === exp.heldout.steps &&
    JSON.stringify(Object.keys(earlier.variants ?? {})) === JSON.stringify(labels);
  if (same) return { logdir: exp.logdir };
  const logdir = path.join(exp.logdir, `eval-seed${exp.seed}-${exp.heldout.trajectories}x${exp.heldout.steps}-${labels.length}variants`);
  return { logdir, why: `${file} holds other held-out results (seed ${h.seed}, ${h.trajectories} trajectories x ${h.steps} steps, variants ${Object.keys(earlier.variants ?? {}).join(', ')}), kept: this evaluation writes to ${logdir}` };
}

/** Temporaries of atomic writes, deletes and checkpoint slots, with the pid of their writer. */
const TEMPORARY = [SLOT_TEMPORARY, /^\..+\.trash\.(\d+)\.[0-9a-f]+\.tmp$/, /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/];


/**
 * What killed processes left in a run's folders: temporaries of writers that are gone (orphan
 * slots, trash, atomic writes' temporaries) and, in a finished unit, slots older than its final one.
 */
export function leftovers(exp: MetaExperiment, units: readonly UnitKey[], extraDirs: readonly string[] = []): string[] {
  const dead = (f: string) => {
    const pid = TEMPORARY.map((re) => re.exec(f)?.[1]).find((p) => p !== undefined);
    return pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid));
  };
  const inDir = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter(dead).map((f) => path.join(dir, f)) : []);
  const out = [exp.checkpointDir, exp.logdir, ...extraDirs].flatMap(inDir);
  for (const u of units) {
    const ck = checkpointDirOf(exp.checkpointDir, u.label, u.metaSeed);
    out.push(...inDir(ck), ...inDir(path.dirname(ck)), ...inDir(unitLogDirOf(exp.logdir, u.label, u.metaSeed)));
    const committed = slots(ck);
    if (committed.length > 1 && newestManifest(ck)?.final === true) out.push(...committed.slice(1));
  }
  return [...new Set(out)];
}

/** Remove the leftovers of killed processes (see leftovers). */
export function sweepLeftovers(exp: MetaExperiment, units: readonly UnitKey[], extraDirs: readonly string[] = []): void {
  for (const f of leftovers(exp, units, extraDirs)) fs.rmSync(f, { recursive: true, force: true });
}
