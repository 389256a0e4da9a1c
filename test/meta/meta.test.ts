import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { initBackend } from '../../src/backend/index.js';
import { testBackend } from '../helpers/backend.js';
import { groupAction, rescaleFrobenius, teleportTwoLayer } from '../../src/symmetry/action.js';
import { mlpGrads, mlpLoss, gradNormSq } from '../../src/nn/mlp.js';
import { stream } from '../../src/rng/index.js';
import { lossAndGrads, regressionFamily, gradNormAscent } from '../../src/tasks/regression.js';
import { inv64, mat64 } from '../../src/ops/linalg64.js';
import { checkGradient } from '../../src/ops/gradcheck.js';
import { loss as f64Loss } from '../helpers/f64.js';
import type { TaskConfig } from '../../src/tasks/registry.js';
import type { VariantConfig } from '../../src/meta/variant.js';
import { paperLearned, groupElementForTests } from '../../src/meta/learned/paper.js';
import { buildRunParts, entryRunSpec } from '../../src/meta/build.js';
import { paperEntry, paperPreset } from '../helpers/paper.js';
import { localShards, shardIds } from '../../src/meta/shards.js';
import { combineEstimates, disposeEstimate } from '../../src/meta/estimator.js';
import { tbptt } from '../../src/meta/estimators/tbptt.js';
import { pes } from '../../src/meta/estimators/pes.js';
import { disposeMeta, flattenMeta, mapMeta, metaTensors, type MetaParams } from '../../src/meta/params.js';
import { innerStep, startTrajectories, disposeTrajectories, trajectoryTensors, windowLossTerm, sumTerms } from '../../src/meta/truncated.js';
import { withLstmPair } from '../../src/nn/lstm.js';
import { initTrainState, initialMeta, trainBatch, disposeTrainState, rollbackToBest, lrFactor, evaluate, validate, type MetaTrainState, type TrainConfig } from '../../src/meta/train.js';
import type { LearnedOptimizer } from '../../src/meta/learned/learned.js';
import { MetaExperimentCodec, TrainCodec, isBaseline, resolveAll, resolvePreset, trainedEntry, type LearnedEntry } from '../../src/meta/config.js';
import { makeBaseline } from '../../src/meta/baselines.js';
import { makeLearned } from '../../src/meta/learned/registry.js';
import { trainVariant, evaluateAll } from '../../src/meta/run.js';
import { checkpointDirOf } from '../../src/meta/paths.js';
import { saveCheckpoint, loadCheckpoint, CheckpointError } from '../../src/meta/checkpoint.js';
import { bestVsOthersTable, pairedAtStep, writeResultsJson, type EvalResults } from '../../src/meta/report.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import { countHostReads } from '../../src/ops/host-reads.js';

await initBackend(testBackend());

const DIM = 4;
const TASK: TaskConfig = { kind: 'regression', widths: [DIM, DIM, DIM], samples: DIM, slope: 0.1, seedScheme: 'stream' };
const family = regressionFamily({ widths: [DIM, DIM, DIM], samples: DIM, slope: 0.1, seedScheme: 'stream' });

/** The four variants at toy size (hidden 6). */
function tiny(name: 'GD' | 'LSTM(update)' | 'LSTM(lr,tele)' | 'LSTM(update,tele)'): VariantConfig {
  const v = paperPreset(name).variant;
  return {
    ...v,
    update: v.update ? { ...v.update, hidden: 6, lrScaleRange: 1 } : null,
    tele: v.tele ? { ...v.tele, hidden: 6 } : null,
  };
}

