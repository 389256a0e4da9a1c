// A meta-training study as one resumable run: `study.json` in the run's checkpoint directory
// lists every unit (learned variant x meta-seed) with its state. A resumed study skips the
// units that are done (their trained parameters come from their checkpoints), continues the one
// that was running from its newest intact checkpoint, starts the rest, then evaluates: the
// results are those of an uninterrupted run. Written atomically at every change of state.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeAtomic, sweepTrash, writeJsonAtomic } from '../run/atomic.js';
import { firstDifference, pick } from '../config/diff.js';
import { hasCheckpoint } from './checkpoint.js';
import type { MetaExperiment } from './config.js';
import { checkpointDirOf, heldoutLogDirOf, unitLogDirOf } from './paths.js';
import { logdirOfAnotherRun, markLogdir } from './run-dirs.js';

export const STUDY_FILE = 'study.json';
const STUDY_FORMAT = 'symtele-meta-study';
const STUDY_VERSION = 1;

export type UnitState = 'pending' | 'running' | 'done';

export interface StudyUnit {
  label: string;
  metaSeed: number;
  state: UnitState;
  /** Outer batches of the unit's training. */
  batches: number;
  /** Of the process that finished the unit (its trajectories/s). */
  seconds?: number;
  trajectories?: number;
}

export interface StudyManifest {
  format: string;
  version: number;
  /** The experiment as decoded: a resume must use the same one. */
  config: MetaExperiment;
  units: StudyUnit[];
  evaluated: boolean;
  /** Names this run (kept on resume, new on a fresh start): the jobs of its units on a Redis queue. */
  runId?: string;
}

/** How a run treats an earlier run in its directory. */
export type StartMode = 'new' | 'resume' | 'fresh';

export class StudyError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'StudyError';
  }
}

export interface Study {
  readonly root: string;
  readonly runId: string;
  readonly units: readonly StudyUnit[];
  unit(label: string, metaSeed: number): StudyUnit;
  /** Change a unit and write the manifest. */
  update(label: string, metaSeed: number, patch: Partial<StudyUnit>): void;
  markEvaluated(): void;
}

const file = (root: string) => path.join(root, STUDY_FILE);

export function readStudy(root: string): StudyManifest | null {
  const f = file(root);
  if (!fs.existsSync(f)) return null;
  let m: StudyManifest;
  try {
    m = JSON.parse(fs.readFileSync(f, 'utf8')) as StudyManifest;
  } catch (e) {
    throw new StudyError(
      `${f} is corrupt: ${(e as Error).message}. Remove it and run again with --resume (each unit goes on from its own checkpoints, none is lost), or start over with --fresh`,
    );
  }
  if (m?.format !== STUDY_FORMAT || m.version !== STUDY_VERSION) {
    throw new StudyError(`${f} is not a study manifest this build reads (format ${JSON.stringify(m?.format)}, version ${m?.version})`);
  }
  return m;
}

const progress = (units: readonly StudyUnit[]) => `${units.filter((u) => u.state === 'done').length} of ${units.length} units done`;

/**
 * Remove what an earlier run wrote for these units: the manifest first (a crash part-way leaves
 * no run to resume, only whole unit directories that a new run replaces), then each unit's
 * checkpoints and logs, each removed whole.
 */
function clearUnits(exp: MetaExperiment, units: readonly Pick<StudyUnit, 'label' | 'metaSeed'>[]): void {
  fs.rmSync(file(exp.checkpointDir), { force: true });
  for (const u of units) {
    for (const dir of [checkpointDirOf(exp.checkpointDir, u.label, u.metaSeed), unitLogDirOf(exp.logdir, u.label, u.metaSeed), heldoutLogDirOf(exp.logdir, u.label)]) removeAtomic(dir);
  }
}

/**
 * Open the study of `exp` in its checkpoint directory. `new` refuses a directory that holds a
 * run (naming the flags that continue or replace it); `resume` continues the run there (or
 * starts one when there is none, saying so); `fresh` removes the earlier run's units first.
 */
export function openStudy(
  exp: MetaExperiment,
  planned: readonly Pick<StudyUnit, 'label' | 'metaSeed' | 'batches'>[],
  mode: StartMode,
  log: (line: string) => void = () => {},
): Study {
  const root = exp.checkpointDir;
  // what a process killed mid-delete left (TensorBoard would show a half-removed run as a run)
  for (const u of planned) {
    for (const d of [checkpointDirOf(root, u.label, u.metaSeed), unitLogDirOf(exp.logdir, u.label, u.metaSeed)]) sweepTrash(path.dirname(d));
  }
  const earlier = mode === 'fresh' ? null : readStudy(root);
  const leftovers = planned.filter((u) => hasCheckpoint(checkpointDirOf(root, u.label, u.metaSeed)));
  let units: StudyUnit[];
  if (mode === 'new' && (earlier || leftovers.length > 0)) {
    const what = earlier ? `a run (${progress(earlier.units)})` : `checkpoints of ${leftovers.map((u) => `${u.label} seed ${u.metaSeed}`).join(', ')}`;
    throw new StudyError(`${root} (checkpointDir) holds ${what}: continue it with --resume, or start over with --fresh (removes it)`);
  }
  if (earlier && mode === 'resume') {
    const d = firstDifference(earlier.config, exp);
    if (d) {
      throw new StudyError(
        `${file(root)}: the run was started with another config: ${d} was ${JSON.stringify(pick(earlier.config, d))}, now ${JSON.stringify(pick(exp, d))} ` +
          '(resume with the same config, or start over with --fresh)',
      );
    }
    units = earlier.units;
    log(`resuming ${root}: ${progress(units)}`);
  } else {
    const other = mode === 'fresh' ? null : logdirOfAnotherRun(exp, planned);
    if (other) throw new StudyError(other);
    if (mode === 'fresh') clearUnits(exp, planned);
    else if (mode === 'resume') log(`nothing to resume in ${root}: starting the run`);
    units = planned.map((u) => ({ ...u, state: 'pending' }));
  }
  const kept = earlier && mode === 'resume' ? earlier : null;
  const runId = kept?.runId ?? randomBytes(8).toString('hex');
  const manifest: StudyManifest = { format: STUDY_FORMAT, version: STUDY_VERSION, config: exp, units, evaluated: kept?.evaluated ?? false, runId };
  const save = () => writeJsonAtomic(file(root), manifest);
  save();
  markLogdir(exp);
  const unit = (label: string, metaSeed: number) => {
    const u = units.find((x) => x.label === label && x.metaSeed === metaSeed);
    if (!u) throw new Error(`no unit ${label} seed ${metaSeed} in ${file(root)}`);
    return u;
  };
  return {
    root,
    runId,
    units,
    unit,
    update(label, metaSeed, patch) {
      Object.assign(unit(label, metaSeed), patch);
      save();
    },
    markEvaluated() {
      manifest.evaluated = true;
      save();
    },
  };
}
