// The size-agnostic learned optimizers: the coordinate-wise LSTM update and the learned
// teleport wrapper, on tiny MLP tasks of different widths and depths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { stream } from '../../src/rng/index.js';
import { coordinatewise, coordinatewiseEntry } from '../../src/meta/learned/coordinatewise.js';
import { teleportingEntry, withLearnedTeleport } from '../../src/meta/learned/teleport.js';
import { MetaExperimentCodec } from '../../src/meta/config.js';
import { trainAndEvaluate } from '../../src/meta/experiment.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeOrThrow } from '../../src/config/codec.js';
import { LearnedConfig, makeLearned } from '../../src/meta/learned/registry.js';
import { regressionFamily } from '../../src/tasks/regression.js';
import { taskFamily } from '../../src/tasks/registry.js';
import { disposeLearnedState, type LearnedOptimizer, type LearnedState } from '../../src/meta/learned/learned.js';
import { disposeMeta, mapMeta, metaTensors, type MetaParams } from '../../src/meta/params.js';
import type { Task } from '../../src/tasks/task.js';
import { sumSquares } from '../../src/nn/mlp.js';
import { mlpTask } from '../helpers/mlp-task.js';

await initBackend('wasm');

const small = () => mlpTask({ widths: [3, 4, 5, 2], samples: 3, batch: 2, seed: 1 });
const deep = () => mlpTask({ widths: [4, 7, 6, 6, 3], samples: 4, batch: 3, seed: 2 });

/** One optimizer step in a tidy; the new params and state survive it, the old are disposed. */
function stepOnce<S extends LearnedState>(task: Task, opt: ReturnType<LearnedOptimizer<S>['optimizer']>, params: tf.Tensor[], state: S) {
  const out = tf.tidy(() => {
    const { grads } = task.lossAndGrads(params, state.step);
    const r = opt.step(params, grads, state);
    return { params: r.params, tensors: [...r.state.tensors, ...Object.values(r.state.stats ?? {})], state: r.state };
  });
  tf.dispose(params);
  disposeLearnedState(state);
  return { params: out.params, state: out.state };
}

const host = (ts: tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));

test('coordinate-wise + teleport: one set of meta-parameters runs on two MLP sizes and depths', () => {
  const lo = withLearnedTeleport(coordinatewise(), {});
  const a = small();
  const meta = lo.init(stream(0, 'meta'), a);
  assert.deepEqual(Object.keys(meta).sort(), ['tele', 'update']);
  for (const task of [a, deep()]) {
    const opt = lo.optimizer(meta, task);
    let params = task.init();
    let state = opt.init(params);
    for (let i = 0; i < 3; i++) ({ params, state } = stepOnce(task, opt, params, state));
    params.forEach((p, i) => {
      assert.deepEqual(p.shape, [task.size, ...task.paramShapes[i]]);
      assert.ok(Array.from(p.dataSync()).every(Number.isFinite));
    });
    assert.equal(state.step, 3);
    assert.deepEqual(state.stats!.teleDist!.shape, [task.size]);
    assert.deepEqual(state.stats!.updateNorm!.shape, [task.size]);
    // the untrained size head gives initSize (0.05) of the cap (0.2) per layer
    const L = task.symmetry!.groupSizes.length;
    for (const d of state.stats!.teleDist!.dataSync()) assert.ok(Math.abs(d - 0.01 * Math.sqrt(L)) < 1e-6, `teleDist ${d}`);
    tf.dispose(params);
    disposeLearnedState(state);
    task.dispose();
  }
  disposeMeta(meta);
});

