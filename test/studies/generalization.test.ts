// The correlation study: batched phi / psi equal the toolkit's single-model values, Pearson and
// bootstrap on hand-computed data, and a study stopped after some models resumes to the same result.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { stream } from '../../src/rng/index.js';
import { sharpness, sharpnessTensor, sharpnessValueAndGrads, randomDirections, randomLieAlgebra } from '../../src/symmetry/metrics.js';
import { curvature } from '../../src/symmetry/curve.js';
import { studySharpness, studyCurvature } from '../../src/studies/generalization/metrics.js';
import { pearson, quantile, bootstrapPearson, bootstrapInterval, partialPearson } from '../../src/studies/generalization/stats.js';
import { CorrelationConfig, runCorrelation } from '../../src/studies/generalization/correlation.js';
import { TeleportGeneralizationConfig, runTeleportGeneralization } from '../../src/studies/generalization/teleport-generalization.js';
import { decodeOrThrow } from '../../src/config/codec.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('correlation statistics', () => {
  test('pearson on hand-computed data', () => {
    // x = 1..5, y = 2,4,5,4,5: sxy = 6, sxx = 10, syy = 6, r = 6 / sqrt(60)
    assert.ok(Math.abs(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]) - 6 / Math.sqrt(60)) < 1e-12);
    assert.ok(Math.abs(pearson([1, 2, 3], [5, 3, 1]) + 1) < 1e-12);
    assert.ok(Math.abs(pearson([1, 2, 3], [10, 20, 30]) - 1) < 1e-12);
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
    assert.throws(() => pearson([1, 2], [1]));
  });

  test('quantile interpolates linearly (numpy default)', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([1, 2, 3, 4], 0), 1);
    assert.equal(quantile([1, 2, 3, 4], 1), 4);
    assert.ok(Math.abs(quantile([0, 10], 0.025) - 0.25) < 1e-12);
  });

  test('bootstrap: exact line gives [1, 1]; seeded; the interval brackets r', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    assert.deepEqual(bootstrapPearson(x, x.map((v) => 3 * v - 1), { rng: stream(0, 'b'), samples: 200 }), [1, 1]);
    const y = [2, 1, 4, 3, 7, 5, 8, 6];
    const a = bootstrapPearson(x, y, { rng: stream(1, 'b'), samples: 500 });
    const b = bootstrapPearson(x, y, { rng: stream(1, 'b'), samples: 500 });
    assert.deepEqual(a, b);
    const r = pearson(x, y);
    assert.ok(a[0] < r && r < a[1] && a[1] <= 1, `${a} vs ${r}`);
  });
  test('partial correlation: r of the residuals of least-squares fits on z; 0 when x is y up to a function of z', () => {
    const z = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const x = [2.1, 3.9, 6.2, 7.8, 10.1, 12.2, 13.8, 16.1, 18.0];
    const y = [1.0, 0.2, 2.9, 1.1, 4.2, 2.8, 5.1, 3.9, 6.3];
    // independent route: regress each on z (closed-form slope), correlate the residuals
    const resid = (v: number[]) => {
      const mz = z.reduce((a, b) => a + b, 0) / z.length, mv = v.reduce((a, b) => a + b, 0) / v.length;
      const slope = z.reduce((a, zi, i) => a + (zi - mz) * (v[i]! - mv), 0) / z.reduce((a, zi) => a + (zi - mz) ** 2, 0);
      return v.map((vi, i) => vi - mv - slope * (z[i]! - mz));
    };
    assert.ok(Math.abs(partialPearson(x, y, z) - pearson(resid(x), resid(y))) < 1e-12);
    // y = 2z + x's residual only: given z, x and y move together exactly
    const y2 = resid(x).map((e, i) => e + 2 * z[i]!);
    assert.ok(Math.abs(partialPearson(x, y2, z) - 1) < 1e-12);
  });

  test('bootstrapInterval of Pearson is bootstrapPearson, draw for draw', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8], y = [2, 1, 4, 3, 7, 5, 8, 6];
    assert.deepEqual(bootstrapInterval([x, y], pearson, { rng: stream(3, 'b'), samples: 300 }), bootstrapPearson(x, y, { rng: stream(3, 'b'), samples: 300 }));
    assert.throws(() => bootstrapInterval([x, y.slice(1)], pearson, { rng: stream(3, 'b') }), /columns of 8, 7 values/);
  });
});

