// The reference-mode phi / psi against float64 cases computed independently in numpy
// (scripts/reference-metrics-cases.py), the curve-mode psi teleport against float64 finite
// differences, the Figure 8 displacement against closed forms and Monte Carlo, and the study's
// snapshots / metrics-only path.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { stream } from '../../src/rng/index.js';
import { referenceCurvatureTensor, perturbedLossesByLayer, directionBlocks, layerShapes, referenceStudyMetrics, referenceDraw } from '../../src/studies/generalization/reference-metrics.js';
import { curveTeleport, curvatureAlong } from '../../src/studies/generalization/curve-teleport.js';
import { distToParabola, distToCircle, expectedDisplacement, monteCarloDisplacement } from '../../src/studies/generalization/displacement.js';
import { CorrelationConfig, runCorrelation, checkStudyConfig } from '../../src/studies/generalization/correlation.js';
import { pairedDifference } from '../../src/studies/generalization/stats.js';
import { initClassifier } from '../../src/train/classifier.js';
import { optimizer } from '../../src/optim/index.js';
import { loadModel } from '../../src/train/checkpoint.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import * as f64 from '../helpers/f64.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
const here = path.dirname(fileURLToPath(import.meta.url));

interface Case {
  name: string;
  dims: number[];
  slope: number;
  displacements: number[];
  weights: number[][][];
  draws: { x: number[][]; labels: number[]; ms: number[][][]; directions: number[][]; kappa: number; meanLoss: number }[];
  phi: number;
  psi: number;
}
const cases = JSON.parse(fs.readFileSync(path.join(here, '..', 'fixtures/reference/metrics-reference-cases.json'), 'utf8')) as Case[];

describe('reference-mode phi and psi = numpy float64 port of the reference code', () => {
  before(async () => {
    await initBackend('wasm');
  });

  for (const c of cases) {
    test(`${c.name}: per draw and averaged`, () => {
      const before = tf.memory().numTensors;
      const ws = c.weights.map((w) => tf.tensor2d(w));
      let phi = 0;
      let psi = 0;
      for (const d of c.draws) {
        const [k, l] = tf.tidy(() => {
          const x = tf.tensor2d(d.x);
          const y = tf.tensor1d(d.labels, 'int32');
          const kappa = referenceCurvatureTensor(ws, x, d.ms.map((m) => tf.tensor2d(m)), c.slope).dataSync()[0]!;
          const blocks = directionBlocks(tf.tensor2d(d.directions), c.displacements, layerShapes(c.dims));
          const loss = tf.mean(perturbedLossesByLayer(ws, x, y, blocks, c.slope)).dataSync()[0]!;
          return [kappa, loss];
        });
        assert.ok(rel(k!, d.kappa) < 2e-4, `kappa ${k} vs ${d.kappa}`);
        assert.ok(rel(l!, d.meanLoss) < 1e-5, `loss ${l} vs ${d.meanLoss}`);
        phi += l! / c.draws.length;
        psi += k! / c.draws.length;
      }
      assert.ok(rel(phi, c.phi) < 1e-5 && rel(psi, c.psi) < 2e-4, `phi ${phi} vs ${c.phi}, psi ${psi} vs ${c.psi}`);
      tf.dispose(ws);
      assert.equal(tf.memory().numTensors, before);
    });
  }

  test('the study loop = the mean of its draws; directions positive, M normalised; no leak', () => {
    const dims = [30, 5, 4, 3];
    const r = stream(7, 'split');
    const n = 60;
    const train = { n, d: 30, x: r.uniformArray(30 * n), y: Uint8Array.from({ length: n }, () => r.int(3)) } as never;
    const models = [0, 1].map((m) => layerShapes(dims).map(([a, b]) => ({ data: stream(m, 'w').uniformArray(a * b, -0.4, 0.4), shape: [a, b] as [number, number] })));
    const o = { curves: 3, batchSize: 20, displacements: [0.01, 0.1], seed: 5 };
    const before = tf.memory().numTensors;
    const got = referenceStudyMetrics(models, train, o);
    assert.equal(tf.memory().numTensors, before);
    const want = models.map(() => ({ sharpness: 0, curvature: 0 }));
    for (let i = 0; i < o.curves; i++) {
      const draw = referenceDraw(train, dims, o.displacements, o.batchSize, o.seed, i);
      for (const b of draw.blocks) assert.ok(Math.min(...b.dataSync()) >= 0, 'torch.rand-like directions are positive');
      for (const m of draw.ms) assert.ok(Math.abs(tf.norm(m).dataSync()[0]! - 1) < 1e-5);
      models.forEach((spec, b) => {
        const ws = spec.map((w) => tf.tensor2d(w.data, w.shape));
        want[b]!.sharpness += tf.mean(perturbedLossesByLayer(ws, draw.x, draw.y, draw.blocks)).dataSync()[0]! / o.curves;
        want[b]!.curvature += referenceCurvatureTensor(ws, draw.x, draw.ms).dataSync()[0]! / o.curves;
        tf.dispose(ws);
      });
      tf.dispose([draw.x, draw.y, ...draw.ms, ...draw.blocks]);
    }
    got.forEach((g, b) => {
      assert.ok(rel(g.sharpness, want[b]!.sharpness) < 1e-5 && rel(g.curvature, want[b]!.curvature) < 1e-4, JSON.stringify({ g, w: want[b] }));
    });
  });
});

