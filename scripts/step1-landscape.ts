// What one first step can reach on the paper's regression task (docs/results/learning-to-teleport.md, "Step 1"): the
// mean loss after one gradient step from the initial point, over validation problems, with
//  - one step size for every problem (the best on a grid): what a learned optimizer whose first
//    step is a near-constant learned step size can reach at best;
//  - the best step size per problem (a line search): what a per-problem step could reach;
//  - a Polyak-type step c * L / ||grad||^2 (best c);
//  - a teleport g = I + s D / ||D|| before the step (D the task's 'gradNorm' or 'w2' direction),
//    then one step size for every problem, or the best per problem.
// Run: node --import tsx scripts/step1-landscape.ts [backend] [problems] > out.json
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { regressionFamily, PAPER_REGRESSION_TASK } from '../src/tasks/regression.js';

await initBackend(process.argv[2] ?? 'wasm');
const B = Number(process.argv[3] ?? 64);
const ids = Array.from({ length: B }, (_, i) => i);
const task = regressionFamily(PAPER_REGRESSION_TASK).sample(0, 'val', ids);
const n = PAPER_REGRESSION_TASK.widths[1];
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const etas = Array.from({ length: 91 }, (_, i) => 0.8e-4 + i * 1e-6);

/** Loss after one step of size eta (scalar or per problem) from `ps` along their gradient, [B]. */
const after = (ps: tf.Tensor[], grads: tf.Tensor[], eta: number | tf.Tensor): number[] =>
  tf.tidy(() => Array.from(task.loss(ps.map((w, i) => tf.sub(w, tf.mul(eta, grads[i]))), 1).dataSync()));

/** The loss at `ps`, the best single step size over the grid and the per-problem best. */
function sweep(ps: tf.Tensor[]) {
  const { loss, grads } = task.lossAndGrads(ps, 0);
  const rows = etas.map((e) => after(ps, grads, e));
  const means = rows.map(mean);
  const k = means.indexOf(Math.min(...means));
  const perProblem = ids.map((b) => Math.min(...rows.map((r) => r[b])));
  const start = mean(Array.from(loss.dataSync()));
  tf.dispose([loss, ...grads]);
  return { start, constantEta: etas[k], constantEtaLoss: means[k], perProblemLoss: mean(perProblem) };
}

const p0 = task.init();
const { loss: l0, grads: g0 } = task.lossAndGrads(p0, 0);
const { start: _l0, ...none } = sweep(p0);
const l0h = Array.from(l0.dataSync());
const gn = Array.from(tf.tidy(() => tf.addN(g0.map((g) => tf.sum(tf.square(g), [1, 2]))).dataSync()));
const polyak = [5.2, 5.4, 5.6, 5.8, 6.0, 6.2].map((c) => {
  const eta = tf.tensor3d(ids.map((b) => (c * l0h[b]) / gn[b]), [B, 1, 1]);
  const loss = mean(after(p0, g0, eta));
  eta.dispose();
  return { c, loss };
});
const dirs = task.symmetry!.directions(p0, g0, 0);
const teleports = task.symmetry!.directionKinds.flatMap((kind, d) =>
  [-0.2, -0.15, -0.1, -0.05, 0.05, 0.1, 0.2].map((s) => {
    const g = tf.tidy(() => tf.add(tf.eye(n, n, [B]), tf.mul(s, dirs[0][d])) as tf.Tensor3D);
    const pt = task.symmetry!.act(p0, [g], 0);
    const { start, ...rest } = sweep(pt);
    const r = { direction: kind, size: s, lossAtTeleport: start, ...rest };
    tf.dispose([g, ...pt]);
    return r;
  }),
);
console.log(
  JSON.stringify(
    { problems: B, split: 'val', problemSeed: 0, backend: tf.getBackend(), initialLoss: mean(l0h), noTeleport: none, polyak, teleportBefore: teleports },
    null,
    1,
  ),
);