describe('study metrics equal the toolkit', () => {
  before(async () => {
    await initBackend('wasm');
  });

  /** A 20-6-5-4 network, 30 labelled samples and 7 random directions for phi. */
  const phiCase = (seed: number, name: string) => {
    const r = stream(seed, name);
    const dims = [20, 6, 5, 4];
    const ws = dims.slice(0, -1).map((d, i) => tf.tensor2d(r.uniformArray(dims[i + 1]! * d, -0.5, 0.5), [dims[i + 1]!, d]));
    const x = tf.tensor2d(r.uniformArray(20 * 30), [20, 30]);
    const y = tf.tensor1d(Int32Array.from({ length: 30 }, () => r.int(4)), 'int32');
    return { ws, x, y, directions: randomDirections(ws, 7, r) };
  };

  test('study sharpness (chunks of 3 directions) = toolkit sharpness (one chunk)', () => {
    const { ws, x, y, directions } = phiCase(3, 'phi');
    const displacements = [0.001, 0.05, 0.3];
    const ours = studySharpness(ws, x, y, { displacements, directions, chunk: 3 });
    const toolkit = sharpness(ws, x, y, { displacements, directions, loss: 'ce' });
    assert.ok(rel(ours, toolkit) < 1e-5, `${ours} vs ${toolkit}`);
    tf.dispose([...ws, x, y, directions]);
  });

  test('sharpness value and weight gradient piece by piece = one tape over every perturbation; no leaks', () => {
    const { ws, x, y, directions } = phiCase(5, 'phi-grad');
    const opts = { displacements: [0.001, 0.05, 0.3], directions, loss: 'ce' as const };
    const n0 = tf.memory().numTensors;
    const pieces = sharpnessValueAndGrads(ws, x, y, { ...opts, chunk: 3 });
    assert.equal(tf.memory().numTensors, n0 + 1 + ws.length, 'only the value and the gradients remain');
    const tape = tf.tidy(() => tf.valueAndGrads((...w: tf.Tensor[]) => sharpnessTensor(w, x, y, opts))([...ws]));
    assert.ok(rel(pieces.value.dataSync()[0]!, tape.value.dataSync()[0]!) < 1e-6);
    pieces.grads.forEach((g, i) => {
      const a = g.dataSync(), b = tape.grads[i]!.dataSync();
      const scale = Math.max(...Array.from(b, Math.abs));
      assert.ok(a.every((v, j) => Math.abs(v - b[j]!) <= 1e-5 * scale), `layer ${i}`);
    });
    tf.dispose([pieces.value, ...pieces.grads, tape.value, ...tape.grads, ...ws, x, y, directions]);
  });

  test('curvature (closed form, inverse action) = toolkit curvature', () => {
    const r = stream(4, 'psi');
    const dims = [20, 6, 5, 4];
    const ws = dims.slice(0, -1).map((d, i) => tf.tensor2d(r.uniformArray(dims[i + 1]! * d, -0.5, 0.5), [dims[i + 1]!, d]));
    const x = tf.tensor2d(r.uniformArray(20 * 12), [20, 12]); // 12 <= 20 samples: h^+ h = I
    for (const layer of [0, 1]) {
      const Ms = [randomLieAlgebra(ws, layer, r), randomLieAlgebra(ws, layer, r)];
      const ours = studyCurvature(ws, x, Ms, layer);
      const toolkit =
        Ms.map((M) => curvature(ws, x, ws.slice(0, -1).map((_, m) => (m === layer ? M : null)), { kind: 'inverse' })).reduce((a, b) => a + b) / 2;
      assert.ok(rel(ours, toolkit) < 1e-3, `layer ${layer}: ${ours} vs ${toolkit}`);
      tf.dispose(Ms);
    }
    tf.dispose([...ws, x]);
  });
});

