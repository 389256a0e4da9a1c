// optimizers-mnist (Figures 5, 13): the arms are paired (same init, batch order and teleport
// batches), the reset-only arm resets the state and leaves the weights, the random arm moves as
// far from I as the paired teleport, config errors name their field, the paired statistics.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { initBackend } from '../../src/backend/index.js';
import { decodeConfig, decodeOrThrow } from '../../src/config/codec.js';
import { MnistConfig } from '../../src/studies/optimizers/config.js';
import { runOptimizersMnist, teleportStep, randomMove, lockstepGroups, resetKeepsStepCount } from '../../src/studies/optimizers/mnist.js';
import { verdict, pairedDiffs, summarizeOptimizer } from '../../src/studies/optimizers/mnist-report.js';
import { tInterval } from '../../src/report/intervals.js';
import { optimizer, disposeState } from '../../src/optim/index.js';
import { modelTensors } from '../../src/nn/batched.js';
import { initClassifier, disposeClassifier } from '../../src/train/classifier.js';
import { loadDataset } from '../../src/data/index.js';
import { stream } from '../../src/rng/index.js';
import { pinv } from '../../src/ops/linalg.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

before(async () => {
  await initBackend('wasm');
});

const tiny = (over: Record<string, unknown> = {}) =>
  decodeOrThrow(MnistConfig, {
    out: 'unused',
    data: { trainSize: 200, testSize: 100 },
    dims: [784, 6, 5, 10],
    epochs: 2,
    runs: 2,
    tableEpochs: [1],
    optimizers: [{ optimizer: { name: 'momentum', lr: 1e-2, momentum: 0.9 }, teleport: { epoch: 0, count: 2, batchSize: 40, settings: { steps: 2, lr: 5e-2 } } }],
    ...over,
  });
const data = () => loadDataset('mnist', { seed: 0, trainSize: 200, validationSize: 0, testSize: 100 });

test('arms are paired: a reset before the first step is a no-op, so reset == none exactly; runs differ; no leaks; deterministic', () => {
  const cfg = tiny({ arms: ['none', 'reset', 'teleport-reset', 'random'] });
  const one = { ...cfg, optimizers: [{ ...cfg.optimizers[0]!, teleport: { ...cfg.optimizers[0]!.teleport, count: 1 } }] };
  const ds = data();
  const n0 = tf.memory().numTensors;
  const a = runOptimizersMnist(one, ds);
  const b = runOptimizersMnist(one, ds);
  assert.equal(tf.memory().numTensors, n0, 'no leaked tensors');
  const arm = (r: typeof a, name: string) => r.optimizers[0]!.arms.find((x) => x.arm === name)!;
  // same init and batch order: the reset at step 0 changes nothing, bit for bit
  assert.deepEqual(arm(a, 'reset').runs.map((r) => r.trainLoss), arm(a, 'none').runs.map((r) => r.trainLoss));
  assert.deepEqual(arm(a, 'reset').runs.map((r) => r.testLoss), arm(a, 'none').runs.map((r) => r.testLoss));
  assert.deepEqual(arm(a, 'none').runs.map((r) => r.model), [0, 1]);
  assert.notEqual(arm(a, 'none').runs[0]!.trainLoss[0], arm(a, 'none').runs[1]!.trainLoss[0], 'the two runs are different models');
  // the teleport changes the trajectory; the same seed gives the same numbers
  assert.notDeepEqual(arm(a, 'teleport-reset').runs[0]!.trainLoss, arm(a, 'none').runs[0]!.trainLoss);
  const nums = (r: typeof a) => r.optimizers[0]!.arms.flatMap((x) => x.runs.flatMap((q) => [...q.trainLoss, ...q.testLoss]));
  assert.deepEqual(nums(a), nums(b));
  assert.equal(a.optimizers[0]!.epochs, 2);
  assert.ok(a.optimizers[0]!.complete);
});

