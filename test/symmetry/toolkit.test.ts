// The teleport toolkit against the worked float64 reference cases, loss invariance of the
// group actions, and every teleport objective's gradient w.r.t. the group elements against
// float64 finite differences (third order for curvature), on wasm and cpu.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { testBackends } from '../helpers/backend.js';
import { mlpLoss, gradNormSq } from '../../src/nn/mlp.js';
import { groupAction, actionReport } from '../../src/symmetry/action.js';
import { curvature, curveDerivatives, analyticCurveDerivatives, curvatureDerivative } from '../../src/symmetry/curve.js';
import { sharpness, adagradNormSq } from '../../src/symmetry/metrics.js';
import { teleport, groupGradient, gradNormObjective, adagradNormObjective, sharpnessObjective, curvatureObjective, type Objective } from '../../src/teleport/index.js';
import { stream } from '../../src/rng/index.js';
import { loadReferenceCases, type ReferenceCase } from '../helpers/reference.js';
import * as f64 from '../helpers/f64.js';

const cases = loadReferenceCases();

/** Relative error ||a - b|| / ||b|| over all entries. */
function relErr(a: number[], b: number[]): number {
  let num = 0, den = 0;
  a.forEach((v, i) => {
    num += (v - b[i]) ** 2;
    den += b[i] ** 2;
  });
  return Math.sqrt(num / Math.max(den, 1e-300));
}
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
const flatT = (ws: tf.Tensor[]) => ws.flatMap((w) => Array.from(w.dataSync()));

/** The case as tensors; `shift` rotates the sample columns (every quantity here is invariant to their order). */
function tensors(c: ReferenceCase, shift = 0) {
  const ws = c.weights.map((w) => tf.tensor2d(w));
  const k = c.x[0].length;
  const order = Array.from({ length: k }, (_, i) => (i + shift) % k);
  const cols = (rows: number[][]) => rows.map((r) => order.map((j) => r[j]));
  const x = tf.tensor2d(cols(c.x));
  const target =
    c.loss === 'mse' ? tf.tensor2d(cols(c.target as number[][])) : tf.tensor1d(order.map((j) => (c.target as number[])[j]), 'int32');
  return { ws, x, target, o: { loss: c.loss, slope: c.activation.leakyReluSlope } };
}
function twins(c: ReferenceCase) {
  const ws = c.weights.map(f64.fromRows);
  const x = f64.fromRows(c.x);
  const t: f64.Target = c.loss === 'mse' ? { kind: 'mse', y: f64.fromRows(c.target as number[][]) } : { kind: 'ce', labels: c.target as number[] };
  return { ws, x, t, s: c.activation.leakyReluSlope };
}

