// Optimizers on the MNIST MLP 784-16-10-10 (batch 20, real MNIST batches): SGD steps per
// second through the pure `Optimizer` interface, and the paper's teleport (8 mini-batches of
// 200, 10 ascent steps each, group lr 5e-2) against one epoch of 50,000 samples.
import * as tf from '@tensorflow/tfjs';
import { loadDataset, batches } from '../data/index.js';
import { optimizer, disposeState } from '../optim/index.js';
import { mlpGrads } from '../nn/mlp.js';
import { stream } from '../rng/index.js';
import { initWeights } from '../train/classifier.js';
import { teleport } from '../teleport/teleport.js';
import { teleportBatches } from '../optim-experiments/mnist.js';
import type { Section } from './run.js';

const DIMS = [784, 16, 10, 10];

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
    return {
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