test('the reset-only arm resets the state and leaves the weights; none keeps both; teleport moves the weights', () => {
  const cfg = tiny({ arms: ['none', 'reset', 'teleport-reset'] });
  const o = cfg.optimizers[0]!;
  const inner = optimizer(o.optimizer);
  const ds = data();
  const state = initClassifier({ dims: cfg.dims, models: [0, 0, 0], seed: 0 }, inner);
  // a non-zero momentum buffer, as after some steps
  const opt = { step: 5, slots: { momentumBuffer: state.params.map((p) => tf.onesLike(p)) } };
  disposeState(state.opt);
  const s = { ...state, opt };
  const ctx = {
    cfg, schedule: o.teleport, inner, data: ds.train,
    slots: [{ arm: 'none' as const, run: 0 }, { arm: 'reset' as const, run: 0 }, { arm: 'teleport-reset' as const, run: 0 }],
    distances: new Map(), sourceArm: 'teleport-reset' as const, records: [[], [], []], seconds: [0, 0, 0],
  };
  const next = teleportStep(s, ctx, 0);
  const w = (st: typeof s, b: number) => modelTensors(st.params, b).map((t) => Array.from(t.dataSync()));
  assert.deepEqual(w(next, 0), w(s, 0), 'none: weights kept');
  assert.deepEqual(w(next, 1), w(s, 1), 'reset: weights kept');
  assert.notDeepEqual(w(next, 2), w(s, 2), 'teleport: weights moved');
  const buf = (st: typeof s, b: number) => st.opt.slots.momentumBuffer!.map((t) => tf.tidy(() => tf.slice(t, [b, 0, 0], [1, -1, -1]).abs().sum().dataSync()[0]));
  assert.ok(buf(next, 0).every((v) => v > 0), 'none: momentum kept');
  assert.deepEqual(buf(next, 1), [0, 0, 0], 'reset: momentum zero');
  assert.deepEqual(buf(next, 2), [0, 0, 0], 'teleport-reset: momentum zero');
  assert.equal(next.opt.step, 5, 'momentum resets share the step count (dampening 0)');
  assert.equal(ctx.records[2]!.length, 1);
  disposeClassifier(s, disposeState);
  disposeClassifier(next, disposeState);
});

test('random arm: per layer the same ||g - I|| as the paired teleport, and randomMove applies such a g', () => {
  const cfg = tiny({ arms: ['teleport-reset', 'random'] });
  const r = runOptimizersMnist(cfg, data());
  const [tele, rnd] = r.optimizers[0]!.arms;
  for (let run = 0; run < 2; run++) {
    const a = tele!.runs[run]!.teleports;
    const b = rnd!.runs[run]!.teleports;
    assert.equal(a.length, 2);
    assert.deepEqual(b.map((e) => e.distanceFromIdentity), a.map((e) => e.distanceFromIdentity));
    assert.ok(a.every((e) => e.distanceFromIdentity.every((d) => d > 0)));
  }
  // the element randomMove applied on layer 0: V' = g V, so g = V' V^+ (V has full row rank)
  const ds = data();
  const ws = [tf.randomNormal([6, 784], 0, 0.05, 'float32', 1), tf.randomNormal([5, 6], 0, 0.3, 'float32', 2), tf.randomNormal([10, 5], 0, 0.3, 'float32', 3)] as tf.Tensor2D[];
  const x = tf.tensor2d(ds.train.x.slice(0, 784 * 40), [40, 784]).transpose() as tf.Tensor2D;
  const batch = { x, target: tf.tensor1d(Array.from(ds.train.y.slice(0, 40)), 'int32') };
  const { weights, record } = randomMove(ws, batch, [0.03, 0.02], { slope: 0.1, rng: stream(0, 'test'), k: 0, atStep: 0 });
  const dist = tf.tidy(() => tf.norm(tf.sub(tf.matMul(weights[0]!, pinv(ws[0]!)), tf.eye(6))).dataSync()[0]!);
  assert.ok(Math.abs(dist - 0.03) < 1e-4, `||g0 - I|| = ${dist}`);
  assert.deepEqual(record.distanceFromIdentity, [0.03, 0.02]);
  tf.dispose([...ws, ...weights, x, batch.target]);
});