const tinyTrain = (o: Partial<TrainConfig> = {}): TrainConfig => ({
  ...paperPreset('LSTM(update,tele)').train,
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

const partsOf = (v: VariantConfig, c: TrainConfig, estimator: { kind: string } & Record<string, unknown> = { kind: 'tbptt' }) =>
  buildRunParts(entryRunSpec(TASK, paperEntry('', v, c, estimator)));
const init = (v: VariantConfig, c: TrainConfig, warm?: MetaParams) => {
  const p = partsOf(v, c);
  return initTrainState(p.learned, p.family, c, warm);
};
async function batch(st: MetaTrainState, v: VariantConfig, c: TrainConfig, shards = 1) {
  return trainBatch(st, c, localShards(partsOf(v, c)), shards);
}
const metaInit = (v: VariantConfig, seed: number) => {
  const t = family.sample(0, 'train', [0]);
  const m = paperLearned(v).init(stream(seed, 'init'), t);
  t.dispose();
  return m;
};

test('learned-optimizer steps keep shapes for every variant', () => {
  const t = family.sample(0, 'train', [0, 1, 2]);
  for (const name of ['GD', 'LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const) {
    const v = tiny(name);
    const meta = metaInit(v, 1);
    const opt = paperLearned(v).optimizer(meta, t);
    const tr = startTrajectories(opt, t);
    tf.tidy(() => {
      const r = innerStep(opt, t, tr);
      assert.deepEqual(r.next.params[0].shape, [3, DIM, DIM], name);
      assert.deepEqual(r.next.params[1].shape, [3, DIM, DIM], name);
      assert.deepEqual(r.loss.shape, [3]);
      if (v.update) assert.deepEqual(r.next.opt.update?.h[1].shape, [3, 6]);
      if (v.tele) assert.deepEqual(r.stats.teleDist?.shape, [3]);
      if (name === 'LSTM(lr,tele)') {
        const eta = r.stats.eta!.dataSync();
        for (const e of eta) assert.ok(e >= 1e-7 && e <= 5e-3, `step size ${e} in range`);
      }
    });
    disposeTrajectories(tr);
    disposeMeta(meta);
  }
  t.dispose();
});

test('regression of depth 3: closed-form gradients equal autodiff; the inverse action keeps the loss and the ascent direction raises the gradient norm', () => {
  const deep = regressionFamily({ widths: [5, 6, 7, 3], samples: 4, slope: 0.1, seedScheme: 'stream' });
  const t = deep.sample(0, 'train', [0, 1]);
  tf.tidy(() => {
    const ws = t.init();
    const { loss, grads } = t.lossAndGrads(ws, 0);
    // autodiff of the same loss
    const ref = tf.grads((...w: tf.Tensor[]) => tf.sum(t.loss(w, 0)))(ws);
    for (let i = 0; i < 3; i++) {
      const err = tf.max(tf.abs(tf.sub(grads[i], ref[i]))).dataSync()[0];
      const scale = tf.max(tf.abs(ref[i])).dataSync()[0];
      assert.ok(err <= 1e-5 * scale, `layer ${i}: ${err} vs ${scale}`);
    }
    const sym = t.symmetry!;
    assert.deepEqual(sym.groupSizes, [6, 7]);
    const gs = sym.groupSizes.map((n, m) => tf.add(tf.eye(n, n, [2]), rescaleFrobenius(tf.randomUniform([2, n, n], -1, 1, 'float32', 3 + m) as tf.Tensor3D, 0.05)) as tf.Tensor3D);
    const moved = sym.act(ws, gs, 0);
    const l0 = loss.dataSync();
    const l1 = t.loss(moved, 0).dataSync();
    l0.forEach((l, i) => assert.ok(Math.abs(l - l1[i]) <= 1e-3 * l, `loss ${l} -> ${l1[i]}`));
    const dirs = sym.directions(ws, grads, 0);
    assert.deepEqual(sym.directionKinds, ['gradNorm', 'w2']);
    // one kind alone is the same tensors as in the full list
    sym.directionKinds.forEach((kind, i) =>
      sym.direction!(ws, grads, 0, kind).forEach((d, m) => assert.deepEqual(Array.from(d.dataSync()), Array.from(dirs[m][i].dataSync()), `${kind}, layer ${m}`)),
    );
    // with k < width even g = I changes the weights (it projects them onto the span of the
    // layer inputs; f(X) is unchanged), so compare with the action of the identity
    const gradSq = (p: tf.Tensor[]) => tf.addN(t.lossAndGrads(p, 0).grads.map((g) => tf.sum(tf.square(g), [1, 2]))).dataSync();
    const eye = (m: number) => tf.eye(sym.groupSizes[m], sym.groupSizes[m], [2]);
    const g0 = gradSq(sym.act(ws, dirs.map((_, m) => eye(m) as tf.Tensor3D), 0));
    const g1 = gradSq(sym.act(ws, dirs.map((d, m) => tf.add(eye(m), tf.mul(1e-3, d[0])) as tf.Tensor3D), 0));
    g0.forEach((g, i) => assert.ok(g1[i] > g, `gradient norm ${g} -> ${g1[i]}`));
  });
  t.dispose();
});

test('the paper variants through the new parts give the window meta-losses and meta-gradients of the pre-parts code', (t0) => {
  const fx = JSON.parse(fs.readFileSync(path.join('test', 'fixtures', 'meta', 'pre-parts-windows.json'), 'utf8')) as {
    windows: Record<string, { metaLoss: number; gradNorm: Record<string, number> }[]>;
  };
  // The fixture was written on wasm, where the new code must give the same float32 sums. Other
  // backends sum in another order and these trajectories amplify it (measured: cpu and
  // tensorflow agree with each other to 4e-6 but differ from wasm by 0.24% in LSTM(update,tele)'s
  // second window), so there the fixture cannot tell a refactoring error from rounding.
  if (tf.getBackend() !== 'wasm') {
    t0.skip(`the fixture is wasm's; backend ${tf.getBackend()} rounds differently`);
    return;
  }
  const [lossTol, normTol] = [1e-6, 1e-4];
  const fam = regressionFamily({ widths: [20, 20, 20], samples: 20, slope: 0.1, seedScheme: 'stream' });
  const t = fam.sample(0, 'train', [0, 1, 2, 3]);
  for (const [name, rows] of Object.entries(fx.windows)) {
    const l = paperLearned(paperPreset(name as 'LSTM(update)').variant);
    const meta = l.init(stream(5, 'meta-init'), t);
    const e = tbptt(l, 'log');
    let st = e.init(meta, t, { seed: 0, batch: 0, ids: [0, 1, 2, 3] });
    rows.forEach((want, w) => {
      const r = e.estimate(meta, t, st, 10);
      st = r.state;
      assert.ok(Math.abs(r.estimate.metaLoss - want.metaLoss) <= lossTol * want.metaLoss, `${name} window ${w}: ${r.estimate.metaLoss} vs ${want.metaLoss}`);
      for (const [mod, n] of Object.entries(want.gradNorm)) {
        const got = Math.sqrt(Object.values(r.estimate.grads[mod]).reduce((s, g) => s + tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]), 0));
        assert.ok(Math.abs(got - n) <= normTol * n, `${name} window ${w} ${mod}: gradient norm ${got} vs ${n}`);
      }
      disposeMeta(r.estimate.grads);
    });
    e.dispose(st);
    disposeMeta(meta);
  }
  t.dispose();
});

test('a window with the on-device inverse reads the host twice (meta-loss, mean losses), whatever its length; the float64 inverse reads every step', () => {
  const t = family.sample(0, 'train', [0, 1]);
  const base = tiny('LSTM(update,tele)');
  const readsOf = (inverse: 'host' | 'device', length: number) => {
    const v: VariantConfig = { ...base, tele: { ...base.tele!, inverse } };
    const l = paperLearned(v);
    const meta = metaInit(v, 3);
    const e = tbptt(l, 'log');
    const st = e.init(meta, t, { seed: 0, batch: 0, ids: [0, 1] });
    const { value, reads } = countHostReads(() => e.estimate(meta, t, st, length));
    e.dispose(value.state);
    disposeMeta(value.estimate.grads);
    disposeMeta(meta);
    return { reads: reads.total, loss: value.estimate.metaLoss };
  };
  const d3 = readsOf('device', 3), d6 = readsOf('device', 6), h3 = readsOf('host', 3), h6 = readsOf('host', 6);
  assert.equal(d3.reads, 2, `device, 3 steps: ${d3.reads} reads`);
  assert.equal(d6.reads, 2, `device, 6 steps: ${d6.reads} reads`);
  assert.ok(h6.reads > h3.reads && h3.reads > 2, `host: ${h3.reads} and ${h6.reads} reads`);
  // the two inverses give the same window to float32 rounding (||T|| <= 0.2: Newton-Schulz error ~1e-12)
  assert.ok(Math.abs(d6.loss - h6.loss) <= 1e-5 * Math.abs(h6.loss), `meta-loss ${d6.loss} vs ${h6.loss}`);
  t.dispose();
});

test('a window transposes each LSTM weight once for its input gradients, whatever its length', async () => {
  const t = family.sample(0, 'train', [0, 1]);
  const v = tiny('LSTM(update,tele)');
  const l = paperLearned(v);
  const meta = metaInit(v, 3);
  const transposesOf = async (length: number) => {
    const e = tbptt(l, 'log');
    const st = e.init(meta, t, { seed: 0, batch: 0, ids: [0, 1] });
    let out: ReturnType<typeof e.estimate> | undefined;
    const info = await tf.profile(() => {
      out = e.estimate(meta, t, st, length);
    });
    e.dispose(out!.state);
    disposeMeta(out!.estimate.grads);
    // every matrix transpose (the LSTM weights, alone or as the pair of src/nn/lstm.ts
    // lstmPairStep, and the sinks' once-per-window inputs); the task's are batched [B, n, n]
    return info.kernels.filter((k) => k.name === 'Transpose' && k.inputShapes[0]?.length === 2).length;
  };
  const n2 = await transposesOf(2);
  const n6 = await transposesOf(6);
  assert.ok(n2 > 0, 'the backward pass needs w^T');
  assert.equal(n6, n2, `weight transposes: ${n2} in a 2-step window, ${n6} in a 6-step one`);
  disposeMeta(meta);
  t.dispose();
});

/** B problems of the paper's kind at width DIM (W1, W2, X, Y uniform in [0, 1)) and X^-1 in float64. */
function problems(B: number, seed: number) {
  const r = stream(seed, 'problems');
  const draws = Array.from({ length: 4 }, () => r.uniformArray(B * DIM * DIM));
  const m = (a: Float32Array) => tf.tensor3d(a, [B, DIM, DIM]);
  const xInv = new Float32Array(B * DIM * DIM);
  for (let b = 0; b < B; b++) xInv.set(inv64(mat64(DIM, DIM, draws[2].subarray(b * DIM * DIM, (b + 1) * DIM * DIM))).data, b * DIM * DIM);
  const p = { ws: [m(draws[0]), m(draws[1])] as [tf.Tensor3D, tf.Tensor3D], x: m(draws[2]), y: m(draws[3]), xInv: m(xInv) };
  return { ...p, dispose: () => tf.dispose([...p.ws, p.x, p.y, p.xInv]) };
}

test('closed-form inner gradients equal tf.grads of the MLP loss', () => {
  const b = problems(2, 0);
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
  b.dispose();
});

test('the regression loss (the meta-gradient reads its first derivative): order 1 matches float64 finite differences, per problem', () => {
  const b = problems(2, 3);
  const B = 2, n = DIM * DIM;
  const weights = tf.tensor1d([0.7, 1.3]);
  const result = checkGradient(
    ([w1, w2]) => tf.sum(tf.mul(lossAndGrads([w1, w2] as [tf.Tensor3D, tf.Tensor3D], b.x, b.y, 0.1).loss, weights)) as tf.Scalar,
    ([w1, w2]) => {
      const x = b.x.dataSync(), y = b.y.dataSync();
      let total = 0;
      for (let i = 0; i < B; i++) {
        const m = (a: ArrayLike<number>) => mat64(DIM, DIM, Array.from(a).slice(i * n, (i + 1) * n));
        total += [0.7, 1.3][i] * f64Loss([m(w1), m(w2)], m(x), { kind: 'mse', y: m(y) }, 0.1);
      }
      return total;
    },
    b.ws,
    { orders: [1], directions: 3, seed: 11, h: 1e-3 },
  );
  assert.ok(result.maxRelError[1]! < 1e-3, JSON.stringify(result.entries));
  weights.dispose();
  b.dispose();
});

test('the fused group element (one op, hand-written backward): the op-by-op forward to the bit, order 1 against float64 finite differences', () => {
  const B = 3, d = 4, n = d * d;
  const tele = { ...paperPreset('LSTM(update,tele)').variant.tele!, magnitude: 0.2, headScale: 0.01 };
  const r = stream(21, 'group-element');
  const th = tf.tensor2d(r.uniformArray(B * n, -1, 1), [B, n]);
  const c = tf.tensor2d(r.uniformArray(B, -1, 1), [B, 1]);
  const m = tf.tensor2d(r.uniformArray(B, -1, 1), [B, 1]);
  const dirHost = r.uniformArray(B * n, -1, 1);
  const dir = tf.tensor3d(dirHost, [B, d, d]);
  const probe = r.uniformArray(B * n, -1, 1);
  const probeT = tf.tensor3d(probe, [B, d, d]);
  for (const [lm, withDir] of [[true, true], [false, true], [true, false], [false, false]] as const) {
    const cfg = { ...tele, learnedMagnitude: lm };
    const heads = (hs: tf.Tensor[]) => ({ T: hs[0], c: hs[1], m: hs[2] }) as Record<string, tf.Tensor2D>;
    tf.tidy(() => {
      const a = groupElementForTests(cfg, d, heads([th, c, m]), withDir ? dir : null, true).dataSync();
      const b = groupElementForTests(cfg, d, heads([th, c, m]), withDir ? dir : null, false).dataSync();
      assert.deepEqual(Array.from(a), Array.from(b), 'the fused forward is the op-by-op one');
    });
    const result = checkGradient(
      (hs) => tf.sum(tf.mul(groupElementForTests(cfg, d, heads(hs), withDir ? dir : null, true), probeT)) as tf.Scalar,
      ([t64, c64, m64]) => {
        let total = 0;
        for (let i = 0; i < B; i++) {
          const raw = Array.from({ length: n }, (_, j) => cfg.headScale * t64[i * n + j] + (withDir ? c64[i] * dirHost[i * n + j] : 0));
          const norm = Math.sqrt(raw.reduce((a, v) => a + v * v, 0) + 1e-30);
          const size = lm ? 1 / (1 + Math.exp(-m64[i])) : 1;
          raw.forEach((v, j) => (total += probe[i * n + j] * ((v * cfg.magnitude) / norm) * size));
        }
        return total;
      },
      [th, c, m],
      { orders: [1], directions: 3, seed: 5, h: 1e-3 },
    );
    assert.ok(result.maxRelError[1]! < 1e-3, `learnedMagnitude ${lm}, direction ${withDir}: ${JSON.stringify(result.entries)}`);
  }
  tf.dispose([th, c, m, dir, probeT]);
});

test("the window's loss terms with hand-written backwards (mean log, their sum): order 1 matches float64 finite differences", () => {
  const l = tf.tensor1d([3.5, 0.02, 120]);
  const r1 = checkGradient(([x]) => windowLossTerm(x as tf.Tensor1D, 'log'), ([x]) => x.reduce((s, v) => s + Math.log(v + 1e-12), 0) / x.length, [l], { orders: [1], directions: 3, seed: 3, h: 1e-3 });
  assert.ok(r1.maxRelError[1]! < 1e-3, JSON.stringify(r1.entries));
  const ts = [tf.scalar(1.5), tf.scalar(-2), tf.scalar(0.25)];
  const r2 = checkGradient((xs) => tf.mul(sumTerms(xs as tf.Scalar[]), sumTerms(xs as tf.Scalar[])) as tf.Scalar, (xs) => xs.reduce((s, x) => s + x[0], 0) ** 2, ts, { orders: [1], directions: 3, seed: 4 });
  assert.ok(r2.maxRelError[1]! < 1e-3, JSON.stringify(r2.entries));
  tf.dispose([l, ...ts]);
});

test('specialised two-layer inverse action equals groupAction(kind: inverse)', () => {
  const b = problems(3, 1);
  tf.tidy(() => {
    const t = rescaleFrobenius(tf.randomUniform([3, DIM, DIM], -1, 1, 'float32', 5) as tf.Tensor3D, 0.05);
    const g = tf.add(tf.eye(DIM, DIM, [3]), t) as tf.Tensor3D;
    const mine = teleportTwoLayer(b.ws, g, b.x, b.xInv, 0.1);
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
  b.dispose();
});

test('closed-form gradient-norm ascent direction equals autodiff through groupAction', () => {
  const b = problems(2, 2);
  tf.tidy(() => {
    const mine = gradNormAscent(b.ws, b.x, b.y, 0.1);
    const ref = tf.grad((t: tf.Tensor) => {
      const g = tf.add(tf.eye(DIM, DIM, [2]), t);
      return tf.sum(gradNormSq(groupAction(b.ws, b.x, [g], { kind: 'inverse', slope: 0.1 }), b.x, b.y));
    })(tf.zeros([2, DIM, DIM]));
    const err = tf.max(tf.abs(tf.sub(mine, ref))).dataSync()[0];
    const scale = tf.max(tf.abs(ref)).dataSync()[0];
    assert.ok(err <= 2e-3 * scale, `max error ${err} vs scale ${scale}`);
  });
  b.dispose();
});

test('tf.memory().numTensors stays flat across meta-training windows and batches', async () => {
  const v = tiny('LSTM(update,tele)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  const pool = localShards(partsOf(v, c));
  let st = init(v, c);
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    st = (await trainBatch(st, c, pool)).state;
    counts.push(tf.memory().numTensors);
  }
  assert.equal(counts[1], counts[0], `numTensors ${counts}`);
  assert.equal(counts[2], counts[0], `numTensors ${counts}`);
  disposeTrainState(st);
});

test('a batch split into shards gives the estimates and meta-parameters of the unsplit batch (float rounding)', async () => {
  const v = tiny('LSTM(update,tele)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 6, batch: 6 });
  const meta = metaInit(v, 5);
  const estimateWith = async (shards: number) => {
    const pool = localShards(partsOf(v, c));
    await pool.begin({ seed: c.seed, batch: 0, shards: shardIds([0, 1, 2, 3, 4, 5], shards) }, meta);
    const parts = await pool.window(meta, 0, 3);
    const e = combineEstimates(parts);
    parts.forEach(disposeEstimate);
    await pool.close();
    return e;
  };
  const [one, three] = [await estimateWith(1), await estimateWith(3)];
  assert.ok(Math.abs(one.metaLoss - three.metaLoss) <= 1e-5 * Math.abs(one.metaLoss));
  const a = metaTensors(one.grads), b = metaTensors(three.grads);
  for (let i = 0; i < a.length; i++) {
    const [err, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(a[i], b[i]))).dataSync()[0], tf.max(tf.abs(a[i])).dataSync()[0]]);
    // float32 sums over batches of another size: 1e-3 of the tensor's largest entry
    assert.ok(err <= 1e-3 * scale + 1e-9, `gradient tensor ${i}: ${err} vs scale ${scale}`);
  }
  [one, three].forEach(disposeEstimate);
  disposeMeta(meta);
  // after a whole batch (two Adam steps, lr 1e-3) the meta-parameters agree to 5% of a step:
  // Adam divides by |g|, which magnifies rounding in tiny gradient entries
  const s1 = (await batch(init(v, c), v, c, 1)).state;
  const s3 = (await batch(init(v, c), v, c, 3)).state;
  const p1 = metaTensors(s1.meta), p3 = metaTensors(s3.meta);
  for (let i = 0; i < p1.length; i++) {
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(p1[i], p3[i]))).dataSync()[0]);
    assert.ok(err <= 5e-5, `meta tensor ${i}: ${err}`);
  }
  disposeTrainState(s1);
  disposeTrainState(s3);
});

