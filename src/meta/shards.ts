// Shards: the learner splits each batch of trajectories into fixed shards (contiguous runs of
// the batch's ids) and asks a ShardPool for one estimate per shard per window. The pool keeps
// each shard's trajectories (inner parameters, optimizer and estimator state) where they are
// computed; only meta-parameters go out and estimates come back. `localShards` runs every
// shard in this process; worker-thread and queue pools implement the same interface.
import type { TaskFamily } from '../tasks/task.js';
import type { Task } from '../tasks/task.js';
import type { Estimate, GradientEstimator, ShardContext } from './estimator.js';
import type { MetaParams } from './params.js';

/** Split a batch's ids into `n` contiguous shards of near-equal size (empty shards dropped). */
export function shardIds(ids: readonly number[], n: number): number[][] {
  const k = Math.max(1, Math.min(n, ids.length));
  const out: number[][] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(ids.length / k) + (i < ids.length % k ? 1 : 0);
    out.push(ids.slice(start, start + size));
    start += size;
  }
  return out;
}

export interface BatchSpec {
  seed: number;
  batch: number;
  shards: number[][];
}

export interface ShardPool {
  /** Start a batch: sample each shard's problems and start its trajectories under `meta`. */
  begin(spec: BatchSpec, meta: MetaParams): Promise<void>;
  /** One window of `length` steps on every shard under meta-parameters of version `version`; estimates in shard order. */
  window(meta: MetaParams, version: number, length: number): Promise<Estimate[]>;
  /** Drop the batch's trajectories. */
  end(): Promise<void>;
  close(): Promise<void>;
}

/** What a worker needs to run shards: where problems come from and how estimates are made. */
export interface ShardWorkerParts {
  family: TaskFamily;
  estimator: GradientEstimator;
}

/** A synchronous shard runner over one or more shards: the unit a worker thread or queue worker hosts. */
export class ShardRunner {
  private shards: { task: Task; state: unknown }[] = [];
  constructor(private readonly parts: ShardWorkerParts) {}

  begin(ctx: ShardContext[], meta: MetaParams): void {
    this.end();
    this.shards = ctx.map((c) => {
      const task = this.parts.family.sample(c.seed, 'train', c.ids);
      return { task, state: this.parts.estimator.init(meta, task, c) };
    });
  }

  window(meta: MetaParams, length: number): Estimate[] {
    return this.shards.map((s) => {
      const t0 = performance.now();
      const r = this.parts.estimator.estimate(meta, s.task, s.state, length);
      s.state = r.state;
      return { ...r.estimate, seconds: (performance.now() - t0) / 1000 };
    });
  }

  end(): void {
    for (const s of this.shards) {
      this.parts.estimator.dispose(s.state);
      s.task.dispose();
    }
    this.shards = [];
  }
}

/** Every shard in this process, in shard order. */
export function localShards(parts: ShardWorkerParts): ShardPool {
  const runner = new ShardRunner(parts);
  return {
    begin: async (spec, meta) => runner.begin(spec.shards.map((ids) => ({ seed: spec.seed, batch: spec.batch, ids })), meta),
    window: async (meta, _version, length) => runner.window(meta, length),
    end: async () => runner.end(),
    close: async () => runner.end(),
  };
}