test('lockstep groups: Adam resets run apart (bias correction reads the step); momentum, AdaGrad, RMSprop share one', () => {
  const arms = ['none', 'teleport', 'teleport-reset', 'reset', 'random'] as const;
  assert.deepEqual(lockstepGroups({ name: 'adam', lr: 1e-4 } as never, arms), [['none', 'teleport'], ['teleport-reset', 'reset', 'random']]);
  for (const o of [{ name: 'momentum', dampening: 0 }, { name: 'adagrad', lrDecay: 0 }, { name: 'rmsprop' }]) {
    assert.ok(resetKeepsStepCount(o as never), o.name);
    assert.deepEqual(lockstepGroups(o as never, arms), [[...arms]]);
  }
  assert.ok(!resetKeepsStepCount({ name: 'momentum', dampening: 0.5 } as never));
});

test('config errors name the field and what was expected', () => {
  const bad = (raw: unknown) => {
    const r = decodeConfig(MnistConfig, raw, 'test.json');
    assert.ok(E.isLeft(r));
    return r.left.message;
  };
  assert.match(bad({ arms: ['none', 'bogus'] }), /arms\[1\]: expected one of/);
  assert.match(bad({ epochs: 5, optimizers: [{ optimizer: { name: 'adam', lr: 1e-4 }, teleport: { epoch: 7 } }] }), /optimizers\[0\]\.teleport\.epoch: expected an epoch below epochs \(5\), got 7/);
  assert.match(bad({ arms: ['none', 'random'] }), /arms: 'random' .* needs 'teleport-reset' or 'teleport'/);
  assert.match(bad({ data: { trainSize: 100 }, optimizers: [{ optimizer: { name: 'adam', lr: 1e-4 }, teleport: { count: 9 } }] }), /optimizers\[0\]\.teleport\.count: expected at most the 5 steps of an epoch, got 9/);
  assert.match(bad({ optimizers: [{ optimizer: { name: 'adam', lr: 1e-4 }, teleport: { settings: { lr: -1 } } }] }), /optimizers\[0\]\.teleport\.settings\.lr: expected a positive number, got -1/);
  // the defaults: the reference code's optimizer rates and teleport schedule
  const d = decodeOrThrow(MnistConfig, {});
  assert.deepEqual(d.optimizers.map((o) => [o.optimizer.name, o.optimizer.lr, o.teleport.epoch, o.teleport.settings.lr, o.teleport.count, o.teleport.batchSize]), [
    ['adagrad', 1e-2, 2, 1e-4, 8, 200],
    ['momentum', 1e-3, 0, 5e-2, 8, 200],
    ['rmsprop', 1e-4, 0, 5e-2, 8, 200],
    ['adam', 1e-4, 0, 5e-2, 8, 200],
  ]);
});

test('paired statistics: t-interval against hand values, verdicts, pairing by model id', () => {
  const i = tInterval([1, 2, 3, 4, 5]);
  // mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776
  assert.ok(Math.abs(i.lo - (3 - 2.776 * Math.sqrt(2.5 / 5))) < 1e-9 && Math.abs(i.hi - (3 + 2.776 * Math.sqrt(2.5 / 5))) < 1e-9);
  assert.equal(verdict(i), 'hurts');
  assert.equal(verdict(tInterval([-1, -1.1, -0.9])), 'helps');
  assert.equal(verdict(tInterval([-1, 1, 0.5])), 'no effect at this power');
  const run = (model: number, v: number) => ({ model, trainLoss: [v], testLoss: [v], epochSeconds: [1], teleportSeconds: 0, teleports: [] });
  assert.deepEqual(pairedDiffs([run(1, 5), run(0, 3)], [run(0, 1), run(1, 2)], 'trainLoss', 1), [3, 2]);
  const s = summarizeOptimizer(
    { optimizer: { name: 'sgd', lr: 1 } as never, teleport: { epoch: 0 } as never, epochs: 1, complete: true, arms: [{ arm: 'none', runs: [run(0, 1), run(1, 2)] }, { arm: 'reset', runs: [run(0, 1.5), run(1, 2.5)] }] },
    [1],
  );
  assert.equal(s.comparisons[0]!.epochs[1]!.mean, 0.5);
});