for (const gdInput of ['raw', 'layerRms'] as const) {
  test(`coordinate-wise (gdInput ${gdInput}): with zero heads the step is ${gdInput === 'raw' ? '' : 'layer-normalised '}gradient descent`, () => {
    const task = deep();
    const lo = coordinatewise({ gdSkip: 0.05, paramScale: 0.5, lrScaleRange: 2, gdInput });
    const meta0 = lo.init(stream(1, 'meta'), task);
    const meta = mapMeta(meta0, (t, _m, k) => (k.startsWith('head.') ? tf.zerosLike(t) : tf.clone(t)));
    disposeMeta(meta0);
    const opt = lo.optimizer(meta, task);
    let params = task.init();
    let state = opt.init(params);
    for (let i = 0; i < 3; i++) {
      const expected = tf.tidy(() => {
        const { grads } = task.lossAndGrads(params, i);
        return params.map((p, j) => {
          const g = grads[j];
          const d = gdInput === 'raw' ? g : tf.div(g, tf.sqrt(tf.mean(tf.square(g), [1, 2], true)));
          return tf.sub(p, tf.mul(d, 0.05));
        });
      });
      ({ params, state } = stepOnce(task, opt, params, state));
      const [e, g] = [host(expected), host(params)];
      e.forEach((row, j) => row.forEach((v, k) => assert.ok(Math.abs(v - g[j][k]) < 1e-5 * Math.max(1, Math.abs(v)), `step ${i} param ${j}[${k}]: ${g[j][k]} vs GD ${v}`)));
      tf.dispose(expected);
    }
    tf.dispose(params);
    disposeLearnedState(state);
    disposeMeta(meta);
    task.dispose();
  });
}

const exactTasks: [string, () => Task][] = [
  ['the test MLP task', small],
  ['the regression family, 3 layers', () => regressionFamily({ widths: [4, 5, 5, 3], samples: 3, slope: 0.1, seedScheme: 'stream' }).sample(0, 'val', [0, 1])],
];
for (const [what, make] of exactTasks) test(`learned teleport on ${what} keeps the loss (exact action) and moves the gradient norm with the sign of its first coefficient`, () => {
  const task = make();
  // no update at all: only the teleport moves the parameters
  const lo = withLearnedTeleport(coordinatewise({ gdSkip: 0, outputScale: 0 }), { cap: 0.05, initSize: 0.5 });
  const meta = lo.init(stream(2, 'meta'), task);
  const gradNorm = (ps: tf.Tensor[]) => tf.tidy(() => Array.from(sumSquares(task.lossAndGrads(ps, 0).grads).dataSync()));
  const loss = (ps: tf.Tensor[]) => Array.from(tf.tidy(() => task.loss(ps, 0)).dataSync());
  for (const sign of [1, -1]) {
    const b = meta.tele['head.c.b'];
    meta.tele['head.c.b'] = tf.tensor1d([sign, 0, 0]);
    b.dispose();
    const opt = lo.optimizer(meta, task);
    const p0 = task.init();
    const s0 = opt.init(p0);
    const [l0, n0] = [loss(p0), gradNorm(p0)];
    const { params, state } = stepOnce(task, opt, p0.map((p) => tf.clone(p)), s0);
    const [l1, n1] = [loss(params), gradNorm(params)];
    l0.forEach((l, i) => assert.ok(Math.abs(l1[i] - l) <= 1e-4 * Math.abs(l), `loss ${l} -> ${l1[i]}`));
    n0.forEach((n, i) => assert.ok(sign > 0 ? n1[i] > n * 1.001 : n1[i] < n * 0.999, `sign ${sign}: |grad|^2 ${n} -> ${n1[i]}`));
    tf.dispose([...p0, ...params]);
    disposeLearnedState(state);
  }
  disposeMeta(meta);
  task.dispose();
});

