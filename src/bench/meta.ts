// Bench section "meta": meta-training throughput (100-step trajectories per second) per
// learned variant and batch size, kernel calls per inner step and the achieved GFLOP/s of the
// counted LSTM products, the time of one plain GD step of the 20x20 problem, and the process's
// peak RSS. Figures only, no assertions.
import * as tf from '@tensorflow/tfjs';
import type { Section, Figures } from './section.js';
import { resolveLearnedPreset } from '../meta/config.js';
import { initTrainState, trainBatch, disposeTrainState } from '../meta/train.js';
import { buildRunParts, entryRunSpec } from '../meta/build.js';
import { localShards } from '../meta/shards.js';
import { regressionFamily, PAPER_REGRESSION_TASK } from '../tasks/regression.js';
import { countKernels, lstmFlopsPerTrajectory } from './kernels.js';
import { withLstmPair } from '../nn/lstm.js';


const LEARNED = ['LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const;

/**
 * Trajectories per second of meta-training one variant at batch size B: the faster of `timed`
 * batches after one warm-up batch (a shared machine only ever slows a batch down), per
 * wall-clock second, and per second of this process's CPU time (user + system, all threads),
 * which a loaded machine disturbs less.
 */
export async function metaTrainThroughput(
  name: (typeof LEARNED)[number],
  batch: number,
  trajectoryLength = 100,
  recipe: 'reference' | 'paper' | 'tuned' = 'tuned',
  timed = 2,
): Promise<{ wall: number; cpu: number }> {
  const p = resolveLearnedPreset(`${recipe}/${name}`);
  // the preset's trajectory count keeps its meta-lr schedule: a run squeezed into these few
  // batches steps at a much larger meta-lr, and the batches after such steps ran 1.6x slower
  // (measured at B = 16: 7.8 s against 4.9 s per batch)
  const train = { ...p.train, batch, trajectories: Math.max(p.train.trajectories, batch * (timed + 1)), epochs: 1, trajectoryLength, evalEvery: 0 };
  const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, { ...p, train }));
  const pool = localShards(parts);
  let st = initTrainState(parts.learned, parts.family, train);
  st = (await trainBatch(st, train, pool)).state; // warm-up (kernels, heap growth)
  const perTrajectory = Math.ceil(trajectoryLength / train.unroll);
  let best = { wall: 0, cpu: 0 };
  for (let i = 0; i < timed; i++) {
    const cpu0 = process.cpuUsage();
    const r = await trainBatch(st, train, pool);
    const cpu = process.cpuUsage(cpu0);
    st = r.state;
    // a diverged batch stops early: count only the windows that ran
    const done = r.windows.filter((w) => !w.skipped).length;
    const trajectories = (batch * Math.min(done, perTrajectory)) / perTrajectory;
    best = { wall: Math.max(best.wall, trajectories / r.seconds), cpu: Math.max(best.cpu, trajectories / ((cpu.user + cpu.system) / 1e6)) };
  }
  disposeTrainState(st);
  return best;
}

/** Milliseconds of one gradient-descent step (loss, gradient, update) of one 20x20 problem, wall and CPU. */
export function gdStepMs(steps = 2000): { wall: number; cpu: number } {
  const task = regressionFamily(PAPER_REGRESSION_TASK).sample(0, 'heldout', [0]);
  let ws = task.init();
  const step = (i: number) => {
    const next = tf.tidy(() => {
      const { grads } = task.lossAndGrads(ws, i);
      return ws.map((w, k) => tf.sub(w, tf.mul(1e-5, grads[k])));
    });
    tf.dispose(ws);
    ws = next;
  };
  for (let i = 0; i < 50; i++) step(i);
  ws[0].dataSync();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) step(i);
  ws[0].dataSync();
  const ms = (performance.now() - t0) / steps;
  const cpu = process.cpuUsage(cpu0);
  tf.dispose(ws);
  task.dispose();
  return { wall: ms, cpu: (cpu.user + cpu.system) / 1e3 / steps };
}