test("teleport() reports ||g - I|| of the whole teleport's element: on layer 0, g = W0' W0^+", async () => {
  const { teleport } = await import('../../src/teleport/teleport.js');
  const ws = [tf.randomNormal([4, 12], 0, 0.4, 'float32', 5), tf.randomNormal([3, 4], 0, 0.5, 'float32', 6), tf.randomNormal([5, 3], 0, 0.5, 'float32', 7)] as tf.Tensor2D[];
  const x = tf.randomUniform([12, 30], 0, 1, 'float32', 8);
  const target = tf.tensor1d(Array.from({ length: 30 }, (_, i) => i % 5), 'int32');
  const r = teleport(ws, x, target, { objective: 'gradNorm', steps: 4, lr: 0.5, loss: 'ce', slope: 0.1 });
  assert.equal(r.distanceFromIdentity.length, 2);
  const g0 = tf.tidy(() => tf.norm(tf.sub(tf.matMul(r.weights[0]!, pinv(ws[0]!)), tf.eye(4))).dataSync()[0]!);
  assert.ok(g0 > 1e-3, `the teleport moved: ${g0}`);
  assert.ok(Math.abs(r.distanceFromIdentity[0]! - g0) < 1e-3 * Math.max(1, g0), `${r.distanceFromIdentity[0]} vs ${g0}`);
  tf.dispose([...ws, ...r.weights, ...r.tangents.flat(), x, target]);
});

test("hiddenUpdate 'reference': equals the toolkit's teleport with one hidden layer, departs from it with two; no leaks", async () => {
  const { teleport } = await import('../../src/teleport/teleport.js');
  const { referenceTeleport } = await import('../../src/studies/optimizers/reference-teleport.js');
  const x = tf.randomUniform([12, 30], 0, 1, 'float32', 11);
  const target = tf.tensor1d(Array.from({ length: 30 }, (_, i) => i % 5), 'int32');
  const n0 = tf.memory().numTensors;
  const compare = (ws: tf.Tensor2D[], lr: number) => {
    const a = referenceTeleport(ws, { x, target }, { steps: 3, lr, slope: 0.1 });
    const b = teleport(ws, x, target, { objective: 'gradNorm', steps: 3, lr, loss: 'ce', slope: 0.1 });
    const gap = Math.max(...a.weights.map((w, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(w, b.weights[i]!))).dataSync()[0]! / tf.max(tf.abs(w)).dataSync()[0]!)));
    assert.ok(a.objectiveAfter > a.objectiveBefore, 'the reference teleport raises ||grad||^2');
    assert.equal(a.steps, 3);
    const out = { gap, distance: a.distanceFromIdentity, b: b.distanceFromIdentity };
    tf.dispose([...a.weights, ...b.weights, ...b.tangents.flat()]);
    return out;
  };
  const one = [tf.randomNormal([4, 12], 0, 0.4, 'float32', 5), tf.randomNormal([5, 4], 0, 0.5, 'float32', 6)] as tf.Tensor2D[];
  const r1 = compare(one, 0.05);
  assert.ok(r1.gap < 1e-4, `one hidden layer: relative gap ${r1.gap}`);
  assert.ok(Math.abs(r1.distance[0]! - r1.b[0]!) < 1e-4);
  const two = [tf.randomNormal([4, 12], 0, 0.4, 'float32', 5), tf.randomNormal([3, 4], 0, 0.5, 'float32', 6), tf.randomNormal([5, 3], 0, 0.5, 'float32', 7)] as tf.Tensor2D[];
  const r2 = compare(two, 0.05);
  assert.ok(r2.gap > 1e-4, `two hidden layers: the stored h_1 is stale after step 1 (gap ${r2.gap})`);
  tf.dispose([...one, ...two]);
  assert.equal(tf.memory().numTensors, n0, 'no leaked tensors');
  tf.dispose([x, target]);
  const r = decodeConfig(MnistConfig, { optimizers: [{ optimizer: { name: 'adam', lr: 1e-4 }, teleport: { hiddenUpdate: 'reference', settings: { objective: 'sharpness' } } }] }, 'test.json');
  assert.ok(E.isLeft(r) && /optimizers\[0\]\.teleport\.hiddenUpdate: 'reference' implements the gradNorm objective only/.test(r.left.message));
});