// Float32 central differences: the meta-loss (~7) rounds at ~1e-6, so h = 4e-3 leaves ~0.5%
// rounding noise on a derivative of ~0.03, and larger h meets the kinks of LeakyReLU and of the
// sign features (measured: 0.5-0.8% off at h = 5e-3 and 2.5e-3, 9% at 1e-2). Both modules in
// full second order, so the tape holds the exact derivative.
test('meta-gradient through 3 steps of coordinate-wise + teleport matches a central finite difference (float32, 3%)', () => {
  const task = small();
  const lo = withLearnedTeleport(coordinatewise({ outputScale: 0.3, gdSkip: 0.05, secondOrder: true, paramScale: 0.3, lrScaleRange: 1 }), { cap: 0.3, initSize: 0.5, secondOrder: true });
  const meta = lo.init(stream(3, 'meta'), task);
  const names = Object.entries(meta).flatMap(([m, ps]) => Object.keys(ps).map((k) => [m, k] as const));
  const rng = stream(3, 'dir');
  const dir = names.map(([m, k]) => tf.tensor(rng.normalArray(meta[m][k].size), meta[m][k].shape));
  const metaLoss = (m: MetaParams) => {
    const opt = lo.optimizer(m, task);
    let params = task.init();
    let state = opt.init(params);
    let total: tf.Tensor = tf.scalar(0);
    for (let i = 0; i < 3; i++) {
      const { loss, grads } = task.lossAndGrads(params, i);
      total = tf.add(total, tf.mean(loss));
      ({ params, state } = opt.step(params, grads, state));
    }
    return tf.add(total, tf.mean(task.loss(params, 3))) as tf.Scalar;
  };
  const rebuild = (ts: tf.Tensor[]): MetaParams => {
    const out: MetaParams = {};
    names.forEach(([m, k], i) => ((out[m] ??= {})[k] = ts[i]));
    return out;
  };
  const flat = names.map(([m, k]) => meta[m][k]);
  const analytic = tf.tidy(() => {
    const gs = tf.grads((...ts: tf.Tensor[]) => metaLoss(rebuild(ts)))(flat);
    return gs.map((g, i) => tf.sum(tf.mul(g, dir[i]))).reduce((a, b) => tf.add(a, b)).dataSync()[0];
  });
  const at = (h: number) => tf.tidy(() => metaLoss(rebuild(flat.map((t, i) => tf.add(t, tf.mul(dir[i], h))))).dataSync()[0]);
  const h = 4e-3;
  const fd = (at(h) - at(-h)) / (2 * h);
  assert.ok(Math.abs(analytic) > 1e-3, `directional derivative too small to test: ${analytic}`);
  assert.ok(Math.abs(fd - analytic) <= 0.03 * Math.abs(analytic), `autodiff ${analytic} vs central difference ${fd}`);
  tf.dispose(dir);
  disposeMeta(meta);
  task.dispose();
});

test('learned optimizers: no tensor leaks over steps; bad configs and meta-parameters are named', () => {
  const task = deep();
  const lo = withLearnedTeleport(coordinatewise(), {});
  const meta = lo.init(stream(4, 'meta'), task);
  const opt = lo.optimizer(meta, task);
  let params = task.init();
  let state = opt.init(params);
  ({ params, state } = stepOnce(task, opt, params, state));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 4; i++) ({ params, state } = stepOnce(task, opt, params, state));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(params);
  disposeLearnedState(state);
  assert.throws(() => coordinatewise({ hidden: -1 }), /hidden: expected a positive integer/);
  assert.throws(() => withLearnedTeleport(coordinatewise(), { cap: 1.5 }), /cap/);
  assert.throws(() => coordinatewise({ hidden: 7 }).optimizer(meta, task), /update\/cell0.wx has shape/);
  const noSym = { ...task, symmetry: undefined };
  assert.throws(() => lo.optimizer(meta, noSym), /no symmetry/);
  assert.equal(metaTensors(meta).length, 8 + 10);
  disposeMeta(meta);
  task.dispose();
});

test('registration entries decode their configs and build the optimizers', () => {
  const tele = teleportingEntry(coordinatewiseEntry);
  assert.equal(tele.kind, 'coordinatewise+tele');
  const cfg = decodeOrThrow(tele.codec, { inner: { hidden: 5 }, tele: { cap: 0.1 } });
  const lo = tele.create(cfg);
  assert.deepEqual([...lo.modules], ['update', 'tele']);
  assert.throws(() => decodeOrThrow(tele.codec, { inner: { hiden: 5 } }), /inner.hiden: unknown key/);
  const plain = coordinatewiseEntry.create(decodeOrThrow(coordinatewiseEntry.codec, {}));
  assert.equal(plain.name, 'LSTM(coord)');
  // through the library's learned-optimizer registry
  const viaRegistry = makeLearned(decodeOrThrow(LearnedConfig, { kind: 'coordinatewise+tele', inner: { hidden: 5 } }));
  assert.equal(viaRegistry.name, 'LSTM(coord)+tele');
  assert.throws(() => decodeOrThrow(LearnedConfig, { kind: 'coordinatewise', gdInput: 'adam' }), /gdInput: expected one of "raw" \| "layerRms"/);
});

