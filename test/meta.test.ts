import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { initBackend } from '../src/backend/index.js';
import { testBackend } from './helpers/backend.js';
import { groupAction } from '../src/symmetry/action.js';
import { mlpGrads, mlpLoss, gradNormSq } from '../src/nn/mlp.js';
import { stream } from '../src/rng/index.js';
import { sampleRegression, lossAndGrads, disposeBatch } from '../src/tasks/regression.js';
import {
  optimizerStep,
  initMetaParams,
  initUnrollState,
  disposeUnroll,
  teleportPair,
  rescaleT,
  gradNormAscent,
  type VariantConfig,
} from '../src/meta/variant.js';
import { metaGradWindow } from '../src/meta/unroll.js';
import { learnedOptimizer } from '../src/meta/optimizer.js';
import { initTrainState, trainBatch, disposeTrainState, problemData, rollbackToBest, lrFactor, type TrainConfig } from '../src/meta/train.js';
import { MetaExperimentCodec, preset, resolveAll, type ResolvedVariant } from '../src/meta/config.js';
import { trainVariant, evaluateAll, checkpointDirOf } from '../src/meta/run.js';
import { saveCheckpoint, loadCheckpoint, CheckpointError } from '../src/meta/checkpoint.js';
import { writeResultsJson } from '../src/meta/report.js';
import { decodeOrThrow } from '../src/config/codec.js';

await initBackend(testBackend());

const DIM = 4;
const task = { dim: DIM, slope: 0.1, seedScheme: 'stream' as const };

/** The four variants at toy size (hidden 6). */
function tiny(name: 'GD' | 'LSTM(update)' | 'LSTM(lr,tele)' | 'LSTM(update,tele)'): VariantConfig {
  const v = preset(name, 'tuned').variant;
  return {
    ...v,
    update: v.update ? { ...v.update, hidden: 6, lrScaleRange: 1 } : null,
    tele: v.tele ? { ...v.tele, hidden: 6 } : null,
  };
}

const tinyTrain = (o: Partial<TrainConfig> = {}): TrainConfig => ({
  ...preset('LSTM(update,tele)', 'tuned').train,
  seed: 3,
  trajectories: 6,
  batch: 3,
  trajectoryLength: 6,
  unroll: 3,
  evalEvery: 1,
  valTrajectories: 2,
  valSteps: 6,
  ...o,
});