describe('curve-mode psi teleport (reference teleport_curvature)', () => {
  before(async () => {
    await initBackend('wasm');
  });
  // k = 3 samples <= 3 units of the moved (last) hidden layer: the pinv action is exact on x
  const dims = [5, 4, 3, 2];
  const r = stream(11, 'curve');
  const wsRows = dims.slice(0, -1).map((d, i) => Array.from({ length: dims[i + 1]! }, () => Array.from(r.uniformArray(d, -0.8, 0.8))));
  const xRows = Array.from({ length: 5 }, () => Array.from(r.uniformArray(3, -1, 1)));
  const s = 0.1;
  const ws64 = wsRows.map(f64.fromRows);
  const x64 = f64.fromRows(xRows);
  const drawM = (seed: number) => f64.fromRows(Array.from({ length: 3 }, (_, i) => Array.from(stream(seed, 'm').uniformArray(9).slice(3 * i, 3 * i + 3))));
  const kappa64 = (ws: f64.M[], M: f64.M) => f64.kappa(ws, x64, [null, M], 'pinv', s);

  test("kappa'(0) of the curve = float64 finite difference of kappa along it", () => {
    const M = drawM(1);
    const along = (t: number) => kappa64(f64.action(ws64, x64, [null, f64.expm(f64.scale(M, t))], 'pinv', s), M);
    // small h: a pre-activation changes sign near t = 5e-3 (a kink of kappa along this curve)
    const numeric = f64.fd(along, 1, 2e-4);
    const ours = tf.tidy(() => curvatureAlong({ ws: wsRows.map((w) => tf.tensor2d(w)), x: tf.tensor2d(xRows), ms: [null, tf.tensor2d(f64.toRows(M))], opts: { kind: 'pinv' } }, 0));
    assert.ok(Math.abs(ours.kappaPrime - numeric) < 3e-2 * Math.abs(numeric) + 1e-4, `kappa' ${ours.kappaPrime} vs ${numeric}`);
    assert.ok(rel(ours.kappa, along(0)) < 1e-3);
  });

  for (const direction of ['increase', 'decrease'] as const) {
    test(`one step moves kappa of the drawn curve the asked way (${direction}), measured in float64; no leak`, () => {
      const ws = wsRows.map((w) => tf.tensor2d(w));
      const x = tf.tensor2d(xRows);
      const before = tf.memory().numTensors;
      const out = curveTeleport(ws, [x], { lr: 1e-3, direction, rng: stream(1, 'm'), slope: s });
      assert.equal(tf.memory().numTensors, before + ws.length);
      const M = drawM(1); // the same draw as the teleport's first M
      const moved = out.weights.map((w) => f64.fromRows(w.arraySync() as number[][]));
      const k0 = kappa64(ws64, M);
      const k1 = kappa64(moved, M);
      const step = out.steps[0]!;
      assert.equal(step.skipped, undefined);
      assert.ok(direction === 'increase' ? k1 > k0 : k1 < k0, `${direction}: kappa ${k0} -> ${k1} (t = ${step.t})`);
      assert.ok(rel(step.kappaAfter, k1) < 1e-3, `reported kappa(t) ${step.kappaAfter} vs float64 ${k1}`);
      tf.dispose([...ws, x, ...out.weights]);
    });
  }
});

