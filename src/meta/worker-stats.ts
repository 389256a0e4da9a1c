// Per-worker figures of meta-training with a worker pool: how fast each worker computes its
// shards and how stale its estimates were, from the windows' shard logs (src/meta/train.ts).
import type { WindowLog } from './train.js';

export interface WorkerStats {
  /** Trajectories per second of its own compute time: sum of (shard trajectories x window steps / trajectory length) over the seconds it took. */
  trajectoriesPerSecond: number;
  /** Windows (shard estimates) it computed. */
  estimates: number;
  /** Largest staleness of its estimates (absent in synchronous pools). */
  maxStaleness?: number;
}

/** Figures per worker over `windows`, in order of first appearance. */
export function workerStats(windows: readonly WindowLog[], trajectoryLength: number): Map<string, WorkerStats> {
  const acc = new Map<string, { units: number; seconds: number; estimates: number; stale?: number }>();
  for (const w of windows) {
    const steps = w.meanLoss.length;
    for (const s of w.shards ?? []) {
      const a = acc.get(s.worker) ?? { units: 0, seconds: 0, estimates: 0 };
      a.units += (s.trajectories * steps) / trajectoryLength;
      a.seconds += s.seconds;
      a.estimates++;
      if (s.staleness !== undefined) a.stale = Math.max(a.stale ?? 0, s.staleness);
      acc.set(s.worker, a);
    }
  }
  const out = new Map<string, WorkerStats>();
  for (const [k, a] of acc) {
    out.set(k, { trajectoriesPerSecond: a.units / a.seconds, estimates: a.estimates, ...(a.stale !== undefined ? { maxStaleness: a.stale } : {}) });
  }
  return out;
}

/** "thread 1 2.10/s, thread 2 2.05/s (stale <= 1)" for a progress line. */
export const workerLine = (stats: Map<string, WorkerStats>): string =>
  [...stats]
    .map(([k, s]) => `${k} ${s.trajectoriesPerSecond.toFixed(2)}/s${s.maxStaleness !== undefined ? ` (stale <= ${s.maxStaleness})` : ''}`)
    .join(', ');