/** Directional derivative of the window meta-loss: analytic (tape) vs central difference. */
function directional(v: VariantConfig, length: number, eps: number): { fd: number; analytic: number } {
  const t = family.sample(0, 'train', [0, 1]);
  const learned = paperLearned(v);
  const est = tbptt(learned, 'log');
  const ctx = { seed: 0, batch: 0, ids: [0, 1] };
  const meta = metaInit(v, 2);
  const window = (m: MetaParams) => est.estimate(m, t, est.init(m, t, ctx), length);
  const r = window(meta);
  est.dispose(r.state);
  const dir = stream(9, 'dir');
  const d = mapMeta(meta, (x) => tf.tensor(dir.normalArray(x.size), x.shape));
  const dl = metaTensors(d), gl = metaTensors(r.estimate.grads);
  const analytic = dl.reduce((s, x, i) => s + tf.tidy(() => tf.sum(tf.mul(gl[i], x)).dataSync()[0]), 0);
  const at = (e: number) => {
    const m = mapMeta(meta, (x, mod, k) => tf.add(x, tf.mul(d[mod][k], e)));
    const w = window(m);
    est.dispose(w.state);
    disposeMeta(m);
    disposeMeta(w.estimate.grads);
    return w.estimate.metaLoss;
  };
  // Richardson extrapolation of central differences at eps and eps/2: cancels the O(eps^2)
  // term (about 1% at eps = 1e-2 with the tuned teleport size 0.2), leaving O(eps^4).
  const central = (h: number) => (at(h) - at(-h)) / (2 * h);
  const fd = (4 * central(eps / 2) - central(eps)) / 3;
  [meta, r.estimate.grads, d].forEach(disposeMeta);
  t.dispose();
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

test("teleport before the update (tele.order 'before'): second-order meta-gradient matches a central finite difference; the trajectory differs from 'after'", () => {
  const v = fdVariant(true);
  const before = { ...v, tele: { ...v.tele!, order: 'before' as const } };
  const { fd, analytic } = directional(before, 3, 1e-2);
  assert.ok(Math.abs(fd - analytic) <= 5e-3 * Math.abs(analytic), `FD ${fd} vs analytic ${analytic}`);
  assert.notEqual(analytic, directional(v, 3, 1e-2).analytic);
});

test("tele.order 'first' teleports before the update at step 0 and after it from then on; its second-order meta-gradient matches a central finite difference", () => {
  const v = fdVariant(true);
  const order = (o: 'after' | 'before' | 'first'): VariantConfig => ({ ...v, tele: { ...v.tele!, order: o } });
  const t = family.sample(0, 'train', [0, 1]);
  const meta = metaInit(v, 2);
  const opt = (o: 'after' | 'before' | 'first') => paperLearned(order(o)).optimizer(meta, t);
  // three steps of 'first' against step 0 by 'before', then steps 1-2 by 'after' from that state
  const run = (steps: ('after' | 'before' | 'first')[]) => {
    let tr = startTrajectories(opt(steps[0]), t);
    for (const o of steps) {
      let next!: typeof tr;
      tf.tidy(() => {
        next = innerStep(opt(o), t, tr).next;
        trajectoryTensors(next).forEach((x) => tf.keep(x));
      });
      disposeTrajectories(tr);
      tr = next;
    }
    const flat = tr.params.map((p) => Array.from(p.dataSync()));
    disposeTrajectories(tr);
    return flat;
  };
  const first = run(['first', 'first', 'first']);
  assert.deepEqual(first, run(['before', 'after', 'after']));
  assert.notDeepEqual(first, run(['after', 'after', 'after']));
  assert.notDeepEqual(first, run(['before', 'before', 'before']));
  disposeMeta(meta);
  t.dispose();
  const { fd, analytic } = directional(order('first'), 3, 1e-2);
  assert.ok(Math.abs(fd - analytic) <= 5e-3 * Math.abs(analytic), `FD ${fd} vs analytic ${analytic}`);
});

function tinyExperiment(root: string) {
  return decodeOrThrow(MetaExperimentCodec, {
    seed: 1,
    metaSeeds: [0],
    heldout: { trajectories: 3, steps: 6 },
    tableSteps: [1, 6],
    variants: [{ preset: 'tuned/GD' }, { preset: 'tuned/LSTM(update,tele)' }],
    task: TASK,
    logdir: path.join(root, 'logs'),
    checkpointDir: path.join(root, 'ckpt'),
    checkpointEvery: 1,
  });
}

const tinyResolved = (): LearnedEntry[] => [paperEntry('LSTM(update,tele)', tiny('LSTM(update,tele)'), tinyTrain({ trajectories: 9, epochs: 2 }))];

test('a unit whose shard pool fails to start frees its state and releases its lock', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const exp = tinyExperiment(root);
    const rv = tinyResolved()[0];
    const n0 = tf.memory().numTensors;
    await assert.rejects(
      trainVariant(rv, exp, 0, {
        tensorboard: false,
        pool: () => {
          throw new Error('no workers today');
        },
      }),
      /no workers today/,
    );
    assert.equal(tf.memory().numTensors, n0, 'the initial meta-state is freed');
    // the directory is free again: the same unit trains in this process
    const tv = await trainVariant(rv, exp, 0, { tensorboard: false, stopAfterBatches: 1 });
    disposeMeta(tv.meta);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

for (const estimator of [{ kind: 'tbptt' }, { kind: 'pes', sigma: 0.01, pairs: 1 }] as const) {
  test(`resume after a stop gives the same numbers as an uninterrupted run (${estimator.kind})`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
    try {
      const rv = { ...tinyResolved()[0], estimator };
      const a = tinyExperiment(path.join(root, 'a'));
      // full final checkpoints, to compare the Adam moments too
      const full = await trainVariant(rv, a, 0, { tensorboard: false, fullFinalCheckpoint: true });
      const b = tinyExperiment(path.join(root, 'b'));
      const part = await trainVariant(rv, b, 0, { tensorboard: false, stopAfterBatches: 2 });
      assert.equal(part.finished, false);
      disposeMeta(part.meta);
      const rest = await trainVariant(rv, b, 0, { tensorboard: false, resume: b.checkpointDir, fullFinalCheckpoint: true });
      assert.equal(rest.finished, true);
      const fa = metaTensors(full.meta), ra = metaTensors(rest.meta);
      assert.equal(fa.length, ra.length);
      fa.forEach((x, i) => assert.deepEqual(Array.from(ra[i].dataSync()), Array.from(x.dataSync()), `tensor ${i}`));
      // the checkpoints agree too (Adam moments, counters)
      const ca = loadCheckpoint(checkpointDirOf(a.checkpointDir, rv.label, 0), null);
      const cb = loadCheckpoint(checkpointDirOf(b.checkpointDir, rv.label, 0), null);
      assert.equal(ca.state.batchesDone, cb.state.batchesDone);
      for (const mod of Object.keys(ca.state.outer)) {
        assert.equal(ca.state.outer[mod].step, cb.state.outer[mod].step);
        ca.state.outer[mod].slots.expAvgSq!.forEach((x, i) => assert.deepEqual(x.dataSync(), cb.state.outer[mod].slots.expAvgSq![i].dataSync()));
      }
      disposeTrainState(ca.state);
      disposeTrainState(cb.state);
      disposeMeta(full.meta);
      disposeMeta(rest.meta);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

test('PES is unbiased: its mean over many samples matches the full-unroll gradient within its standard error', () => {
  // Tiny learned optimizer on a 2x2x2 problem, 6 steps in 3 windows of 2, 'sum' weighting: the
  // sum of the PES estimates of the 3 windows estimates the gradient of the whole unroll's
  // meta-loss, which truncated backprop over one 6-step window computes exactly.
  const fam = regressionFamily({ widths: [2, 2, 2], samples: 2, slope: 0.1, seedScheme: 'stream' });
  const t = fam.sample(0, 'train', [0]);
  const v: VariantConfig = { ...tiny('LSTM(update)'), update: { ...tiny('LSTM(update)').update!, hidden: 2, lrScaleRange: 0, outputScale: 0.1 } };
  const learned = paperLearned(v);
  const meta = learned.init(stream(4, 'init'), t);
  const exact = tbptt(learned, 'sum');
  const e0 = exact.estimate(meta, t, exact.init(meta, t, { seed: 0, batch: 0, ids: [0] }), 6);
  exact.dispose(e0.state);
  const truth = Float64Array.from(metaTensors(e0.estimate.grads).flatMap((x) => Array.from(x.dataSync())));
  disposeMeta(e0.estimate.grads);
  const est = pes(learned, 'sum', { sigma: 1e-3, pairs: 1 });
  // projections on the true gradient and on two fixed random directions, one value per sample
  const dirs = [truth, ...[1, 2].map((k) => Float64Array.from(stream(k, 'proj').normalArray(truth.length)))];
  const dot = (a: ArrayLike<number>, d: Float64Array) => Array.from(a).reduce((s, x, i) => s + x * d[i], 0);
  const n = 400;
  const samples: number[][] = dirs.map(() => []);
  for (let b = 0; b < n; b++) {
    let st = est.init(meta, t, { seed: 11, batch: b, ids: [0] });
    const total = new Float64Array(truth.length);
    for (let w = 0; w < 3; w++) {
      const r = est.estimate(meta, t, st, 2);
      st = r.state;
      metaTensors(r.estimate.grads).flatMap((x) => Array.from(x.dataSync())).forEach((x, i) => (total[i] += x));
      disposeMeta(r.estimate.grads);
    }
    est.dispose(st);
    dirs.forEach((d, j) => samples[j].push(dot(total, d)));
  }
  for (const [j, d] of dirs.entries()) {
    const xs = samples[j];
    const mean = xs.reduce((a, x) => a + x, 0) / n;
    const se = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) / n);
    const want = dot(truth, d);
    assert.ok(Math.abs(mean - want) <= 4 * se, `direction ${j}: PES ${mean} vs exact ${want} (standard error ${se})`);
  }
  // and the test has power: the mean along the true gradient is well away from zero
  const m0 = samples[0].reduce((a, x) => a + x, 0) / n;
  assert.ok(m0 > 0.5 * dot(truth, truth), `PES mean ${m0} vs |g|^2 ${dot(truth, truth)}`);
  disposeMeta(meta);
  t.dispose();
});

test('corrupt or mismatched checkpoints are clear errors', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const v = tiny('LSTM(update)');
    const c = tinyTrain();
    const st = init(v, c);
    const cfg = { learned: { kind: 'paper', ...v }, estimator: { kind: 'tbptt' }, train: c, task: TASK };
    const slot = saveCheckpoint(root, st, cfg);
    const ok = loadCheckpoint(root, cfg);
    disposeTrainState(ok.state);
    assert.throws(() => loadCheckpoint(root, { ...cfg, train: { ...c, batch: 4 } }), (e: Error) => e instanceof CheckpointError && /config\.train\.batch/.test(e.message));
    const bin = path.join(slot, 'tensors.bin');
    const bytes = fs.readFileSync(bin);
    bytes[10] ^= 0xff;
    fs.writeFileSync(bin, bytes);
    assert.throws(() => loadCheckpoint(root, cfg), (e: Error) => e instanceof CheckpointError && /SHA-256/.test(e.message));
    fs.writeFileSync(path.join(slot, 'manifest.json'), '{"format": ');
    assert.throws(() => loadCheckpoint(root, cfg), (e: Error) => e instanceof CheckpointError && /manifest.json is corrupt/.test(e.message));
    assert.throws(() => loadCheckpoint(path.join(root, 'nope'), cfg), /no checkpoint/);
    disposeTrainState(st);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('paired held-out differences over problems and over meta-seeds, computed by hand', () => {
  // step 1 of: A two meta-seeds x two problems, C the same seeds, GD one run per problem
  const v = (metaSeed: (number | null)[], at1: number[]) => ({ loss: at1.map((x) => [100, x]), gradNormSq: [], time: [], metaSeed });
  const r: EvalResults = {
    variants: { A: v([0, 0, 1, 1], [1, 3, 2, 6]), C: v([0, 0, 1, 1], [0, 0, 1, 1]), GD: v([null, null], [1, 1]) },
    heldout: { seed: 0, trajectories: 2, steps: 1, seedScheme: 'stream' },
  };
  const close = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-3, `${x} vs ${y}`);
  const ag = pairedAtStep(r.variants.A!, r.variants.GD!, 1);
  // over problems: per problem A's seed mean minus GD: [1.5 - 1, 4.5 - 1] = [0.5, 3.5]
  assert.equal(ag.problems.n, 2);
  close(ag.problems.mean, 2);
  close(ag.problems.hi - ag.problems.mean, 12.706 * Math.sqrt(4.5) / Math.sqrt(2));
  // over seeds: seed 0 mean(1 - 1, 3 - 1) = 1, seed 1 mean(2 - 1, 6 - 1) = 3
  assert.equal(ag.seeds.n, 2);
  close(ag.seeds.mean, 2);
  close(ag.seeds.lo, 2 - 12.706);
  const ac = pairedAtStep(r.variants.A!, r.variants.C!, 1);
  close(ac.seeds.mean, 2.5); // seed 0: mean(1, 3) = 2, seed 1: mean(1, 5) = 3
  const table = bestVsOthersTable(r, [1]);
  assert.match(table, /\| 1 \| C \(0.5000\) \| A \| -2.500 /);
  assert.match(table, /\| 1 \| C \(0.5000\) \| GD \| -0.5000 /);
});

test('with one meta-seed the over-meta-seeds column shows the mean and n 1, no [NaN, NaN] interval', () => {
  const v = (metaSeed: (number | null)[], at1: number[]) => ({ loss: at1.map((x) => [100, x]), gradNormSq: [], time: [], metaSeed });
  const r: EvalResults = { variants: { A: v([0, 0], [1, 3]), GD: v([null, null], [2, 5]) }, heldout: { seed: 0, trajectories: 2, steps: 1, seedScheme: 'stream' } };
  const table = bestVsOthersTable(r, [1]);
  assert.doesNotMatch(table, /NaN/);
  assert.match(table, /\| 1 \| A \(2\.000\) \| GD \| -1\.500 \[[^\]]+\] \(n 2\) \| -1\.500 \(n 1\) \|/);
});

test('held-out evaluation JSON: variants -> loss as runs x (steps + 1)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const exp = tinyExperiment(root);
    const [lt] = tinyResolved();
    const gd = { label: 'GD', baseline: { kind: 'sgd', lr: 3e-4 } };
    const meta = metaInit(tiny('LSTM(update,tele)'), 0);
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
    disposeMeta(meta);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('experiment configs: presets decode, bad overrides are errors naming the field', () => {
  for (const f of ['meta-default.json', 'meta-paper.json', 'meta-reference.json', 'meta-tuned.json']) {
    const exp = decodeOrThrow(MetaExperimentCodec, JSON.parse(fs.readFileSync(path.join('experiments', f), 'utf8')), f);
    const r = resolveAll(exp, f);
    assert.ok(E.isRight(r), f);
    if (E.isRight(r)) assert.deepEqual(r.right.map((v) => v.label).sort(), ['GD', 'LSTM(lr,tele)', 'LSTM(update)', 'LSTM(update,tele)']);
  }
  // the step-1 study adds the teleport-first arm beside the four
  const fresh = resolveAll(decodeOrThrow(MetaExperimentCodec, JSON.parse(fs.readFileSync('experiments/meta-fresh-step1.json', 'utf8'))), 'meta-fresh-step1.json');
  assert.ok(E.isRight(fresh));
  if (E.isRight(fresh)) {
    const arm = fresh.right.find((v) => v.label === 'LSTM(update,tele) first gradNorm');
    const tele = (arm && 'learned' in arm ? arm.learned.tele : null) as { order?: string; direction?: string } | null;
    assert.equal(tele?.order, 'first');
    assert.equal(tele?.direction, 'gradNorm');
  }
  // a bad override inside an entry is a decoding problem at its full path
  assert.throws(() => decodeOrThrow(MetaExperimentCodec, { variants: [{ preset: 'tuned/LSTM(update)', learned: { update: { hidden: -3 } } }] }, 'bad.json'), /variants\[0\]\.learned\.update\.hidden: expected a positive integer, got -3/);
  assert.throws(() => decodeOrThrow(MetaExperimentCodec, { variants: [{ preset: 'tuned/LSTM(update)', colour: 1 }] }), /colour/);
});

test('LSTM(update) and LSTM(update,tele) share the update LSTM init and the trajectory order (paired)', () => {
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  const a = init({ ...tiny('LSTM(update)'), name: 'A' }, c);
  const b = init({ ...tiny('LSTM(update,tele)'), name: 'B' }, c);
  const names = Object.keys(a.meta.update);
  assert.ok(names.length > 0);
  assert.deepEqual(names, Object.keys(b.meta.update));
  for (const k of names) assert.deepEqual(Array.from(a.meta.update[k].dataSync()), Array.from(b.meta.update[k].dataSync()), k);
  assert.deepEqual(Array.from(a.order.permutation(9)), Array.from(b.order.permutation(9)));
  disposeTrainState(a);
  disposeTrainState(b);
});

test('the LSTM pair flag (two LSTMs as one) trains LSTM(update,tele) to the same meta-parameters (identical on wasm)', async () => {
  const v = tiny('LSTM(update,tele)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 6 });
  const trained = (pair: boolean) =>
    withLstmPair(pair, async () => {
      let st = init(v, c);
      for (let i = 0; i < 2; i++) st = (await batch(st, v, c)).state;
      const out = Object.fromEntries(Object.entries(flattenMeta(st.meta)).map(([k, t]) => [k, Array.from(t.dataSync())]));
      disposeTrainState(st);
      return out;
    });
  const apart = await trained(false);
  const paired = await trained(true);
  assert.deepEqual(Object.keys(paired), Object.keys(apart));
  for (const k of Object.keys(apart)) {
    if (tf.getBackend() === 'wasm') assert.deepEqual(paired[k], apart[k], k);
    else apart[k]!.forEach((x, i) => assert.ok(Math.abs(paired[k]![i]! - x) <= 1e-5 * (1 + Math.abs(x)), `${k}[${i}]: ${paired[k]![i]} vs ${x}`));
  }
});

test('rollbackToBest restores the best validated meta-parameters with fresh Adam moments', async () => {
  const v = tiny('LSTM(update)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  let st = init(v, c);
  assert.equal(rollbackToBest(st), st); // nothing validated yet: no-op
  const best = mapMeta(st.meta, (x) => tf.clone(x));
  st = (await batch({ ...st, bestMeta: best }, v, c)).state;
  const back = rollbackToBest(st);
  for (const k of Object.keys(best.update)) assert.deepEqual(Array.from(back.meta.update[k].dataSync()), Array.from(best.update[k].dataSync()), k);
  for (const m of back.outer.update.slots.expAvg!) assert.ok(m.dataSync().every((x) => x === 0));
  assert.equal(back.outer.update.step, 0);
  disposeTrainState(back);
});

test('before any validation that did not diverge, a rollback returns to the initial meta-parameters, and a diverged validation is never kept as best', async () => {
  const v = tiny('LSTM(update)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  const p = partsOf(v, c);
  let st = initTrainState(p.learned, p.family, c);
  const start = initialMeta(p.learned, p.family, c);
  st = (await batch(st, v, c)).state;
  // a state whose validation overflows: every step of the learned update scaled up
  const blown: MetaTrainState = { ...st, meta: mapMeta(st.meta, (x) => tf.mul(x, 1e30)) };
  const after = validate(blown, p.learned, p.family, c);
  assert.equal(after.score, Infinity);
  assert.equal(after.state.bestMeta, null, 'a diverged validation is not kept as best');
  const back = rollbackToBest(after.state, 0.5, () => initialMeta(p.learned, p.family, c));
  for (const k of Object.keys(start.update)) assert.deepEqual(Array.from(back.meta.update[k].dataSync()), Array.from(start.update[k].dataSync()), k);
  assert.equal(back.outer.update.step, 0);
  assert.equal(back.lrScale, 0.5);
  disposeMeta(start);
  disposeMeta(st.meta);
  disposeTrainState(back);
});

test('rollbackLrFactor: each rollback scales the meta learning rates from then on (the first Adam step after it by the factor)', async () => {
  const v = tiny('LSTM(update)');
  const c = tinyTrain({ evalEvery: 0, trajectories: 9 });
  const st0 = init(v, c);
  const best = mapMeta(st0.meta, (x) => tf.clone(x));
  const moved = (await batch({ ...st0, bestMeta: best }, v, c)).state;
  const half = rollbackToBest(moved, 0.5);
  assert.equal(half.lrScale, 0.5);
  const quarter = rollbackToBest({ ...half, bestMeta: mapMeta(best, (x) => tf.clone(x)) }, 0.5);
  assert.equal(quarter.lrScale, 0.25, 'rollbacks compound');
  // the first window's Adam step from the same point with fresh moments is ~lr * sign(g): at half
  // the scale, every coordinate moves half as far
  const stepOf = async (lrScale: number) => {
    const s = { ...init(v, c), lrScale };
    const before = mapMeta(s.meta, (x) => tf.clone(x));
    const after = (await batch(s, v, { ...c, trajectoryLength: c.unroll })).state;
    const d = Object.keys(before.update).map((k) => tf.tidy(() => tf.max(tf.abs(tf.sub(after.meta.update[k], before.update[k]))).dataSync()[0]));
    disposeMeta(before);
    disposeTrainState(after);
    return d;
  };
  const full = await stepOf(1);
  const halved = await stepOf(0.5);
  full.forEach((x, i) => assert.ok(Math.abs(halved[i] / x - 0.5) < 0.01, `${halved[i]} / ${x}`));
  disposeTrainState(quarter);
  disposeMeta(best);
});

/**
 * LSTM(update) at a meta learning rate of 30, whose validation overflows at batch 5 (measured),
 * trained for 5 batches with `divergedValidation`; its log lines and last checkpoint.
 */
async function overflowingRun(divergedValidation: 'rollback' | 'continue') {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-meta-'));
  try {
    const train = { trajectories: 8, batch: 2, epochs: 2, trajectoryLength: 8, unroll: 4, evalEvery: 1, valTrajectories: 2, metaLr: { update: 30 }, clip: 0, lrSchedule: 'constant', divergedValidation };
    const exp = decodeOrThrow(MetaExperimentCodec, {
      seed: 1,
      task: { kind: 'regression', widths: [4, 4, 4], samples: 4, slope: 0.1, seedScheme: 'stream' },
      heldout: { trajectories: 2, steps: 6 },
      variants: [{ preset: 'tuned/LSTM(update)', learned: { update: { hidden: 4 } }, train }],
      logdir: path.join(root, 'logs'),
      checkpointDir: path.join(root, 'ckpt'),
      checkpointEvery: 1,
      tableSteps: [1, 6],
    });
    const r = resolveAll(exp, 'test');
    assert.ok(E.isRight(r));
    const rv = trainedEntry(r.right, 'LSTM(update)', 'test');
    const lines: string[] = [];
    const tv = await trainVariant(rv, exp, 0, { stopAfterBatches: 5, tensorboard: false, fullFinalCheckpoint: true, log: (l) => lines.push(l) });
    disposeMeta(tv.meta);
    return { lines, ck: loadCheckpoint(checkpointDirOf(exp.checkpointDir, rv.label, 0), null) };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

test('a diverged validation sends training back to the best validated meta-parameters (or, with divergedValidation "continue", it goes on)', async () => {
  const back = await overflowingRun('rollback');
  assert.ok(back.lines.some((l) => /batch 5\/8 val Infinity \(a validation trajectory diverged/.test(l)), back.lines.join('\n'));
  assert.ok(back.lines.some((l) => /validation diverged at batch 5: back to the best/.test(l)), back.lines.join('\n'));
  // the state after batch 5 is the best one again, with fresh outer moments
  const st = back.ck.state;
  assert.equal(st.batchesDone, 5);
  for (const [k, x] of Object.entries(st.meta.update)) assert.deepEqual(Array.from(x.dataSync()), Array.from(st.bestMeta!.update[k].dataSync()), k);
  assert.equal(st.outer.update.step, 0);
  disposeTrainState(st);

  const on = await overflowingRun('continue');
  assert.ok(on.lines.some((l) => /batch 5\/8 val Infinity/.test(l)), on.lines.join('\n'));
  assert.ok(!on.lines.some((l) => /back to the best/.test(l)), on.lines.join('\n'));
  assert.ok(on.ck.state.outer.update.step > 0, 'the outer moments are kept');
  disposeTrainState(on.ck.state);
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

test('the schedule scales the meta-steps: cosine with floor 1 equals constant, floor 0 differs', async () => {
  const v = tiny('LSTM(update)');
  const run = async (o: Partial<TrainConfig>) => {
    // one batch of two windows: the second is taken at progress 1/2
    const c = tinyTrain({ evalEvery: 0, trajectories: 3, ...o });
    const st = (await batch(init(v, c), v, c)).state;
    const w = Array.from(st.meta.update['head.s.w'].dataSync());
    disposeTrainState(st);
    return w;
  };
  const constant = await run({ lrSchedule: 'constant' });
  assert.deepEqual(await run({ lrSchedule: 'cosine', lrFloor: 1 }), constant);
  assert.notDeepEqual(await run({ lrSchedule: 'cosine', lrFloor: 0 }), constant);
});

test('warm start: the update LSTM comes from the named variant, the teleport LSTM is fresh; bad names are config errors', async () => {
  const c = tinyTrain({ evalEvery: 0, trajectories: 3 });
  const source = (await batch(init(tiny('LSTM(update)'), c), tiny('LSTM(update)'), c)).state;
  const fresh = init(tiny('LSTM(update,tele)'), c);
  const warm = init(tiny('LSTM(update,tele)'), { ...c, warmStart: 'LSTM(update)' }, source.meta);
  const same = (a: tf.Tensor, b: tf.Tensor) => Array.from(a.dataSync()).every((x, i) => x === b.dataSync()[i]);
  for (const k of Object.keys(warm.meta.update)) assert.ok(same(warm.meta.update[k], source.meta.update[k]) && !same(warm.meta.update[k], fresh.meta.update[k]), k);
  for (const k of Object.keys(warm.meta.tele)) assert.ok(same(warm.meta.tele[k], fresh.meta.tele[k]), k);
  assert.throws(() => init(tiny('LSTM(update,tele)'), { ...c, warmStart: 'LSTM(update)' }), /trained meta-parameters are needed/);
  const wide = metaInit({ ...tiny('LSTM(update)'), update: { ...tiny('LSTM(update)').update!, hidden: 7 } }, 1);
  assert.throws(() => init(tiny('LSTM(update,tele)'), { ...c, warmStart: 'X' }, wide), /warm start from X: update\/.* is \[/);
  disposeMeta(wide);
  [source, fresh, warm].forEach(disposeTrainState);

  const exp = (variants: unknown[]) => decodeOrThrow(MetaExperimentCodec, { variants });
  const ok = resolveAll(exp([{ preset: 'tuned/LSTM(update)' }, { preset: 'tuned/LSTM(update,tele)', train: { warmStart: 'LSTM(update)' } }]), 'x.json');
  assert.ok(E.isRight(ok));
  for (const [variants, why] of [
    [[{ preset: 'tuned/LSTM(update,tele)', train: { warmStart: 'LSTM(update)' } }, { preset: 'tuned/LSTM(update)' }], /earlier entry/],
    [[{ preset: 'tuned/LSTM(lr,tele)' }, { preset: 'tuned/LSTM(update,tele)', train: { warmStart: 'LSTM(lr,tele)' } }], /no update module of the same kind, size/],
    [[{ preset: 'tuned/LSTM(update)' }, { preset: 'tuned/LSTM(lr,tele)', train: { warmStart: 'LSTM(update)' } }], /no update module to start/],
  ] as const) {
    assert.throws(() => exp([...variants]), new RegExp(`variants\\[\\d\\]\\.train\\.warmStart: [\\s\\S]*${why.source}`));
  }
});

test('the paper presets are the variants and recipes of the code before presets were JSON entries: the same settings, and the same held-out numbers at the initial meta-parameters', (t0) => {
  const fx = JSON.parse(fs.readFileSync(path.join('test', 'fixtures', 'meta', 'pre-entries-presets.json'), 'utf8')) as {
    presets: Record<string, { variant: VariantConfig & { name: string }; train: TrainConfig & { lrUpdate: number; lrTele: number; estimator: unknown } }>;
    heldout: Record<string, number[][]>;
  };
  const fam = regressionFamily({ widths: [4, 4, 4], samples: 4, slope: 0.1, seedScheme: 'stream' });
  for (const [key, old] of Object.entries(fx.presets)) {
    const e = resolvePreset(key);
    const { name: _name, ...variant } = old.variant;
    const toy = { ...variant, update: variant.update && { ...variant.update, hidden: 6 }, tele: variant.tele && { ...variant.tele, hidden: 6 } };
    let learned: LearnedOptimizer;
    let meta: MetaParams = {};
    if (isBaseline(e)) {
      // GD: the paper family without modules is the sgd baseline at the same rate
      assert.equal(variant.update, null, key);
      assert.equal(variant.tele, null, key);
      assert.deepEqual(e.baseline, { kind: 'sgd', lr: variant.lr, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, key);
      learned = makeBaseline(e.baseline, variant.lr);
    } else {
      assert.deepEqual(e.learned, { kind: 'paper', ...variant }, key);
      const { lrUpdate, lrTele, estimator, ...train } = old.train;
      const metaLr = { ...(variant.update ? { update: lrUpdate } : {}), ...(variant.tele ? { tele: lrTele } : {}) };
      assert.deepEqual(e.train, { ...train, metaLr }, key);
      assert.deepEqual(e.estimator, estimator, key);
      learned = makeLearned({ kind: 'paper', ...toy });
      const probe = fam.sample(2, 'train', [0]);
      meta = learned.init(stream(e.train.seed, 'meta-init'), probe);
      probe.dispose();
    }
    if (tf.getBackend() === 'wasm') assert.deepEqual(evaluate(learned, meta, fam, 2, 'heldout', [0, 1, 2], 8).loss, fx.heldout[key], `${key}: held-out losses`);
    disposeMeta(meta);
  }
  if (tf.getBackend() !== 'wasm') t0.diagnostic(`held-out losses not compared: the fixture is wasm's, backend ${tf.getBackend()} rounds differently`);
});


test('module meta learning rates: a given map replaces the default one; every module needs a rate and every rate a module', () => {
  assert.deepEqual(decodeOrThrow(TrainCodec, {}).metaLr, { default: 1e-3 });
  assert.deepEqual(decodeOrThrow(TrainCodec, { metaLr: { update: 0.5 } }).metaLr, { update: 0.5 });
  const exp = (train: unknown) => decodeOrThrow(MetaExperimentCodec, { variants: [{ preset: 'tuned/LSTM(update,tele)', train }] }, 'x.json');
  assert.throws(() => exp({ metaLr: { update: 1e-3, tele: null } }), /variants\[0\]\.train\.metaLr\.tele: expected a non-negative number/);
  assert.throws(() => exp({ metaLr: { updte: 1e-3 } }), /variants\[0\]\.train\.metaLr: "updte": the learned optimizer has no such module \(its modules: update, tele\)/);
  assert.throws(
    () => decodeOrThrow(MetaExperimentCodec, { variants: [{ label: 'mine', learned: { kind: 'coordinatewise+tele' }, train: { metaLr: { update: 1e-3 } } }] }, 'x.json'),
    /variants\[0\]\.train\.metaLr: no rate for module "tele" \(name it, or give a "default"\)/,
  );
});