test('curve step bound (ours): |t|·||M||_F <= maxStepNorm', async () => {
  await initBackend('wasm');
  const dims = [5, 4, 3, 2];
  const r = stream(12, 'bound');
  const ws = dims.slice(0, -1).map((d, i) => tf.tensor2d(r.uniformArray(dims[i + 1]! * d, -0.8, 0.8), [dims[i + 1]!, d]));
  const x = tf.tensor2d(r.uniformArray(15, -1, 1), [5, 3]);
  const out = curveTeleport(ws, [x, x], { lr: 10, direction: 'increase', rng: stream(4, 'm'), maxStepNorm: 1e-3 });
  const norms = [0, 1].map(() => 0);
  const mr = stream(4, 'm');
  out.steps.forEach((st, i) => {
    norms[i] = Math.hypot(...mr.uniformArray(9));
    assert.ok(Math.abs(st.t) * norms[i]! <= 1e-3 * (1 + 1e-6), `step ${i}: |t| ${st.t} · ${norms[i]}`);
  });
  tf.dispose([...ws, x, ...out.weights]);
});

describe('Figure 8: expected displacement vs curvature', () => {
  test('distances: closed forms against brute force on dense curves', () => {
    const r = stream(2, 'pts');
    for (let i = 0; i < 50; i++) {
      const a = r.uniform(-1, 1);
      const b = r.uniform(-1, 1);
      const k = r.uniform(0, 5);
      let best = Infinity;
      for (let j = -20000; j <= 20000; j++) {
        const x = j * 1e-4;
        best = Math.min(best, Math.hypot(x - a, k * x * x - b));
      }
      // the grid (spacing 1e-4) only bounds the distance from above
      const ours = distToParabola(a, b, k);
      assert.ok(ours <= best + 1e-12 && best - ours < 2e-5, `parabola k=${k} (${a}, ${b}): ${ours} vs ${best}`);
      let bc = Infinity;
      for (let j = 0; j < 20000; j++) {
        const th = (2 * Math.PI * j) / 20000;
        bc = Math.min(bc, Math.hypot(k * Math.sin(th) - a, k - k * Math.cos(th) - b));
      }
      assert.ok(distToCircle(a, b, k) <= bc + 1e-12 && bc - distToCircle(a, b, k) < 2e-5);
    }
  });

  test('kappa = 0 (a line): E dist / r = 2/pi; E/r depends on kappa·r only', () => {
    for (const kind of ['parabola', 'circle'] as const) {
      assert.ok(Math.abs(expectedDisplacement(kind, 0, 0.3) / 0.3 - 2 / Math.PI) < 1e-6);
      assert.ok(rel(expectedDisplacement(kind, 4, 0.5) / 0.5, expectedDisplacement(kind, 2, 1)) < 1e-9);
    }
  });

  test('quadrature = Monte Carlo with brute-force distances (within 4 standard errors)', () => {
    for (const [kind, kappa, r] of [['parabola', 10, 0.5], ['parabola', 60, 0.1], ['circle', 5, 0.1], ['circle', 0.2, 0.05]] as const) {
      const q = expectedDisplacement(kind, kappa, r);
      const mc = monteCarloDisplacement(kind, kappa, r, 3000, stream(3, kind, kappa), 4001);
      assert.ok(Math.abs(q - mc.mean) < 4 * mc.stderr, `${kind} kappa=${kappa} r=${r}: ${q} vs ${mc.mean} ± ${mc.stderr}`);
    }
  });
});

