// Cost of one teleport (10 gradient-ascent steps on the group elements) against one epoch of
// SGD on the MNIST-sized MLP 784-16-10-10 with batches of 20 (the paper: teleporting costs
// less than an epoch), and one group step of Figure 4's sharpness teleport. Synthetic data of
// MNIST's shape, so the figures need no dataset.
import * as tf from '@tensorflow/tfjs';
import { stream } from '../rng/index.js';
import { mlpGrads } from '../nn/mlp.js';
import { teleport, groupGradient } from '../teleport/teleport.js';
import { sharpnessObjective, type Objective } from '../teleport/objectives.js';
import { sharpnessTensor, randomDirections, PAPER_DISPLACEMENTS } from '../symmetry/metrics.js';
import type { Section } from './section.js';

/** MNIST-like columns: 80% zero pixels, the rest uniform in [0, 1). */
function mnistShaped(k: number, seed: string) {
  const r = stream(0, 'bench', seed);
  const px = Float32Array.from(r.uniformArray(784 * k), (v) => (v < 0.8 ? 0 : (v - 0.8) * 5));
  return { x: tf.tensor2d(px, [784, k]), y: tf.tensor1d(Array.from({ length: k }, () => r.int(10)), 'int32') };
}

export const section: Section = {
  name: 'teleport',
  async run({ quick }) {
    const dims = [784, 16, 10, 10];
    const r = stream(0, 'bench', 'init');
    let ws = dims.slice(0, -1).map((d, i) => tf.variable(tf.tensor2d(r.uniformArray(dims[i + 1] * d, -1 / Math.sqrt(d), 1 / Math.sqrt(d)), [dims[i + 1], d])));
    const o = { loss: 'ce' as const };
    // SGD steps on batches of 20
    const batch = mnistShaped(20, 'sgd');
    const sgdSteps = quick ? 200 : 1000;
    const step = () =>
      tf.tidy(() => {
        const g = mlpGrads(ws, batch.x, batch.y, o);
        ws.forEach((w, i) => w.assign(tf.sub(w, tf.mul(g[i], 0.01))));
      });
    for (let i = 0; i < 20; i++) step();
    let t0 = performance.now();
    for (let i = 0; i < sgdSteps; i++) step();
    const sgdStepMs = (performance.now() - t0) / sgdSteps;
    const epochSeconds = (sgdStepMs * 50000) / 20 / 1000;

    // one teleport: 10 ascent steps on one batch of 200, and the paper's 8 batches of 200
    const tb = Array.from({ length: 8 }, (_, i) => mnistShaped(200, `tele${i}`));
    const run = (batches: number) => {
      const t = performance.now();
      const res = teleport(ws, tb[0].x, tb[0].y, { objective: 'gradNorm', steps: 10, lr: 5e-2, stepNorm: 0.01, loss: 'ce', batches: tb.slice(1, batches).map((b) => ({ x: b.x, target: b.y })) });
      const s = (performance.now() - t) / 1000;
      tf.dispose(res.weights);
      return s;
    };
    run(1);
    t0 = performance.now();
    const oneBatch = run(1);
    const eightBatches = quick ? NaN : run(8);
    void t0;
    const figures = {
      sgdStepMs,
      sgdEpochSeconds: epochSeconds,
      teleport10StepsSeconds: oneBatch,
      teleport10StepsOverEpoch: oneBatch / epochSeconds,
      teleportPaper8x200Seconds: eightBatches,
      teleportPaper8x200OverEpoch: eightBatches / epochSeconds,
    };

    // one group step of Figure 4's φ teleport (the paper: 200 directions x 20 displacements on
    // 2,000 samples; quick: 50 directions on 500), its gradient taped over every perturbation
    // at once against accumulated piece by piece (what teleports use): time and tfjs's peak bytes
    const D = quick ? 50 : 200;
    const K = quick ? 500 : 2000;
    const data = mnistShaped(K, 'phi');
    const directions = randomDirections(ws, D, stream(0, 'bench', 'phi-dirs'));
    const phi = { loss: 'ce' as const, displacements: PAPER_DISPLACEMENTS, directions };
    const batchPhi = { x: data.x, target: data.y };
    const oneTape: Objective = (w, b) => sharpnessTensor(w, b.x as tf.Tensor2D, b.target, phi);
    const phiStep = async (objective: Objective) => {
      const t = performance.now();
      const p = await tf.profile(() => tf.tidy(() => void groupGradient(ws, batchPhi, objective).grads[0]!.dataSync()));
      return { seconds: (performance.now() - t) / 1000, peakMiB: p.peakBytes / 2 ** 20 };
    };
    const tape = await phiStep(oneTape);
    const pieces = await phiStep(sharpnessObjective(phi));
    const phiFigures = {
      phiStepSize: `${D} directions x ${PAPER_DISPLACEMENTS.length} displacements on ${K} samples`,
      phiStepOneTapeSeconds: tape.seconds,
      phiStepOneTapePeakMiB: tape.peakMiB,
      phiStepPiecesSeconds: pieces.seconds,
      phiStepPiecesPeakMiB: pieces.peakMiB,
      phiStepPiecesSpeedup: tape.seconds / pieces.seconds,
      phiStepPiecesMemoryRatio: tape.peakMiB / pieces.peakMiB,
    };
    tf.dispose([...ws, batch.x, batch.y, ...tb.flatMap((b) => [b.x, b.y]), data.x, data.y, directions]);
    ws = [];
    return { ...figures, ...phiFigures };
  },
};
