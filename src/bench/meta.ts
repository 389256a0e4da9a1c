// Bench section "meta": meta-training throughput (100-step trajectories per second) per
// learned variant and batch size, the time of one plain GD step of the 20x20 problem, and the
// process's peak RSS. Figures only, no assertions.
import * as tf from '@tensorflow/tfjs';
import type { Section, Figures } from './run.js';
import { preset } from '../meta/config.js';
import { initTrainState, trainBatch, disposeTrainState } from '../meta/train.js';
import { buildRunParts } from '../meta/build.js';
import { paperConfig } from '../meta/learned/registry.js';
import { localShards } from '../meta/shards.js';
import type { TaskConfig } from '../tasks/registry.js';
import { sampleRegression, lossAndGrads, disposeBatch, DEFAULT_REGRESSION } from '../tasks/regression.js';

const PAPER_TASK: TaskConfig = { kind: 'regression', widths: [20, 20, 20], samples: 20, slope: DEFAULT_REGRESSION.slope, seedScheme: 'stream' };

const LEARNED = ['LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const;

/** Trajectories per second of meta-training one variant at batch size B (after one warm-up batch). */
export async function metaTrainThroughput(name: (typeof LEARNED)[number], batch: number, trajectoryLength = 100): Promise<number> {
  const p = preset(name, 'tuned');
  const train = { ...p.train, batch, trajectories: batch * 2, epochs: 1, trajectoryLength, evalEvery: 0 };
  const parts = buildRunParts({ task: PAPER_TASK, learned: paperConfig(p.variant), estimator: train.estimator, lossWeighting: train.lossWeighting });
  const pool = localShards(parts);
  let st = initTrainState(parts.learned, parts.family, train);
  st = (await trainBatch(st, train, pool)).state; // warm-up (kernels, heap growth)
  const r = await trainBatch(st, train, pool);
  disposeTrainState(r.state);
  // a diverged batch stops early: count only the windows that ran
  const done = r.windows.filter((w) => !w.skipped).length;
  const perTrajectory = Math.ceil(trajectoryLength / train.unroll);
  return (batch * Math.min(done, perTrajectory)) / perTrajectory / r.seconds;
}

/** Milliseconds of one gradient-descent step (loss, gradient, update) of one 20x20 problem. */
export function gdStepMs(steps = 2000): number {
  const b = sampleRegression(DEFAULT_REGRESSION, 0, 'heldout', [0]);
  let ws = b.ws;
  const step = () => {
    const next = tf.tidy(() => {
      const { grads } = lossAndGrads(ws, b.x, b.y, DEFAULT_REGRESSION.slope);
      return [tf.sub(ws[0], tf.mul(1e-5, grads[0])), tf.sub(ws[1], tf.mul(1e-5, grads[1]))] as [tf.Tensor3D, tf.Tensor3D];
    });
    if (ws !== b.ws) tf.dispose(ws);
    ws = next;
  };
  for (let i = 0; i < 50; i++) step();
  ws[0].dataSync();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  ws[0].dataSync();
  const ms = (performance.now() - t0) / steps;
  if (ws !== b.ws) tf.dispose(ws);
  disposeBatch(b);
  return ms;
}

export const section: Section = {
  name: 'meta',
  async run({ quick }): Promise<Figures> {
    const batches = quick ? [8] : [1, 8, 16];
    const byBatch: Record<string, Record<string, number>> = {};
    const best: Record<string, number> = {};
    for (const name of LEARNED) {
      byBatch[name] = {};
      for (const B of batches) {
        const tps = await metaTrainThroughput(name, B, quick ? 20 : 100);
        byBatch[name][String(B)] = tps;
        best[name] = Math.max(best[name] ?? 0, tps);
        process.stdout.write(`  ${name} B=${B}: ${tps.toFixed(2)} trajectories/s\n`);
      }
    }
    return {
      metaTrainTrajectoriesPerSecond: best,
      metaTrainTrajectoriesPerSecondByBatch: byBatch,
      metaTrajectoryLength: quick ? 20 : 100,
      gdStepMs: gdStepMs(quick ? 200 : 2000),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  },
};