test('the transfer study as a config of the meta experiment (a mixture task family, evaluation tasks) gives the numbers of the study code it replaced', async (t0) => {
  if (tf.getBackend() !== 'wasm') {
    t0.skip(`the fixture is wasm's; backend ${tf.getBackend()} rounds differently`);
    return;
  }
  const fx = JSON.parse(fs.readFileSync(path.join('test', 'fixtures', 'meta', 'pre-entries-transfer.json'), 'utf8')) as {
    config: { seed: number; metaSeeds: number[]; train: Record<string, unknown> & { tasks: unknown[]; lrUpdate: number; lrTele: number }; update: Record<string, unknown>; eval: { tasks: { label: string; task: unknown; trajectories?: number }[]; valTrajectories: number; heldoutTrajectories: number; steps: number; tableSteps: number[] }; baselines: Record<string, number[]> };
    baselines: { optimizer: string; task: string; lr: number; meanLoss: number[] }[];
    learned: { variant: string; metaSeed: number; meanLoss: Record<string, (number | null)[]> }[];
  };
  const c = fx.config;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-transfer-'));
  try {
    const { tasks, trajectories, batch, trajectoryLength, unroll, lrUpdate, lrTele } = c.train;
    const metaLr = { update: lrUpdate, tele: lrTele };
    const train = { seed: c.seed, trajectories, batch, trajectoryLength, unroll, epochs: 1, lossWeighting: 'log', evalEvery: 0, metaLr, clip: 1, lrSchedule: 'cosine', lrFloor: 0.1 };
    const exp = decodeOrThrow(MetaExperimentCodec, {
      seed: c.seed,
      metaSeeds: c.metaSeeds,
      task: { kind: 'mixture', members: tasks },
      heldout: { trajectories: c.eval.heldoutTrajectories, steps: c.eval.steps },
      evalTasks: c.eval.tasks,
      baselineValidation: { trajectories: c.eval.valTrajectories },
      tableSteps: c.eval.tableSteps,
      variants: [
        ...Object.entries(c.baselines).map(([kind, lr]) => ({ label: kind, baseline: { kind, lr } })),
        { label: 'LSTM(coord)', learned: { kind: 'coordinatewise', ...c.update }, train: { ...train, metaLr: { update: metaLr.update } } },
        { label: 'LSTM(coord)+tele', learned: { kind: 'coordinatewise+tele', inner: c.update }, train },
      ],
      logdir: path.join(dir, 'logs'),
      checkpointDir: path.join(dir, 'ckpt'),
      checkpointEvery: 1,
      histogramEvery: 0,
    });
    const r = await trainAndEvaluate(exp, 'transfer', {});
    assert.ok('tasks' in r);
    const mean = (loss: number[][]) => loss[0]!.map((_, s) => loss.reduce((a, run) => a + run[s]!, 0) / loss.length);
    for (const b of fx.baselines) {
      const got = r.tasks[b.task]!.variants[b.optimizer]!;
      assert.equal(got.lr, b.lr, `${b.optimizer} on ${b.task}: the lr chosen on validation`);
      assert.deepEqual(mean(got.loss), b.meanLoss, `${b.optimizer} on ${b.task}`);
    }
    for (const l of fx.learned) {
      for (const [task, want] of Object.entries(l.meanLoss)) {
        const v = r.tasks[task]!.variants[l.variant]!;
        const runs = v.loss.filter((_, i) => v.metaSeed[i] === l.metaSeed);
        const got = mean(runs);
        // a diverged problem (null in the fixture's JSON) is not finite in both; the fused LSTM
        // step rounds differently from the code that wrote the fixture (about 1e-6 relative here)
        got.forEach((x, s) => {
          const w = want[s];
          const same = w === null || w === undefined ? !Number.isFinite(x) : Math.abs(x - w) <= 1e-5 * Math.abs(w);
          assert.ok(same, `${l.variant} seed ${l.metaSeed} on ${task} step ${s}: ${x} vs ${w}`);
        });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

