// Measures the constants of the meta experiment's size estimate (src/meta/preflight.ts):
// heap bytes per stored held-out entry, JSON characters per entry, tensor bytes per held-out
// problem at the peak of a step, and seconds per held-out trajectory-step of each variant.
// Run: node --expose-gc --import tsx scripts/measure-preflight.ts [backend]
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { decodeOrThrow } from '../src/config/codec.js';
import { isBaseline, isTrained, MetaExperimentCodec, resolveAll } from '../src/meta/config.js';
import { baselineLrs, makeBaseline } from '../src/meta/baselines.js';
import { makeLearned } from '../src/meta/learned/registry.js';
import { taskFamily } from '../src/tasks/registry.js';
import { evaluateAll } from '../src/meta/run.js';
import { runTrajectory } from '../src/meta/train.js';
import { disposeMeta } from '../src/meta/params.js';
import { stream } from '../src/rng/index.js';
import * as E from 'fp-ts/lib/Either.js';

const gc = (globalThis as { gc?: () => void }).gc!;
await initBackend(process.argv[2] ?? 'wasm');
const exp = decodeOrThrow(MetaExperimentCodec, { heldout: { trajectories: 200, steps: 2000 }, tableSteps: [1], variants: [{ preset: 'tuned/GD' }] });
const resolved = resolveAll(exp, 'x');
if (E.isLeft(resolved)) throw resolved.left;
gc();
const h0 = process.memoryUsage().heapUsed;
const res = evaluateAll(resolved.right, new Map(), exp);
gc();
const h1 = process.memoryUsage().heapUsed;
const entries = exp.heldout.trajectories * (exp.heldout.steps + 1);
const json = JSON.stringify(res).length;
console.log(JSON.stringify({ heldoutEntries: entries, heapBytesPerEntry: (h1 - h0) / entries, jsonCharsPerEntry: json / entries }));

const full = decodeOrThrow(MetaExperimentCodec, {});
const all = resolveAll(full, 'x');
if (E.isLeft(all)) throw all.left;
for (const rv of all.right) {
  const family = taskFamily(full.task);
  const learned = isBaseline(rv) ? makeBaseline(rv.baseline, baselineLrs(rv.baseline)[0]!) : makeLearned(rv.learned);
  const parts = { family, learned };
  const one = parts.family.sample(0, 'train', [0]);
  const meta = isTrained(rv) ? parts.learned.init(stream(0, 'meta-init'), { paramShapes: one.paramShapes, symmetry: one.symmetry }) : {};
  one.dispose();
  for (const B of [16, 64]) {
    const task = parts.family.sample(0, 'heldout', Array.from({ length: B }, (_, i) => i));
    const steps = 20;
    runTrajectory(parts.learned, meta, task, 2); // warm-up
    const t0 = performance.now();
    const prof = await tf.profile(() => {
      runTrajectory(parts.learned, meta, task, steps);
    });
    const peak = prof.peakBytes - tf.memory().numBytes;
    const seconds = (performance.now() - t0) / 1000;
    const held = tf.memory().numBytes;
    task.dispose();
    const taskBytes = held - tf.memory().numBytes;
    console.log(JSON.stringify({ variant: rv.label, B, secondsPerTrajectoryStep: seconds / (B * steps), peakStepBytesPerProblem: peak / B, taskBytesPerProblem: taskBytes / B }));
  }
  disposeMeta(meta);
}