describe('correlation study resume', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('stopped after some models, resumed: the same results as an uninterrupted study', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-corr-'));
    const base = {
      dataset: { name: 'mnist', trainSize: 200, testSize: 100 },
      dims: [784, 4, 3, 10],
      lr: 0.05,
      models: 4,
      epochs: 2,
      batchSize: 20,
      group: 2,
      sharpness: { directions: 6, samples: 50, displacements: [0.001, 0.1] },
      curvature: { curves: 2, samples: 20 },
      bootstrap: 100,
    };
    const quiet = { log: () => {}, progressMode: 'quiet' as const };
    const whole = (await runCorrelation(decodeOrThrow(CorrelationConfig, { ...base, out: path.join(root, 'a') }), quiet))!;
    const cfgB = decodeOrThrow(CorrelationConfig, { ...base, out: path.join(root, 'b') });
    await assert.rejects(
      runCorrelation(cfgB, { ...quiet, afterGroup: () => { throw new Error('killed'); } }),
      /killed/,
    );
    assert.equal(fs.readdirSync(path.join(root, 'b', 'models')).filter((f) => /^model-\d+$/.test(f)).length, 2);
    // killed again in the middle of the second group: the next run redoes no finished epoch
    const epochs: string[] = [];
    const killAt = (epoch: number) => ({ ...quiet, afterEpoch: (ids: number[], e: number) => { epochs.push(`${ids.join('+')} ${e}`); if (e === epoch) throw new Error('killed'); } });
    await assert.rejects(runCorrelation(cfgB, killAt(0)), /killed/);
    // on another backend the group in flight is not resumed (its numbers would change)
    await initBackend('cpu');
    await assert.rejects(runCorrelation(cfgB, quiet), /written on the wasm backend and this run is on cpu.*--backend wasm/);
    await initBackend('wasm');
    const resumed = (await runCorrelation(cfgB, killAt(-1)))!;
    assert.deepEqual(epochs, ['2+3 0', '2+3 1'], 'the resumed run trained only the missing epoch');
    assert.equal(fs.existsSync(path.join(root, 'b', 'group.lockstep')), false, 'the finished group leaves no in-flight checkpoint');
    assert.deepEqual(resumed.perModel, whole.perModel);
    assert.deepEqual(resumed.pearson, whole.pearson);
    assert.deepEqual(resumed.ci95, whole.ci95);
    const json = path.join(root, 'summary.json');
    await runCorrelation(cfgB, { ...quiet, json }); // everything trained: metrics only
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(json, 'utf8'))), ['dataset', 'models', 'pearson', 'ci95']);
    // other settings must not reuse these checkpoints
    await assert.rejects(runCorrelation(decodeOrThrow(CorrelationConfig, { ...base, lr: 0.1, out: path.join(root, 'b') }), quiet), /other settings/);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

test('Figure 4 run: killed before, during and after the teleports, resumed, it ends with the numbers of an uninterrupted run; no leaks', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-fig4-'));
  const cfg = (out: string) =>
    decodeOrThrow(TeleportGeneralizationConfig, {
      out: path.join(root, out),
      dataset: { name: 'mnist', trainSize: 200, testSize: 100 },
      epochs: 4,
      teleportEpoch: 2,
      batchSize: 20,
      runs: 2,
      arms: ['none', 'sharpness-up', 'curvature-down'],
      teleport: { batches: 1, batchSize: 50, sharpnessSteps: 1, curvatureSteps: 1, sharpness: { directions: 2 } },
    });
  const quiet = { log: () => {} };
  try {
    const n0 = tf.memory().numTensors;
    const whole = await runTeleportGeneralization(cfg('whole'), quiet);
    const epochs: string[] = [];
    const teleports: string[] = [];
    const killAt = (phase: string, epoch: number | string) => ({
      ...quiet,
      afterEpoch: (p: string, e: number) => {
        epochs.push(`${p} ${e}`);
        if (p === phase && e === epoch) throw new Error('killed');
      },
      afterTeleport: (arm: string, run: number) => {
        teleports.push(`${arm} ${run}`);
        if (phase === 'teleport' && `${arm} ${run}` === epoch) throw new Error('killed');
      },
    });
    await assert.rejects(runTeleportGeneralization(cfg('cut'), killAt('before-teleport', 0)), /killed/);
    await assert.rejects(runTeleportGeneralization(cfg('cut'), killAt('teleport', 'sharpness-up 0')), /killed/);
    teleports.length = 0;
    await assert.rejects(runTeleportGeneralization(cfg('cut'), killAt('after-teleport', 2)), /killed/);
    assert.deepEqual(teleports, ['sharpness-up 1', 'curvature-down 0', 'curvature-down 1'], 'the teleports done before the kill were not redone');
    epochs.length = 0;
    const resumed = await runTeleportGeneralization(cfg('cut'), killAt('none', -1));
    assert.deepEqual(epochs, ['after-teleport 3'], 'the last run trained only the missing epoch');
    assert.equal(tf.memory().numTensors, n0, 'no leaked tensors');
    const nums = (r: typeof whole) => r.arms.map((a) => ({ arm: a.arm, train: a.trainLoss, validation: a.validationLoss, jump: a.jump.map(({ seconds: _, ...j }) => j) }));
    assert.deepEqual(nums(resumed), nums(whole));
    assert.equal(whole.arms[0]!.trainLoss[0]!.length, 4);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