test("a run with hiddenUpdate 'reference' trains every arm and records its teleports", () => {
  const cfg = tiny({ arms: ['none', 'teleport', 'teleport-reset', 'random'] });
  const ref = { ...cfg, optimizers: [{ ...cfg.optimizers[0]!, teleport: { ...cfg.optimizers[0]!.teleport, hiddenUpdate: 'reference' as const } }] };
  const n0 = tf.memory().numTensors;
  const r = runOptimizersMnist(ref, data());
  assert.equal(tf.memory().numTensors, n0, 'no leaked tensors');
  const [, tele, teleReset, rnd] = r.optimizers[0]!.arms;
  assert.equal(tele!.runs[0]!.teleports.length, 2);
  assert.ok(teleReset!.runs.every((q) => q.teleports.every((e) => e.objectiveAfter > e.objectiveBefore * 0.9)));
  assert.deepEqual(rnd!.runs[1]!.teleports.map((e) => e.distanceFromIdentity), teleReset!.runs[1]!.teleports.map((e) => e.distanceFromIdentity));
});

test('a run killed after any epoch resumes at its last finished epoch and gives the uninterrupted numbers; no leaks', () => {
  // Adam: two lockstep groups (the random arm's source, teleport-reset, is in the second); the
  // teleports fall in epoch 1, after the first interruption
  const cfg = tiny({ epochs: 3, optimizers: [{ optimizer: { name: 'adam', lr: 1e-3 }, teleport: { epoch: 1, count: 2, batchSize: 40, settings: { steps: 2, lr: 5e-2 } } }] });
  const ds = data();
  const dirs = [mkdtempSync(path.join(tmpdir(), 'lockstep-')), mkdtempSync(path.join(tmpdir(), 'lockstep-'))];
  const trained: string[] = [];
  const hooks = (dir: string, killAt = Infinity) => {
    let saves = 0;
    return {
      log: (s: string) => void (/epoch \d/.test(s) && trained.push(s)),
      lockstep: (_o: unknown, arms: readonly string[]) => ({ dir: path.join(dir, `${arms.join('+')}.lockstep`), key: 'k' }),
      save: () => {
        if (++saves === killAt) throw new Error('killed');
      },
    };
  };
  const n0 = tf.memory().numTensors;
  const whole = runOptimizersMnist(cfg, ds, hooks(dirs[0]!));
  // killed after group 1's epoch 1, then after group 2's epoch 2, then run to the end
  assert.throws(() => runOptimizersMnist(cfg, ds, hooks(dirs[1]!, 1)), /killed/);
  assert.throws(() => runOptimizersMnist(cfg, ds, hooks(dirs[1]!, 4)), /killed/);
  trained.length = 0;
  const resumed = runOptimizersMnist(cfg, ds, hooks(dirs[1]!));
  assert.deepEqual(trained.map((s) => s.replace(/ \(.*/, '')), ['adam lr 0.001 [teleport-reset, reset, random] epoch 3/3'], 'the last run trained only the missing epoch');
  assert.equal(tf.memory().numTensors, n0, 'no leaked tensors');
  const nums = (r: typeof whole) =>
    r.optimizers[0]!.arms.flatMap((a) => a.runs.map((q) => ({ arm: a.arm, train: q.trainLoss, test: q.testLoss, teleports: q.teleports.map(({ seconds: _, ...t }) => t) })));
  assert.deepEqual(nums(resumed), nums(whole));
  assert.equal(resumed.optimizers[0]!.epochs, 3);
  assert.ok(nums(whole).some((r) => r.teleports.length === 2), 'the teleports ran');
  // another config (key) does not resume from these files: it runs from the start
  const other = runOptimizersMnist({ ...cfg, epochs: 1 }, ds, { lockstep: (_o, arms) => ({ dir: path.join(dirs[1]!, `${arms.join('+')}.lockstep`), key: 'other' }) });
  assert.equal(other.optimizers[0]!.epochs, 1);
  assert.deepEqual(nums(other).map((r) => r.train), nums(whole).map((r) => r.train.slice(0, 1)));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
