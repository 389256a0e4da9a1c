// Bench section "workers": meta-training throughput of LSTM(update,tele) (tuned recipe, paper
// task, B = 16, 100-step trajectories) in this process, with 1 and 2 worker threads, and the cost of the Redis
// transport: the same batch through a loopback redis-server and 2 `symtele worker` processes,
// against 2 worker threads, in % of time per batch; and the bound on 2 workers' speedup, the
// time of the batch over that of half of it, both in this process. One warm-up batch, then the
// mean of `timed` batches per configuration. Figures only, no assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import type { Section, Figures } from './section.js';
import { resolveLearnedPreset } from '../meta/config.js';
import { initTrainState, trainBatch, disposeTrainState, type MetaTrainState } from '../meta/train.js';
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
  return { train, spec, parts: buildRunParts(spec) };
}

/** Seconds per batch on `pool` split into `shards` shards: mean of `timed` batches after one warm-up. */
async function secondsPerBatch(pool: ShardPool, shards: number, batch: number, trajectoryLength: number, timed: number): Promise<number> {
  const { train, parts } = setup(batch, trajectoryLength);
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

/**
 * Milliseconds of the LSTM's largest product at a shard's row count: x [rows, 1600] times the
 * first cell's input weight [1600, 1200], forward and input gradient (dy w^T, w^T made once as
 * the sink does), after warm-up (XNNPACK packs a constant operand once). Its time at 8 rows over
 * 16 bounds what halving a shard can save on the matmuls, whatever else gets cheaper.
 */
function lstmMatMulMs(rows: number, reps = 100): number {
  const w = tf.randomNormal([1600, 1200]);
  const wt = tf.transpose(w);
  const x = tf.randomNormal([rows, 1600]);
  const dy = tf.randomNormal([rows, 1200]);
  const once = () => tf.dispose([tf.matMul(x, w), tf.matMul(dy, wt)]);
  for (let i = 0; i < 5; i++) once();
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) once();
    tf.matMul(x, w).dataSync();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  tf.dispose([w, wt, x, dy]);
  return best;
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
    // 0: every shard in this process (no threads, no wire), the baseline of the others
    for (const n of [0, 1, 2]) {
      const pool = await createShardPool({ workers: n, spec });
      try {
        seconds[String(n)] = await secondsPerBatch(pool, Math.max(1, n), B, T, timed);
      } finally {
        await pool.close();
      }
      perSecond[String(n)] = B / seconds[String(n)];
      process.stdout.write(`  ${n || 'no'} worker thread(s): ${perSecond[String(n)].toFixed(2)} trajectories/s\n`);
    }
    // the bound on 2 workers: each computes half the batch, so at best (perfect parallelism,
    // free transport, no shared memory bandwidth) a batch takes as long as half a batch alone
    const half = await createShardPool({ workers: 0, spec });
    let halfSeconds: number;
    try {
      halfSeconds = await secondsPerBatch(half, 1, B / 2, T, timed);
    } finally {
      await half.close();
    }
    process.stdout.write(`  half the batch (${B / 2}) in this process: ${(seconds['0'] / halfSeconds).toFixed(2)}x faster than the whole\n`);
    const matMulMs = { [String(B / 2)]: lstmMatMulMs(B / 2), [String(B)]: lstmMatMulMs(B) };
    process.stdout.write(`  LSTM input product, forward + input gradient: ${B / 2} rows ${matMulMs[String(B / 2)].toFixed(2)} ms, ${B} rows ${matMulMs[String(B)].toFixed(2)} ms\n`);
    const inProcess = perSecond['0'];
    delete perSecond['0'];
    const figures: Figures = {
      metaTrainTrajectoriesPerSecondWorkers: perSecond,
      metaTrainTrajectoriesPerSecondInProcess: inProcess,
      workersSpeedup2: perSecond['2'] / perSecond['1'],
      workersSpeedup2Bound: seconds['0'] / halfSeconds,
      lstmMatMulMsByRows: matMulMs,
      workersBenchSize: { variant: VARIANT, recipe: 'tuned', batch: B, trajectoryLength: T, timedBatches: timed },
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
        const s = await secondsPerBatch(pool, 2, B, T, timed);
        figures.metaTrainTrajectoriesPerSecondRedis2 = B / s;
        figures.redisOverheadPercentVs2Threads = 100 * (s / seconds['2'] - 1);
        process.stdout.write(`  redis, 2 worker processes: ${(B / s).toFixed(2)} trajectories/s\n`);
      } finally {
        await pool.close();
      }
    } finally {
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : (w.once('exit', r), w.kill('SIGTERM'))))));
      await server.stop();
    }
    return figures;
  },
};
