// The classification task family on real MNIST (the default config: 784-16-10, mini-batches of
// 20 from 10,000 images): per-call cost of its Task methods for B = 8 problems, and what the
// pinv group action does on a real mini-batch (k = 20 > 16 hidden units): the relative drift
// of the batch loss |L(g.w) - L(w)| / L(w) for g = I + T, ||T||_F in {0.01, 0.1}, T random or
// along the first direction (the gradient-norm ascent), and how much that direction raises
// ||grad L||^2. Against k = 16 (<= width), where the action is exact.
import * as tf from '@tensorflow/tfjs';
import { decodeOrThrow } from '../config/codec.js';
import { sumSquares } from '../nn/mlp.js';
import { stream } from '../rng/index.js';
import { identityPlus } from '../symmetry/action.js';
import { ClassificationTaskConfig, classificationFamily, type ClassificationTask } from '../tasks/classification.js';
import type { Figures, Section } from './section.js';

const median = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median wall-clock ms of `reps` calls after one warm-up. */
function timeMs(reps: number, f: (i: number) => void): number {
  f(0);
  const ts: number[] = [];
  for (let i = 1; i <= reps; i++) {
    const t = performance.now();
    tf.tidy(() => f(i));
    ts.push(performance.now() - t);
  }
  return median(ts);
}

/** Relative loss drift and ||grad||^2 ratio per problem for g = I + norm * T/||T||, at `steps`. */
function actionFigures(task: ClassificationTask, ws: tf.Tensor[], steps: number[], norm: number, along: 'random' | 'gradNorm') {
  const drift: number[] = [];
  const gradRatio: number[] = [];
  const r = stream(0, 'bench', 'classification', along, norm);
  for (const step of steps) {
    tf.tidy(() => {
      const { loss, grads } = task.lossAndGrads(ws, step);
      const ts =
        along === 'gradNorm'
          ? task.symmetry.directions(ws, grads, step).map((l) => l[0]!)
          : task.symmetry.groupSizes.map((n) => {
              const t = tf.tensor3d(r.normalArray(task.size * n * n), [task.size, n, n]);
              return tf.div(t, tf.norm(t, 'euclidean', [1, 2], true)) as tf.Tensor3D;
            });
      const acted = task.symmetry.act(ws, ts.map((t) => identityPlus(tf.mul(norm, t)) as tf.Tensor3D), step);
      const after = task.lossAndGrads(acted, step);
      const l0 = loss.dataSync(), l1 = after.loss.dataSync();
      const g0 = sumSquares(grads).dataSync(), g1 = sumSquares(after.grads).dataSync();
      l0.forEach((v, b) => {
        drift.push(Math.abs(l1[b]! - v) / v);
        gradRatio.push(g1[b]! / g0[b]!);
      });
    });
  }
  const max = (a: number[]) => Math.max(...a);
  return { driftMedian: median(drift), driftMax: max(drift), gradNormSqRatioMedian: median(gradRatio), gradNormSqRatioMin: Math.min(...gradRatio) };
}

export const section: Section = {
  name: 'classification-task',
  async run({ quick }) {
    const figures: Figures = {};
    const B = 8;
    const fam = classificationFamily(decodeOrThrow(ClassificationTaskConfig, {}));
    const task = fam.sample(0, 'val', Array.from({ length: B }, (_, i) => i));
    const ws = task.init();
    const reps = quick ? 5 : 20;
    figures.config = fam.name;
    figures.problems = B;
    figures.lossAndGradsMs = timeMs(reps, (i) => task.lossAndGrads(ws, i).loss.dataSync());
    figures.lossMs = timeMs(reps, (i) => task.loss(ws, i).dataSync());
    figures.actMs = timeMs(reps, (i) => task.symmetry.act(ws, task.symmetry.groupSizes.map((n) => tf.eye(n, n, [B]) as unknown as tf.Tensor3D), i)[0]!.dataSync());
    figures.directionsMs = timeMs(reps, (i) => task.symmetry.directions(ws, task.lossAndGrads(ws, i).grads, i)[0]![0]!.dataSync());
    figures.evaluate1000Ms = timeMs(reps, () => task.evaluate(ws).loss.dataSync());
    // the action on real mini-batches, at the initial weights of B problems, over several steps
    const steps = Array.from({ length: quick ? 2 : 10 }, (_, i) => i);
    for (const norm of [0.01, 0.1]) {
      for (const along of ['random', 'gradNorm'] as const) {
        for (const [k, v] of Object.entries(actionFigures(task, ws, steps, norm, along))) figures[`k20_${along}_T${norm}_${k}`] = v;
      }
    }
    // k = 16 = the hidden width: exact
    const exactFam = classificationFamily(decodeOrThrow(ClassificationTaskConfig, { batchSize: 16 }));
    const exact = exactFam.sample(0, 'val', Array.from({ length: B }, (_, i) => i));
    for (const [k, v] of Object.entries(actionFigures(exact, ws, steps, 0.1, 'random'))) figures[`k16_random_T0.1_${k}`] = v;
    figures.actionSamples = B * steps.length;
    tf.dispose(ws);
    task.dispose();
    exact.dispose();
    return figures;
  },
};
