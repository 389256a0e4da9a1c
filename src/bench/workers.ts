// Bench section "workers": meta-training throughput of LSTM(update,tele) (tuned recipe, paper
// task, 100-step trajectories) as data-parallel training is measured: each worker computes its
// own batch of B = 16 trajectories and the learner combines N x B per meta-step. Rows: this
// process alone at B (no threads, no wire), 1 and 2 worker threads, and 2 `symtele worker`
// processes through a loopback redis-server, synchronous and asynchronous (the transport's cost
// against 2 threads, in % of time per batch). One warm-up batch, then the mean of `timed` batches. Figures only.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Section, Figures } from './section.js';
import { resolveLearnedPreset } from '../meta/config.js';
import { initTrainState, trainBatch, disposeTrainState, windows, type MetaTrainState } from '../meta/train.js';
import { buildRunParts, entryRunSpec, type RunSpec } from '../meta/build.js';
import type { ShardPool } from '../meta/shards.js';
import { createShardPool } from '../distributed/workers/index.js';
import { redisMissing, startRedis } from '../distributed/workers/redis-server.js';
import { PAPER_REGRESSION_TASK } from '../tasks/regression.js';

const VARIANT = 'LSTM(update,tele)';

function setup(batch: number, trajectoryLength: number) {
  const p = resolveLearnedPreset(`tuned/${VARIANT}`);
  const train = { ...p.train, batch, trajectories: batch * 8, epochs: 1, trajectoryLength, evalEvery: 0 };
  const spec: RunSpec = entryRunSpec(PAPER_REGRESSION_TASK, { ...p, train });
  return { train, spec };
}

/** Seconds per batch on `pool` split into `shards` shards: mean of `timed` batches after one warm-up. */
async function secondsPerBatch(pool: ShardPool, shards: number, batch: number, trajectoryLength: number, timed: number): Promise<number> {
  const { train, spec } = setup(batch, trajectoryLength);
  const parts = buildRunParts(spec);
  let st: MetaTrainState = initTrainState(parts.learned, parts.family, train);
  st = (await trainBatch(st, train, pool, shards)).state;
  let s = 0;
  for (let i = 0; i < timed; i++) {
    const r = await trainBatch(st, train, pool, shards);
    st = r.state;
    s += r.seconds;
  }
  disposeTrainState(st);
  return s / timed;
}

export const section: Section = {
  name: 'workers',
  async run({ quick }): Promise<Figures> {
    const B = quick ? 8 : 16;
    const T = quick ? 20 : 100;
    const timed = quick ? 1 : 2;
    const { spec } = setup(B, T);
    const perSecond: Record<string, number> = {};
    const seconds: Record<string, number> = {};
    // 0: one batch of B in this process, the baseline of the others; n >= 1: n threads, n x B
    for (const n of [0, 1, 2]) {
      const pool = await createShardPool({ workers: n, spec });
      const batch = B * Math.max(1, n);
      try {
        seconds[String(n)] = await secondsPerBatch(pool, Math.max(1, n), batch, T, timed);
      } finally {
        await pool.close();
      }
      perSecond[String(n)] = batch / seconds[String(n)];
      process.stdout.write(`  ${n || 'no'} worker thread(s), ${batch} trajectories per meta-step: ${perSecond[String(n)].toFixed(2)} trajectories/s\n`);
    }
    const inProcess = perSecond['0'];
    delete perSecond['0'];
    const figures: Figures = {
      metaTrainTrajectoriesPerSecondWorkers: perSecond,
      metaTrainTrajectoriesPerSecondInProcess: inProcess,
      workersSpeedup2: perSecond['2'] / perSecond['1'],
      workersBenchSize: { variant: VARIANT, recipe: 'tuned', perWorkerBatch: B, trajectoryLength: T, timedBatches: timed },
    };
    const missing = redisMissing();
    if (missing) {
      process.stdout.write(`  redis transport: skipped (${missing})\n`);
      return figures;
    }
    const server = await startRedis();
    const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const workers: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, [main, 'worker', '--redis', server.url], { stdio: 'ignore' }));
    try {
      const pool = await createShardPool({ workers: 2, redis: server.url, spec });
      try {
        const s = await secondsPerBatch(pool, 2, 2 * B, T, timed);
        figures.metaTrainTrajectoriesPerSecondRedis2 = (2 * B) / s;
        figures.redisOverheadPercentVs2Threads = 100 * (s / seconds['2'] - 1);
        process.stdout.write(`  redis, 2 worker processes, ${2 * B} trajectories per meta-step: ${((2 * B) / s).toFixed(2)} trajectories/s\n`);
      } finally {
        await pool.close();
      }
      // the asynchronous mode: estimates up to one meta-parameter version stale
      const asyncPool = await createShardPool({ workers: 2, redis: server.url, spec, staleness: 1, schedule: windows(setup(2 * B, T).train) });
      try {
        const s = await secondsPerBatch(asyncPool, 2, 2 * B, T, timed);
        figures.metaTrainTrajectoriesPerSecondRedis2Async = (2 * B) / s;
        process.stdout.write(`  redis, 2 worker processes, asynchronous (staleness 1), ${2 * B} trajectories per meta-step: ${((2 * B) / s).toFixed(2)} trajectories/s\n`);
      } finally {
        await asyncPool.close();
      }
    } finally {
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : (w.once('exit', r), w.kill('SIGTERM'))))));
      await server.stop();
    }
    return figures;
  },
};