for (const backend of testBackends(['wasm', 'cpu'])) {
  describe(`toolkit on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const c of cases) {
      test(`${c.name}: loss, gradient norm, action, teleport, curvature, sharpness match the float64 reference`, () => {
        tf.tidy(() => {
          const { ws, x, target, o } = tensors(c);
          // float32 against float64: relative 1e-3 on weights and losses, 1e-2 on kappa
          assert.ok(rel(mlpLoss(ws, x, target, o).dataSync()[0], c.lossValue) < 1e-3, 'loss');
          assert.ok(rel(gradNormSq(ws, x, target, o).dataSync()[0], c.gradNormSq) < 1e-3, 'gradNormSq');
          const acted = groupAction(ws, x, c.groupElements.map((g) => tf.tensor2d(g)), { kind: c.actionKind, slope: o.slope });
          assert.ok(relErr(flatT(acted), c.actedWeights.flat(2)) < 1e-3, `acted weights: ${relErr(flatT(acted), c.actedWeights.flat(2))}`);
          assert.ok(rel(mlpLoss(acted, x, target, o).dataSync()[0], c.actedLoss) < 1e-3, 'acted loss');
          const r = teleport(ws, x, target, { objective: 'gradNorm', steps: c.teleport.steps, lr: c.teleport.lr, kind: c.actionKind, ...o });
          assert.ok(relErr(flatT(r.weights), c.teleport.weights.flat(2)) < 1e-3, 'teleported weights');
          assert.ok(rel(gradNormSq(r.weights, x, target, o).dataSync()[0], c.teleport.gradNormSqAfter) < 1e-3, 'gradNormSq after teleport');
          assert.ok(rel(r.lossAfter, c.teleport.lossAfter) < 1e-3, 'loss after teleport');
          assert.equal(r.rounds.length, c.teleport.steps);
          const ms = c.curvature.lieAlgebra.map((m) => (m ? tf.tensor2d(m) : null));
          const k = curvature(ws, x, ms, { kind: c.actionKind, slope: o.slope });
          assert.ok(rel(k, c.curvature.kappa) < 1e-2, `kappa ${k} vs ${c.curvature.kappa}`);
          const phi = sharpness(ws, x, target, { ...o, displacements: c.sharpness.displacements, directions: c.sharpness.directions.map((d) => tf.tensor1d(d)) });
          assert.ok(rel(phi, c.sharpness.phi) < 1e-3, `phi ${phi} vs ${c.sharpness.phi}`);
        });
      });
    }

    test('both actions leave the loss invariant in their exact regime (random shapes, depths 2-5)', () => {
      const rng = stream(11, 'invariance');
      for (let trial = 0; trial < 8; trial++) {
        const depth = 2 + (trial % 4);
        const dims = Array.from({ length: depth + 1 }, () => 3 + rng.int(5));
        for (const kind of ['pinv', 'inverse'] as const) {
          tf.tidy(() => {
            // pinv needs k <= every hidden width; inverse needs k <= the input width of each moved layer
            const hiddenMin = Math.min(...dims.slice(1, -1));
            const k = kind === 'pinv' ? hiddenMin : Math.min(...dims.slice(0, -2));
            const ws = dims.slice(0, -1).map((d, i) => tf.tensor2d(rng.uniformArray(dims[i + 1] * d, -1, 1), [dims[i + 1], d]));
            const x = tf.tensor2d(rng.uniformArray(dims[0] * k), [dims[0], k]);
            const y = tf.tensor2d(rng.uniformArray(dims[depth] * k), [dims[depth], k]);
            const gs = ws.slice(0, -1).map((w) => {
              const d = w.shape[0];
              return tf.add(tf.eye(d), tf.tensor2d(rng.uniformArray(d * d, -0.2, 0.2), [d, d]));
            });
            const acted = groupAction(ws, x, gs, { kind });
            const rep = actionReport(ws, acted, x, y, gs);
            assert.ok(Math.abs(rep.drift) / rep.lossBefore < 2e-3, `${kind} dims ${dims} k ${k}: drift ${rep.drift} of ${rep.lossBefore}`);
            assert.ok(rep.distanceFromIdentity.every((v) => v > 0));
            // the weights did move
            assert.ok(relErr(flatT(acted), flatT(ws)) > 1e-3);
          });
        }
      }
    });

    test('outside the exact regime the action changes the loss and the report says so', () => {
      const c = cases.find((q) => q.name.endsWith('-approx'))!;
      tf.tidy(() => {
        const { ws, x, target, o } = tensors(c);
        const gs = c.groupElements.map((g) => tf.tensor2d(g));
        const rep = actionReport(ws, groupAction(ws, x, gs, { kind: c.actionKind }), x, target, gs, o);
        assert.ok(Math.abs(rep.drift) > 1e-4, `drift ${rep.drift}`);
        assert.ok(rel(rep.lossAfter, c.actedLoss) < 1e-3);
      });
    });

    // Gradient of every objective w.r.t. the group elements against float64 finite differences
    // of the float64 twin along a random direction E: <G, E> = d/ds obj((I + sE)·w) at s = 0.
    for (const c of cases) {
      test(`${c.name}: objective gradients w.r.t. group elements match float64 finite differences`, () => {
        const tw = twins(c);
        const rng = stream(5, 'fd', c.name);
        const E = tw.ws.slice(0, -1).map((w) => f64.fromRows(Array.from({ length: w.rows }, () => Array.from(rng.uniformArray(w.rows, -1, 1)))));
        const ED = E.map(f64.toRows);
        const moved = (s: number) => f64.action(tw.ws, tw.x, E.map((e) => f64.add(f64.eye(e.rows), f64.scale(e, s))), c.actionKind, tw.s);
        const acc = tw.ws.map((w) => Array.from({ length: w.rows }, () => Array.from(rng.uniformArray(w.cols, 0.5, 2))));
        const dirs = Array.from({ length: 3 }, () => {
          const d = Array.from(rng.normalArray(tw.ws.reduce((n, w) => n + w.data.length, 0)));
          const n = Math.hypot(...d);
          return d.map((v) => v / n);
        });
        const ts = [0.01, 0.05];
        const ms = c.curvature.lieAlgebra.map((m) => (m ? f64.fromRows(m) : null));
        const checks: { name: string; tfObjective: () => Objective; f64Objective: (ws: f64.M[]) => number; tol: number }[] = [
          { name: 'gradNorm', tfObjective: () => gradNormObjective({ loss: c.loss }), f64Objective: (ws) => f64.gradNormSq(ws, tw.x, tw.t, tw.s), tol: 2e-3 },
          {
            name: 'adagradNorm',
            tfObjective: () => adagradNormObjective(acc.map((a) => tf.tensor2d(a)), { loss: c.loss }),
            f64Objective: (ws) => f64.grads(ws, tw.x, tw.t, tw.s).reduce((p, g, i) => p + g.data.reduce((q, v, j) => q + (v * v) / Math.sqrt(acc[i].flat()[j] + 1e-10), 0), 0),
            tol: 2e-3,
          },
          {
            name: 'sharpness',
            tfObjective: () => sharpnessObjective({ loss: c.loss, displacements: ts, directions: tf.tensor2d(dirs) }),
            f64Objective: (ws) => f64.sharpness(ws, tw.x, tw.t, tw.s, ts, dirs),
            tol: 2e-3,
          },
          {
            name: 'curvature',
            tfObjective: () => curvatureObjective([ms.map((m) => (m ? tf.tensor2d(f64.toRows(m)) : null))], { kind: c.actionKind }),
            f64Objective: (ws) => f64.kappa(ws, tw.x, ms, c.actionKind, tw.s),
            tol: 2e-2,
          },
        ];
        for (const chk of checks) {
          // The same derivative with the samples in three orders: equal in exact arithmetic, so
          // their spread is this backend's float32 rounding noise for it. Some of these
          // derivatives are small differences of large terms (the loss is invariant along the
          // group), and on backends that accumulate in float32 (wasm, tensorflow) the noise
          // reaches 1e-2 of the value; cpu accumulates in float64 and its spread is ~0.
          const analytics = [0, 1, 2].map((shift) =>
            tf.tidy(() => {
              const { ws, x, target } = tensors(c, shift);
              const { grads } = groupGradient(ws, { x, target }, chk.tfObjective(), { kind: c.actionKind });
              return grads.reduce((p, g, i) => p + tf.sum(tf.mul(g, tf.tensor2d(ED[i]))).dataSync()[0], 0);
            }),
          );
          const analytic = analytics[0];
          const noise = Math.max(...analytics) - Math.min(...analytics);
          const numeric = f64.fd((s) => chk.f64Objective(moved(s)), 1, chk.name === 'curvature' ? 2e-3 : 1e-4);
          const err = Math.abs(analytic - numeric);
          const allowed = chk.tol * Math.max(Math.abs(numeric), 1e-6) + noise;
          assert.ok(
            err < allowed,
            `${chk.name}: autodiff ${analytic} vs float64 FD ${numeric} (|diff| ${err.toExponential(2)} > ${chk.tol} relative + float32 noise ${noise.toExponential(2)})`,
          );
        }
      });
    }

    test('closed-form gamma\', gamma\'\' (Appendix E.4) agree with autodiff of the curve', () => {
      const c = cases.find((q) => q.actionKind === 'inverse')!;
      tf.tidy(() => {
        const { ws, x } = tensors(c);
        const ms = c.curvature.lieAlgebra.map((m) => (m ? tf.tensor2d(m) : null));
        const m = ms.findIndex((q) => q);
        const [d1, d2] = curveDerivatives(ws, x, ms, 2, { kind: 'inverse' });
        const [a1, a2] = analyticCurveDerivatives(ws, x, m, ms[m]!);
        assert.ok(relErr(Array.from(d1.dataSync()), Array.from(a1.dataSync())) < 1e-4);
        assert.ok(relErr(Array.from(d2.dataSync()), Array.from(a2.dataSync())) < 1e-4);
      });
    });

    test('kappa\' (eq. 84) matches the float64 finite difference of kappa along the curve', () => {
      const c = cases.find((q) => q.actionKind === 'inverse')!;
      const tw = twins(c);
      const ms64 = c.curvature.lieAlgebra.map((m) => (m ? f64.fromRows(m) : null));
      // kappa at the point exp(tM)·w of the curve, with the same M
      const kappaAt = (t: number) => f64.kappa(f64.action(tw.ws, tw.x, ms64.map((m) => (m ? f64.expm(f64.scale(m, t)) : null)), 'inverse', tw.s), tw.x, ms64, 'inverse', tw.s);
      const numeric = f64.fd(kappaAt, 1, 2e-2);
      const ours = tf.tidy(() => {
        const { ws, x } = tensors(c);
        return curvatureDerivative(ws, x, c.curvature.lieAlgebra.map((m) => (m ? tf.tensor2d(m) : null)), { kind: 'inverse' });
      });
      assert.ok(Math.abs(ours - numeric) < 2e-2 * Math.abs(numeric) + 1e-6, `kappa' ${ours} vs ${numeric}`);
    });

    test('teleport raises the gradient norm, respects the cap and the direction, and does not leak', () => {
      const c = cases[0];
      const { ws, x, target, o } = tensors(c);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const up = teleport(ws, x, target, { objective: 'gradNorm', steps: 3, lr: c.teleport.lr, kind: c.actionKind, ...o });
        assert.ok(up.objectiveAfter > up.objectiveBefore);
        const down = teleport(ws, x, target, { objective: 'gradNorm', steps: 3, lr: c.teleport.lr, direction: 'decrease', kind: c.actionKind, ...o });
        assert.ok(down.objectiveAfter < down.objectiveBefore);
        const capped = teleport(ws, x, target, { objective: 'gradNorm', steps: 50, lr: c.teleport.lr, cap: up.objectiveBefore * 1.01, kind: c.actionKind, ...o });
        assert.ok(capped.stoppedEarly && capped.rounds.length < 50);
        tf.dispose([...up.weights, ...down.weights, ...capped.weights]);
      }
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([...ws, x, target]);
    });

    test('adagradNorm with a unit accumulator equals the plain gradient norm', () => {
      const c = cases[0];
      tf.tidy(() => {
        const { ws, x, target, o } = tensors(c);
        const ones = ws.map((w) => tf.onesLike(w));
        assert.ok(rel(adagradNormSq(ws, x, target, ones, o).dataSync()[0], c.gradNormSq) < 1e-3);
      });
    });
  });
}