test('learned-optimizer steps keep shapes for every variant', () => {
  const b = sampleRegression(task, 0, 'train', [0, 1, 2]);
  for (const name of ['GD', 'LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const) {
    const v = tiny(name);
    const meta = initMetaParams(v, DIM, stream(1, 'init'));
    const st = initUnrollState(v, b.ws);
    tf.tidy(() => {
      const r = optimizerStep(meta, v, problemData(b, task), st);
      assert.deepEqual(r.state.ws[0].shape, [3, DIM, DIM], name);
      assert.deepEqual(r.state.ws[1].shape, [3, DIM, DIM], name);
      assert.deepEqual(r.loss.shape, [3]);
      if (v.update) assert.deepEqual(r.state.m1?.h[1].shape, [3, 6]);
      if (v.tele) assert.deepEqual(r.stats.teleDist?.shape, [3]);
      if (name === 'LSTM(lr,tele)') {
        const eta = r.stats.eta!.dataSync();
        for (const e of eta) assert.ok(e >= 1e-7 && e <= 5e-3, `step size ${e} in range`);
      }
    });
    disposeUnroll(st);
    tf.dispose(Object.values(meta));
  }
  disposeBatch(b);
});

test('a trained variant used through the Optimizer interface takes the same step', () => {
  const b = sampleRegression(task, 0, 'train', [0]);
  const v = tiny('LSTM(update,tele)');
  const meta = initMetaParams(v, DIM, stream(1, 'init'));
  tf.tidy(() => {
    const data = problemData(b, task);
    const ref = optimizerStep(meta, v, data, initUnrollState(v, b.ws));
    const opt = learnedOptimizer(meta, v, { ...data, x: b.x.squeeze([0]), y: b.y.squeeze([0]), xInv: b.xInv.squeeze([0]) } as never);
    const params = b.ws.map((w) => w.squeeze([0]));
    const { grads } = lossAndGrads(b.ws, b.x, b.y, 0.1);
    const out = opt.step(params, grads.map((g) => g.squeeze([0])), opt.init(params));
    assert.deepEqual(out.params[0].shape, [DIM, DIM]);
    for (let i = 0; i < 2; i++) {
      const err = tf.max(tf.abs(tf.sub(out.params[i], ref.state.ws[i].squeeze([0])))).dataSync()[0];
      assert.ok(err < 1e-5, `layer ${i}: ${err}`);
    }
  });
  tf.dispose(Object.values(meta));
  disposeBatch(b);
});

test('closed-form inner gradients equal tf.grads of the MLP loss', () => {
  const b = sampleRegression(task, 0, 'train', [0, 1]);
  tf.tidy(() => {
    const { loss, grads } = lossAndGrads(b.ws, b.x, b.y, 0.1);
    const ref = mlpGrads(b.ws, b.x, b.y);
    const refLoss = mlpLoss(b.ws, b.x, b.y);
    assert.ok(tf.max(tf.abs(tf.sub(loss, refLoss))).dataSync()[0] <= 1e-4 * tf.max(refLoss).dataSync()[0]);
    for (let i = 0; i < 2; i++) {
      const err = tf.max(tf.abs(tf.sub(grads[i], ref[i]))).dataSync()[0];
      const scale = tf.max(tf.abs(ref[i])).dataSync()[0];
      assert.ok(err <= 1e-5 * scale, `grad ${i}: ${err} vs ${scale}`);
    }
  });
  disposeBatch(b);
});

test('specialised two-layer inverse action equals groupAction(kind: inverse)', () => {
  const b = sampleRegression(task, 0, 'heldout', [0, 1, 2]);
  tf.tidy(() => {
    const t = rescaleT(tf.randomUniform([3, DIM, DIM], -1, 1, 'float32', 5) as tf.Tensor3D, 0.05);
    const g = tf.add(tf.eye(DIM, DIM, [3]), t) as tf.Tensor3D;
    const mine = teleportPair(b.ws, g, { x: b.x, xInv: b.xInv, slope: 0.1 }, 'inverse');
    const ref = groupAction(b.ws, b.x, [g], { kind: 'inverse', slope: 0.1 });
    for (let i = 0; i < 2; i++) {
      const err = tf.max(tf.abs(tf.sub(mine[i], ref[i]))).dataSync()[0];
      assert.ok(err < 1e-4, `layer ${i}: max difference ${err}`);
    }
    // and the loss is invariant
    const l0 = mlpLoss(b.ws, b.x, b.y).dataSync();
    const l1 = mlpLoss(mine, b.x, b.y).dataSync();
    l0.forEach((l, i) => assert.ok(Math.abs(l - l1[i]) <= 1e-3 * l, `loss ${l} -> ${l1[i]}`));
  });
  disposeBatch(b);
});

test('closed-form gradient-norm ascent direction equals autodiff through groupAction', () => {
  const b = sampleRegression(task, 0, 'heldout', [0, 1]);
  tf.tidy(() => {
    const mine = gradNormAscent(b.ws, { x: b.x, y: b.y, slope: 0.1 });
    const ref = tf.grad((t: tf.Tensor) => {
      const g = tf.add(tf.eye(DIM, DIM, [2]), t);
      return tf.sum(gradNormSq(groupAction(b.ws, b.x, [g], { kind: 'inverse', slope: 0.1 }), b.x, b.y));
    })(tf.zeros([2, DIM, DIM]));
    const err = tf.max(tf.abs(tf.sub(mine, ref))).dataSync()[0];
    const scale = tf.max(tf.abs(ref)).dataSync()[0];
    assert.ok(err <= 2e-3 * scale, `max error ${err} vs scale ${scale}`);
  });
  disposeBatch(b);
});

test('tf.memory().numTensors stays flat across meta-training windows and batches', () => {
  const v = tiny('LSTM(update,tele)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  let st = initTrainState(v, c, DIM);
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    st = trainBatch(st, v, c, task).state;
    counts.push(tf.memory().numTensors);
  }
  assert.equal(counts[1], counts[0], `numTensors ${counts}`);
  assert.equal(counts[2], counts[0], `numTensors ${counts}`);
  disposeTrainState(st);
});

/** Directional derivative of the window meta-loss: analytic (tape) vs central difference. */
function directional(v: VariantConfig, length: number, eps: number): { fd: number; analytic: number } {
  const b = sampleRegression(task, 0, 'train', [0, 1]);
  const data = problemData(b, task);
  const meta = initMetaParams(v, DIM, stream(2, 'init'));
  const st = initUnrollState(v, b.ws);
  const r = metaGradWindow(meta, v, data, st, length, 'log');
  disposeUnroll(r.state);
  const names = Object.keys(meta).sort();
  const dir = stream(9, 'dir');
  const d: Record<string, tf.Tensor> = {};
  for (const k of names) d[k] = tf.tensor(dir.normalArray(meta[k].size), meta[k].shape);
  const analytic = names.reduce((s, k) => s + tf.sum(tf.mul(r.grads[k], d[k])).dataSync()[0], 0);
  const at = (e: number) => {
    const m: Record<string, tf.Tensor> = {};
    for (const k of names) m[k] = tf.add(meta[k], tf.mul(d[k], e));
    const w = metaGradWindow(m, v, data, st, length, 'log');
    disposeUnroll(w.state);
    tf.dispose([...Object.values(m), ...Object.values(w.grads)]);
    return w.metaLoss;
  };
  // Richardson extrapolation of central differences at eps and eps/2: cancels the O(eps^2)
  // term (about 1% at eps = 1e-2 with the tuned teleport size 0.2), leaving O(eps^4).
  const central = (h: number) => (at(h) - at(-h)) / (2 * h);
  const fd = (4 * central(eps / 2) - central(eps)) / 3;
  disposeUnroll(st);
  tf.dispose([...Object.values(meta), ...Object.values(r.grads), ...Object.values(d)]);
  disposeBatch(b);
  return { fd, analytic };
}

const fdVariant = (secondOrder: boolean): VariantConfig => {
  const v = tiny('LSTM(update,tele)');
  return { ...v, secondOrder, update: { ...v.update!, outputScale: 0.05 } };
};

// float32 forward: the extrapolated difference quotient carries ~1e-7 |L| / eps of rounding
// noise plus O(eps^4) truncation; 2% (one step) and 0.5% (three steps) of the derivative bound
// both at eps = 1e-2 on this toy problem.
test('first-order meta-gradient matches a central finite difference of a one-step window', () => {
  // With one step the gradient input is the gradient at the detached start, a true constant,
  // so the first-order meta-gradient is the exact derivative of the window loss.
  const { fd, analytic } = directional(fdVariant(false), 1, 1e-2);
  assert.ok(Math.abs(fd - analytic) <= 2e-2 * Math.abs(analytic), `FD ${fd} vs analytic ${analytic}`);
});

test('full second-order meta-gradient matches a central finite difference of a 3-step window', () => {
  const { fd, analytic } = directional(fdVariant(true), 3, 1e-2);
  assert.ok(Math.abs(fd - analytic) <= 5e-3 * Math.abs(analytic), `FD ${fd} vs analytic ${analytic}`);
  // the first-order option drops the terms through the gradient input: it differs
  const fo = directional(fdVariant(false), 3, 1e-2);
  assert.notEqual(fo.analytic, analytic);
});

function tinyExperiment(root: string) {
  return decodeOrThrow(MetaExperimentCodec, {
    seed: 1,
    metaSeeds: [0],
    task,
    heldout: { trajectories: 3, steps: 6 },
    variants: [{ name: 'GD' }, { name: 'LSTM(update,tele)' }],
    logdir: path.join(root, 'logs'),
    checkpointDir: path.join(root, 'ckpt'),
    checkpointEvery: 1,
  });
}

const tinyResolved = (): ResolvedVariant[] => [
  { label: 'GD', name: 'GD', variant: tiny('GD'), train: tinyTrain() },
  { label: 'LSTM(update,tele)', name: 'LSTM(update,tele)', variant: tiny('LSTM(update,tele)'), train: tinyTrain({ trajectories: 9, epochs: 2 }) },
];

test('resume after a stop gives the same numbers as an uninterrupted run', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const rv = tinyResolved()[1];
    const a = tinyExperiment(path.join(root, 'a'));
    const full = trainVariant(rv, a, 0, { tensorboard: false });
    const b = tinyExperiment(path.join(root, 'b'));
    const part = trainVariant(rv, b, 0, { tensorboard: false, stopAfterBatches: 2 });
    assert.equal(part.finished, false);
    tf.dispose(Object.values(part.meta));
    const rest = trainVariant(rv, b, 0, { tensorboard: false, resume: b.checkpointDir });
    assert.equal(rest.finished, true);
    for (const k of Object.keys(full.meta)) {
      assert.deepEqual(Array.from(rest.meta[k].dataSync()), Array.from(full.meta[k].dataSync()), k);
    }
    // the checkpoints agree too (Adam moments, counters)
    const ca = loadCheckpoint(checkpointDirOf(a.checkpointDir, rv.label, 0), null);
    const cb = loadCheckpoint(checkpointDirOf(b.checkpointDir, rv.label, 0), null);
    assert.equal(ca.state.batchesDone, cb.state.batchesDone);
    assert.equal(ca.state.adam.step, cb.state.adam.step);
    for (const k of Object.keys(ca.state.adam.v)) assert.deepEqual(ca.state.adam.v[k].dataSync(), cb.state.adam.v[k].dataSync());
    disposeTrainState(ca.state);
    disposeTrainState(cb.state);
    tf.dispose([...Object.values(full.meta), ...Object.values(rest.meta)]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('corrupt or mismatched checkpoints are clear errors', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const v = tiny('LSTM(update)');
    const c = tinyTrain();
    const st = initTrainState(v, c, DIM);
    const cfg = { variant: v, train: c, task };
    saveCheckpoint(root, st, cfg);
    const ok = loadCheckpoint(root, cfg);
    disposeTrainState(ok.state);
    assert.throws(() => loadCheckpoint(root, { ...cfg, train: { ...c, batch: 4 } }), (e: Error) => e instanceof CheckpointError && /config\.train\.batch/.test(e.message));
    const bin = path.join(root, 'tensors.bin');
    const bytes = fs.readFileSync(bin);
    bytes[10] ^= 0xff;
    fs.writeFileSync(bin, bytes);
    assert.throws(() => loadCheckpoint(root, cfg), (e: Error) => e instanceof CheckpointError && /SHA-256/.test(e.message));
    fs.writeFileSync(path.join(root, 'manifest.json'), '{"format": ');
    assert.throws(() => loadCheckpoint(root, cfg), (e: Error) => e instanceof CheckpointError && /corrupt/.test(e.message));
    assert.throws(() => loadCheckpoint(path.join(root, 'nope'), cfg), /no manifest/);
    disposeTrainState(st);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('held-out evaluation JSON: variants -> loss as runs x (steps + 1)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const exp = tinyExperiment(root);
    const [gd, lt] = tinyResolved();
    const meta = initMetaParams(lt.variant, DIM, stream(0, 'x'));
    const r = evaluateAll([gd, lt], new Map([[`${lt.label}#0`, meta]]), exp);
    const file = path.join(root, 'r.json');
    writeResultsJson(file, r);
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(Object.keys(j.variants).sort(), ['GD', 'LSTM(update,tele)']);
    for (const name of Object.keys(j.variants)) {
      const loss = j.variants[name].loss;
      assert.equal(loss.length, 3);
      for (const run of loss) {
        assert.equal(run.length, 7);
        for (const x of run) assert.equal(typeof x, 'number');
      }
    }
    // the same held-out problems: every variant starts from the same loss
    assert.deepEqual(j.variants.GD.loss.map((r: number[]) => r[0]), j.variants['LSTM(update,tele)'].loss.map((r: number[]) => r[0]));
    tf.dispose(Object.values(meta));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('experiment configs: presets decode, bad overrides are errors naming the field', () => {
  for (const f of ['meta-default.json', 'meta-paper.json', 'meta-tuned.json']) {
    const exp = decodeOrThrow(MetaExperimentCodec, JSON.parse(fs.readFileSync(path.join('experiments', f), 'utf8')), f);
    const r = resolveAll(exp, f);
    assert.ok(E.isRight(r), f);
    if (E.isRight(r)) assert.deepEqual(r.right.map((v) => v.label).sort(), ['GD', 'LSTM(lr,tele)', 'LSTM(update)', 'LSTM(update,tele)']);
  }
  const bad = decodeOrThrow(MetaExperimentCodec, { variants: [{ name: 'LSTM(update)', variant: { update: { hidden: -3 } } }] });
  const r = resolveAll(bad, 'bad.json');
  assert.ok(E.isLeft(r));
  if (E.isLeft(r)) assert.match([r.left.message, ...r.left.problems].join('\n'), /variants\[0\]\.variant[\s\S]*hidden/);
  assert.throws(() => decodeOrThrow(MetaExperimentCodec, { variants: [{ name: 'LSTM(update)', colour: 1 }] }), /colour/);
});

test('LSTM(update) and LSTM(update,tele) share the update LSTM init and the trajectory order (paired)', () => {
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  const a = initTrainState({ ...tiny('LSTM(update)'), name: 'A' }, c, DIM);
  const b = initTrainState({ ...tiny('LSTM(update,tele)'), name: 'B' }, c, DIM);
  const m1 = Object.keys(a.meta).filter((k) => k.startsWith('m1.'));
  assert.ok(m1.length > 0);
  assert.deepEqual(m1, Object.keys(b.meta).filter((k) => k.startsWith('m1.')));
  for (const k of m1) assert.deepEqual(Array.from(a.meta[k].dataSync()), Array.from(b.meta[k].dataSync()), k);
  assert.deepEqual(Array.from(a.order.permutation(9)), Array.from(b.order.permutation(9)));
  disposeTrainState(a);
  disposeTrainState(b);
});

test('rollbackToBest restores the best validated meta-parameters with fresh Adam moments', () => {
  const v = tiny('LSTM(update)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  let st = initTrainState(v, c, DIM);
  assert.equal(rollbackToBest(st), st); // nothing validated yet: no-op
  const best: Record<string, tf.Tensor> = {};
  for (const [k, p] of Object.entries(st.meta)) best[k] = tf.clone(p);
  st = trainBatch({ ...st, bestMeta: best }, v, c, task).state;
  const back = rollbackToBest(st);
  for (const k of Object.keys(best)) {
    assert.deepEqual(Array.from(back.meta[k].dataSync()), Array.from(best[k].dataSync()), k);
    assert.ok(back.adam.m[k].dataSync().every((x) => x === 0), k);
  }
  disposeTrainState(back);
});

test('meta learning-rate schedule: constant is 1; cosine decays monotonically from 1 to the floor', () => {
  assert.equal(lrFactor({ lrSchedule: 'constant', lrFloor: 0.1 }, 0.7), 1);
  const c = { lrSchedule: 'cosine' as const, lrFloor: 0.05 };
  assert.equal(lrFactor(c, 0), 1);
  assert.ok(Math.abs(lrFactor(c, 1) - 0.05) < 1e-12);
  assert.ok(Math.abs(lrFactor(c, 0.5) - 0.525) < 1e-12);
  const f = Array.from({ length: 21 }, (_, i) => lrFactor(c, i / 20));
  for (let i = 1; i < f.length; i++) assert.ok(f[i] < f[i - 1], `decreasing at ${i}`);
  assert.equal(lrFactor(c, 2), lrFactor(c, 1)); // clamped past the end
});

test('the schedule scales the meta-steps: cosine with floor 1 equals constant, floor 0 differs', () => {
  const v = tiny('LSTM(update)');
  const run = (o: Partial<TrainConfig>) => {
    // one batch of two windows: the second is taken at progress 1/2
    const c = tinyTrain({ evalEvery: 0, trajectories: 3, ...o });
    const st = trainBatch(initTrainState(v, c, DIM), v, c, task).state;
    const w = Array.from(st.meta['m1.head.s.w'].dataSync());
    disposeTrainState(st);
    return w;
  };
  const constant = run({ lrSchedule: 'constant' });
  assert.deepEqual(run({ lrSchedule: 'cosine', lrFloor: 1 }), constant);
  assert.notDeepEqual(run({ lrSchedule: 'cosine', lrFloor: 0 }), constant);
});

test('warm start: the update LSTM comes from the named variant, the teleport LSTM is fresh; bad names are config errors', () => {
  const c = tinyTrain({ evalEvery: 0, trajectories: 3 });
  const source = trainBatch(initTrainState(tiny('LSTM(update)'), c, DIM), tiny('LSTM(update)'), c, task).state;
  const fresh = initTrainState(tiny('LSTM(update,tele)'), c, DIM);
  const warm = initTrainState(tiny('LSTM(update,tele)'), { ...c, warmStart: 'LSTM(update)' }, DIM, source.meta);
  const same = (a: tf.Tensor, b: tf.Tensor) => Array.from(a.dataSync()).every((x, i) => x === b.dataSync()[i]);
  for (const k of Object.keys(warm.meta)) {
    if (k.startsWith('m1.')) assert.ok(same(warm.meta[k], source.meta[k]) && !same(warm.meta[k], fresh.meta[k]), k);
    else assert.ok(same(warm.meta[k], fresh.meta[k]), k);
  }
  assert.throws(() => initTrainState(tiny('LSTM(update,tele)'), { ...c, warmStart: 'LSTM(update)' }, DIM), /trained meta-parameters are needed/);
  const wide = initMetaParams({ ...tiny('LSTM(update)'), update: { ...tiny('LSTM(update)').update!, hidden: 7 } }, DIM, stream(1, 'init'));
  assert.throws(() => initTrainState(tiny('LSTM(update,tele)'), { ...c, warmStart: 'X' }, DIM, wide), /warm start from X: m1\..* is \[/);
  tf.dispose(Object.values(wide));
  [source, fresh, warm].forEach(disposeTrainState);

  const exp = (variants: unknown[]) => decodeOrThrow(MetaExperimentCodec, { variants });
  const ok = resolveAll(exp([{ name: 'LSTM(update)' }, { name: 'LSTM(update,tele)', train: { warmStart: 'LSTM(update)' } }]), 'x.json');
  assert.ok(E.isRight(ok));
  for (const [variants, why] of [
    [[{ name: 'LSTM(update,tele)', train: { warmStart: 'LSTM(update)' } }, { name: 'LSTM(update)' }], /earlier variant/],
    [[{ name: 'LSTM(lr,tele)' }, { name: 'LSTM(update,tele)', train: { warmStart: 'LSTM(lr,tele)' } }], /no update LSTM of the same size/],
    [[{ name: 'LSTM(update)' }, { name: 'LSTM(lr,tele)', train: { warmStart: 'LSTM(update)' } }], /no update LSTM to start/],
  ] as const) {
    const r = resolveAll(exp([...variants]), 'x.json');
    assert.ok(E.isLeft(r));
    if (E.isLeft(r)) assert.match(r.left.problems.join('\n'), new RegExp(`variants\\[\\d\\]\\.train\\.warmStart: [\\s\\S]*${why.source}`));
  }
});