describe('study settings', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('paired difference: hand-computed mean and t interval', () => {
    const p = pairedDifference([3, 5, 4, 6], [1, 2, 2, 3]); // d = 2, 3, 2, 3: mean 2.5, sd 0.57735
    assert.ok(Math.abs(p.mean - 2.5) < 1e-12);
    assert.ok(Math.abs(p.hi - (2.5 + (3.182 * Math.sqrt(1 / 3)) / 2)) < 1e-9);
  });

  test('sameInit: every model starts from model 0', () => {
    const s = initClassifier({ dims: [6, 3, 2], models: [0, 1, 2], seed: 1, sameInit: true }, optimizer({ name: 'sgd', lr: 0.1 }));
    const w = s.params[0]!.arraySync() as number[][][];
    assert.deepEqual(w[1], w[0]);
    assert.deepEqual(w[2], w[0]);
    tf.dispose(s.params);
  });

  test('config: metrics.epoch must be a saved epoch; snapshots before the last', () => {
    const base = { dataset: { name: 'mnist', trainSize: 200 }, dims: [784, 4, 3, 10], epochs: 3, models: 2, sharpness: { samples: 50 }, curvature: { samples: 20 } };
    assert.throws(() => checkStudyConfig(decodeOrThrow(CorrelationConfig, { ...base, metrics: { epoch: 2 } })), /metrics\.epoch: expected 3 or one of snapshots \[\] .*got 2/);
    assert.throws(() => checkStudyConfig(decodeOrThrow(CorrelationConfig, { ...base, snapshots: [3] })), /snapshots: expected epochs before the last \(3\), got 3/);
    assert.throws(() => decodeOrThrow(CorrelationConfig, { ...base, metrics: { mode: 'exact' } }), /mode/);
    checkStudyConfig(decodeOrThrow(CorrelationConfig, { ...base, snapshots: [2], metrics: { epoch: 2, mode: 'reference' } }));
  });

  test('snapshots and metrics-only: reference metrics at an earlier epoch from its checkpoints', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-ref-'));
    const cfg = decodeOrThrow(CorrelationConfig, {
      dataset: { name: 'mnist', trainSize: 200, testSize: 100 },
      dims: [784, 4, 3, 10],
      lr: 0.05,
      models: 3,
      epochs: 2,
      group: 3,
      vary: 'init',
      snapshots: [1],
      metrics: { mode: 'reference', epoch: 1 },
      reference: { curves: 2, batchSize: 20 },
      sharpness: { directions: 4, samples: 50 },
      curvature: { curves: 2, samples: 20 },
      bootstrap: 50,
      out: root,
    });
    const quiet = { log: () => {}, progressMode: 'quiet' as const };
    assert.equal(await runCorrelation(cfg, { ...quiet, stage: 'train' }), null);
    const snap = loadModel(path.join(root, 'models-epoch-1'), 0)!;
    const last = loadModel(path.join(root, 'models'), 0)!;
    assert.equal(snap.testLoss.length, 1);
    assert.equal(last.testLoss.length, 2);
    assert.equal(snap.testLoss[0], last.testLoss[0]);
    const r = (await runCorrelation(cfg, { ...quiet, stage: 'metrics' }))!;
    assert.equal(r.epoch, 1);
    assert.equal(r.mode, 'reference');
    assert.deepEqual(r.perModel.map((m) => m.validationLoss), [0, 1, 2].map((i) => loadModel(path.join(root, 'models-epoch-1'), i)!.testLoss[0]));
    assert.ok(fs.existsSync(path.join(root, 'results-reference-epoch1.json')));
    fs.rmSync(root, { recursive: true, force: true });
  });
});