export const section: Section = {
  name: 'meta',
  async run({ quick, batches }): Promise<Figures> {
    // LSTM(update,tele), the paper's learned teleporting optimizer, at B = 1, 16, 64; the other
    // two learned variants at B = 16
    const plan: [(typeof LEARNED)[number], number[]][] = quick
      ? [['LSTM(update,tele)', [8]]]
      : [
          ['LSTM(update,tele)', batches ?? [1, 16, 64, 256]],
          ['LSTM(update)', batches ?? [1, 16, 64, 256]],
          ['LSTM(lr,tele)', batches ?? [1, 16, 64, 256]],
        ];
    const length = quick ? 20 : 100;
    const byBatch: Record<string, Record<string, number>> = {};
    const byBatchCpu: Record<string, Record<string, number>> = {};
    const gflops: Record<string, Record<string, number>> = {};
    const calls: Record<string, Record<string, number>> = {};
    const callsForward: Record<string, Record<string, number>> = {};
    const callsByKernel: Record<string, Record<string, number>> = {};
    const best: Record<string, number> = {};
    for (const [name, batches] of plan) {
      byBatch[name] = {};
      byBatchCpu[name] = {};
      gflops[name] = {};
      calls[name] = {};
      callsForward[name] = {};
      const flops = lstmFlopsPerTrajectory(name, 'tuned', length);
      for (const B of batches) {
        const k = await countKernels(name, B);
        calls[name][String(B)] = k.perStep;
        callsForward[name][String(B)] = k.forwardPerStep;
        if (B === batches[batches.length - 1]) callsByKernel[name] = k.byKernel;
        const tps = await metaTrainThroughput(name, B, length);
        byBatch[name][String(B)] = tps.wall;
        byBatchCpu[name][String(B)] = tps.cpu;
        gflops[name][String(B)] = (tps.wall * flops) / 1e9;
        best[name] = Math.max(best[name] ?? 0, tps.wall);
        process.stdout.write(
          `  ${name} B=${B}: ${tps.wall.toFixed(2)} trajectories/s (${tps.cpu.toFixed(2)} per CPU second), ${k.perStep} kernel calls per inner step, ${gflops[name][String(B)].toFixed(2)} GFLOP/s\n`,
        );
      }
    }
    // the reference recipe (the authors' shapes and protocol: raw gradients, sum of losses, B = 1
    // as their code runs it), the row the reference section compares with the authors' code
    if (!quick) {
      const name = 'LSTM(update,tele), reference recipe';
      byBatch[name] = {};
      byBatchCpu[name] = {};
      for (const B of [1, 16]) {
        const tps = await metaTrainThroughput('LSTM(update,tele)', B, length, 'reference');
        byBatch[name][String(B)] = tps.wall;
        byBatchCpu[name][String(B)] = tps.cpu;
        process.stdout.write(`  ${name} B=${B}: ${tps.wall.toFixed(2)} trajectories/s (${tps.cpu.toFixed(2)} per CPU second)\n`);
      }
    }
    // the same count with the LSTM pair flag on (src/nn/lstm.ts: fewer calls, more arithmetic)
    const pairCalls = quick ? undefined : await withLstmPair(true, () => countKernels('LSTM(update,tele)', 16));
    return {
      kernelCallsPerInnerStep: calls,
      ...(pairCalls ? { kernelCallsPerInnerStepLstmPair: { 'LSTM(update,tele)': { '16': pairCalls.perStep } } } : {}),
      kernelCallsPerInnerStepForward: callsForward,
      kernelCallsPerInnerStepByKernel: callsByKernel,
      lstmGflopsPerSecondByBatch: gflops,
      metaTrainTrajectoriesPerSecond: best,
      metaTrainTrajectoriesPerSecondByBatch: byBatch,
      metaTrainTrajectoriesPerCpuSecondByBatch: byBatchCpu,
      metaTrajectoryLength: quick ? 20 : 100,
      ...((g) => ({ gdStepMs: g.wall, gdStepCpuMs: g.cpu }))(gdStepMs(quick ? 200 : 2000)),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  },
};
