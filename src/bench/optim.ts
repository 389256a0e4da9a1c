// Optimizers on the MNIST MLP 784-16-10-10 (batch 20, real MNIST batches): SGD steps per
// second through the pure `Optimizer` interface, and the paper's teleport (8 mini-batches of
// 200, 10 ascent steps each, group lr 5e-2) against one epoch of 50,000 samples.
import * as tf from '@tensorflow/tfjs';
import { loadDataset, batches } from '../data/index.js';
import { gatherColumns } from '../data/batches.js';
import { optimizer, disposeState } from '../optim/index.js';
import { classificationLossAndGrads, mlpGrads, mlpLoss } from '../nn/mlp.js';
import { stream } from '../rng/index.js';
import { initWeights } from '../nn/batched.js';
import { initClassifier, trainEpoch, disposeClassifier } from '../train/classifier.js';
import type { DataSplit } from '../data/types.js';
import { teleport } from '../teleport/teleport.js';
import { teleportBatches } from '../studies/optimizers/mnist.js';
import type { Section } from './section.js';

const DIMS = [784, 16, 10, 10];

/**
 * The lockstep trainer of Figures 5 / 4 and Table 1 (`trainEpoch`, 784-16-10-10, batch 20, SGD)
 * per lockstep size: wall and CPU ms per step of all its models (the backend choice for these
 * experiments depends on it: wasm's batched matMul grows faster than linearly in the models).
 */
function lockstepStep(train: DataSplit, models: number, steps: number): { stepMs: number; stepCpuMs: number } {
  const opt = optimizer({ name: 'sgd', lr: 0.01 });
  const split: DataSplit = { ...train, n: steps * 20 };
  const once = () => {
    const state = initClassifier({ dims: DIMS, models: Array.from({ length: models }, (_, i) => i), seed: 0 }, opt);
    const t = performance.now();
    const cpu = process.cpuUsage();
    const r = trainEpoch(state, { optimizer: opt, data: { train: split, test: split }, batchSize: 20, seed: 0 });
    const c = process.cpuUsage(cpu);
    const out = { stepMs: (performance.now() - t) / steps, stepCpuMs: (c.user + c.system) / 1e3 / steps };
    disposeClassifier(r.state, disposeState);
    return out;
  };
  once(); // warm-up
  return once();
}

/** The closed-form gradient step the trainer uses against the tf.grads tape it used before (forward twice). */
function gradientPaths(train: DataSplit, models: number, steps: number): { tapeMs: number; closedMs: number } {
  const ws = initClassifier({ dims: DIMS, models: Array.from({ length: models }, (_, i) => i), seed: 0 }, optimizer({ name: 'sgd', lr: 0.01 })).params;
  // model b's batch: samples 20b .. 20b + 19, a column each
  const cols = new Float32Array(models * 784 * 20);
  for (let b = 0; b < models; b++) cols.set(gatherColumns(train, Array.from({ length: 20 }, (_, i) => 20 * b + i)), b * 784 * 20);
  const x = tf.tensor3d(cols, [models, 784, 20]);
  const y = tf.tensor2d(train.y.subarray(0, models * 20), [models, 20], 'int32');
  const o = { loss: 'ce' as const };
  const time = (f: () => tf.Tensor[]): number => {
    tf.dispose(tf.tidy(f));
    const t = performance.now();
    for (let i = 0; i < steps; i++) tf.dispose(tf.tidy(() => { const g = f(); g[0]!.dataSync(); return g; }));
    return (performance.now() - t) / steps;
  };
  const tapeMs = time(() => [mlpLoss(ws, x, y, o), ...tf.grads((...w: tf.Tensor[]) => tf.sum(mlpLoss(w, x, y, o)))(ws)]);
  const closedMs = time(() => { const r = classificationLossAndGrads(ws, x, y, 0.1); return [r.loss, ...r.grads]; });
  tf.dispose([...ws, x, y]);
  return { tapeMs, closedMs };
}

/** Lockstep sizes measured (the speed table's classifierEpoch keys). */
const LOCKSTEP_MODELS = [1, 10, 25, 100] as const;

function lockstepFigures(train: DataSplit, quick: boolean) {
  const steps = quick ? 10 : 50;
  const byModels: Record<string, { stepMs: number; stepCpuMs: number; epochSeconds50k: number }> = {};
  for (const m of quick ? [1, 25] : LOCKSTEP_MODELS) {
    const r = lockstepStep(train, m, steps);
    byModels[m] = { ...r, epochSeconds50k: (r.stepMs * 2500) / 1000 };
  }
  const g = gradientPaths(train, 25, steps);
  return { lockstepByModels: byModels, lockstep25GradTapeMs: g.tapeMs, lockstep25GradClosedMs: g.closedMs, lockstep25GradTapeOverClosed: g.tapeMs / g.closedMs };
}

export const section: Section = {
  name: 'optim',
  async run({ quick }) {
    const ds = loadDataset('mnist', { seed: 0, trainSize: 50_000, validationSize: 0, testSize: 0 });
    let ws: tf.Tensor[] = initWeights(DIMS, 0, 0).map((w, i) => tf.tensor2d(w, [DIMS[i + 1]!, DIMS[i]!]));
    const opt = optimizer({ name: 'sgd', lr: 0.01 });
    let state = opt.init(ws);
    const o = { loss: 'ce' as const };
    // the experiment teleports at the first epoch: time it on the initial weights
    const tb = teleportBatches(ds.train, 8, 200, 0, 0, 0);
    const tele = (count: number) => {
      const t = performance.now();
      const r = teleport(ws as tf.Tensor2D[], tb[0]!.x, tb[0]!.target, { objective: 'gradNorm', steps: 10, lr: 5e-2, loss: 'ce' as const, batches: tb.slice(1, count) });
      tf.dispose(r.weights);
      return (performance.now() - t) / 1000;
    };
    tele(1); // warm-up
    const teleportSeconds = tele(quick ? 1 : 8) * (quick ? 8 : 1);
    const steps = quick ? 200 : 1000;
    const warmup = 20;
    let t0 = 0;
    let cpu0 = process.cpuUsage();
    let n = 0;
    for (const b of batches(ds.train, 20, stream(0, 'bench', 'order'))) {
      if (n === warmup) {
        t0 = performance.now();
        cpu0 = process.cpuUsage();
      }
      const g = tf.tidy(() => mlpGrads(ws, b.x, b.y, o));
      const next = opt.step(ws, g, state);
      tf.dispose([b.x, b.y, ...g, ...ws]);
      disposeState(state);
      ({ params: ws, state } = next);
      if (++n === warmup + steps) break;
    }
    const stepMs = (performance.now() - t0) / steps;
    const cpu = process.cpuUsage(cpu0);
    const stepCpuMs = (cpu.user + cpu.system) / 1e3 / steps;
    const epochSeconds = (stepMs * ds.train.n) / 20 / 1000;

    tf.dispose([...ws, ...tb.flatMap((b) => [b.x, b.target])]);
    disposeState(state);
    const lockstep = lockstepFigures(ds.train, quick);
    return {
      ...lockstep,
      sgdStepsPerSecond: 1000 / stepMs,
      sgdStepMs: stepMs,
      sgdEpochSeconds50k: epochSeconds,
      sgdEpochCpuSeconds50k: (stepCpuMs * ds.train.n) / 20 / 1000,
      teleportPaperSeconds: teleportSeconds,
      teleportPaperOverEpoch: teleportSeconds / epochSeconds,
      ...(quick ? { teleportPaperNote: 'quick: 1 batch of 200 timed, x8' } : {}),
    };
  },
};
