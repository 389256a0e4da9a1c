// `--backend auto`: the fastest installed backend for the job, from measured figures, not a
// guess. SPEED_TABLE (speed-table.ts) holds, per native backend and job kind, the measured
// throughput of that backend divided by wasm's in the same `npm run bench` run; `npm run bench
// -- --write-table` measures and rewrites it. A native backend is chosen only where it was
// measured at least MARGIN times faster than wasm, so that noise in the table cannot make a job
// slower on auto than on wasm; jobs the table does not cover run on wasm.
import { SPEED_TABLE, type SpeedTable } from './speed-table.js';

/** The kinds of job the table has figures for (each is a section of `npm run bench`). */
export type JobKind = 'metaTrain' | 'gdStep' | 'classifierEpoch' | 'teleport';

export interface Job {
  kind: JobKind;
  /** Meta-training: trajectories per batch (B); a classifier epoch: models trained in lockstep. */
  batch?: number;
}

export const JOB_LABELS: Record<JobKind, string> = {
  metaTrain: 'meta-training LSTM(update,tele)',
  gdStep: 'GD step of the 20x20 problem',
  classifierEpoch: 'MNIST classifier lockstep epoch',
  teleport: 'MNIST teleport',
};

/** How much faster than wasm a native backend must have measured to be chosen. */
export const MARGIN = 1.2;

/**
 * The measured speed-up of `backend` over wasm for a job, or undefined where not measured.
 * Meta-training and classifier lockstep epochs are measured at a few batch sizes (trajectories,
 * models): a batch between them takes the figure of the largest measured batch not above it
 * (the speed-up grows with the batch), and a batch below every measured one has no figure.
 */
export function measuredSpeedup(backend: string, job: Job, table: SpeedTable = SPEED_TABLE): number | undefined {
  const row = table.speedup[backend];
  if (row === undefined) return undefined;
  const entry = row[job.kind];
  if (typeof entry === 'number' || entry === undefined) return entry;
  const b = job.batch ?? 1;
  const below = Object.keys(entry)
    .map(Number)
    .filter((m) => m <= b)
    .sort((p, q) => q - p);
  return below.length > 0 ? entry[String(below[0])] : undefined;
}

/** The backend auto picks for a job among the available ones (wasm when none beats it by MARGIN). */
export function chooseBackend<B extends string>(available: readonly B[], job: Job | undefined, table: SpeedTable = SPEED_TABLE): B | 'wasm' {
  let best: B | 'wasm' = 'wasm';
  let bestSpeedup = MARGIN;
  if (job === undefined) return best;
  for (const b of available) {
    if (b === 'wasm') continue;
    const s = measuredSpeedup(b, job, table);
    if (s !== undefined && s >= bestSpeedup) {
      best = b;
      bestSpeedup = s;
    }
  }
  return best;
}
