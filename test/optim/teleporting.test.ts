// Teleportation inside optimizers: the push-forward that transports momentum, the three state
// policies, the AdaGrad objective with the optimizer's own accumulator, and no leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { pushForward } from '../../src/symmetry/action.js';
import { mlpGrads } from '../../src/nn/mlp.js';
import { adagradNormSq } from '../../src/symmetry/metrics.js';
import { optimizer, withTeleport, stepWithTeleport, disposeTeleportingState } from '../../src/optim/index.js';
import { stream } from '../../src/rng/index.js';
import * as f64 from '../helpers/f64.js';

before(async () => {
  await initBackend('wasm');
});

/** The paper's Appendix G.1 problem: 5 -> 6 -> 7 -> 8, X 5x4, Y 8x4, entries uniform [0, 1]. */
function regression(seed: number) {
  const r = stream(seed, 'g1');
  const dims = [5, 6, 7, 8];
  const ws = dims.slice(0, -1).map((d, i) => Array.from({ length: dims[i + 1] }, () => Array.from(r.uniformArray(d))));
  return { ws, x: Array.from({ length: 5 }, () => Array.from(r.uniformArray(4))), y: Array.from({ length: 8 }, () => Array.from(r.uniformArray(4))) };
}

test('pushForward equals the float64 finite-difference derivative of the action, both kinds', () => {
  const p = regression(1);
  const r = stream(1, 'tangent');
  for (const kind of ['pinv', 'inverse'] as const) {
    const gs = p.ws.slice(0, -1).map((w) => Array.from({ length: w.length }, (_, i) => Array.from({ length: w.length }, (_, j) => (i === j ? 1 : 0) + 0.1 * (r.next() - 0.5))));
    const v = p.ws.map((w) => w.map((row) => Array.from(r.uniformArray(row.length, -1, 1))));
    const ours = tf.tidy(() =>
      pushForward(p.ws.map((w) => tf.tensor2d(w)), tf.tensor2d(p.x), gs.map((g) => tf.tensor2d(g)), [v.map((q) => tf.tensor2d(q))], { kind })[0].flatMap((t) => Array.from(t.dataSync())),
    );
    const W = p.ws.map(f64.fromRows), X = f64.fromRows(p.x), G = gs.map(f64.fromRows), V = v.map(f64.fromRows);
    const at = (e: number) => f64.flat(f64.action(W.map((w, i) => f64.add(w, V[i], e)), X, G, kind, 0.1));
    const h = 1e-5;
    const plus = at(h), minus = at(-h);
    const fd = plus.map((q, i) => (q - minus[i]) / (2 * h));
    const err = Math.sqrt(ours.reduce((s, q, i) => s + (q - fd[i]) ** 2, 0) / fd.reduce((s, q) => s + q * q, 0));
    assert.ok(err < 1e-3, `${kind}: relative error ${err}`);
  }
});

function setup(seed: number) {
  const p = regression(seed);
  return { ws: p.ws.map((w) => tf.tensor2d(w)) as tf.Tensor[], x: tf.tensor2d(p.x), y: tf.tensor2d(p.y) };
}

/** n steps of the wrapped optimizer without its teleports (to stand where one is due). */
function plainSteps(opt: ReturnType<typeof withTeleport>, params: tf.Tensor[], n: number, grads: (ps: tf.Tensor[]) => tf.Tensor[]) {
  let inner = opt.inner.init(params);
  for (let i = 0; i < n; i++) {
    const g = grads(params);
    const r = opt.inner.step(params, g, inner);
    tf.dispose([...params, ...g]);
    disposeTeleportingState({ inner, steps: i, teleports: 0, lastTeleportStep: -1 });
    ({ params, state: inner } = r);
  }
  return { params, state: { inner, steps: n, teleports: 0, lastTeleportStep: -1 } };
}

test('state policies: transport pushes momentum forward, keep leaves it, reset starts afresh', () => {
  for (const policy of ['transport', 'keep', 'reset'] as const) {
    const { ws, x, y } = setup(2);
    const opt = withTeleport(optimizer({ name: 'momentum', lr: 1e-3 }), {
      at: [3],
      data: () => [{ x, target: y }],
      teleport: { objective: 'gradNorm', steps: 2, lr: 1e-3, loss: 'mse', kind: 'pinv' },
      state: policy,
    });
    const grads = (ps: tf.Tensor[]) => mlpGrads(ps, x, y, { loss: 'mse' });
    const { params, state } = plainSteps(opt, ws.map((w) => tf.clone(w)), 3, grads);
    assert.ok(opt.due(state));
    const before = state.inner.slots.momentumBuffer!.map((b) => Array.from(b.dataSync()));
    const t = opt.teleport(params, state);
    assert.ok(!opt.due(t.state), 'a teleport is not due twice at the same step');
    assert.equal(t.event.rounds, 2);
    const after = t.state.inner.slots.momentumBuffer!.map((b) => Array.from(b.dataSync()));
    const same = before.every((b, i) => b.every((q, j) => q === after[i][j]));
    if (policy === 'keep') assert.ok(same);
    if (policy === 'reset') assert.ok(after.flat().every((q) => q === 0) && t.state.inner.step === 0);
    if (policy === 'transport') assert.ok(!same && after.flat().some((q) => q !== 0));
    tf.dispose([...params, ...t.params, ...ws, x, y]);
    disposeTeleportingState(state);
    disposeTeleportingState(t.state);
  }
});

test('adagradNorm teleports with the optimizer\'s own accumulator and raises ||grad||_A', () => {
  const { ws, x, y } = setup(3);
  const inner = optimizer({ name: 'adagrad', lr: 1e-2 });
  const opt = withTeleport(inner, {
    at: [4],
    data: () => [{ x, target: y }],
    teleport: { objective: 'adagradNorm', steps: 3, lr: 7.5e-3, stepNorm: 0.01, loss: 'mse', kind: 'pinv' },
  });
  const grads = (ps: tf.Tensor[]) => mlpGrads(ps, x, y, { loss: 'mse' });
  const { params, state } = plainSteps(opt, ws.map((w) => tf.clone(w)), 4, grads);
  const acc = state.inner.slots.sum!;
  const normA = (ps: tf.Tensor[]) => tf.tidy(() => adagradNormSq(ps, x, y, acc, { loss: 'mse', eps: 1e-10 }).dataSync()[0]);
  const t = opt.teleport(params, state);
  assert.ok(t.event.objectiveAfter > t.event.objectiveBefore);
  // the reported objective is the A-norm with G_t of the optimizer (at (I+0)·w, the projected weights)
  assert.ok(Math.abs(normA(t.params) - t.event.objectiveAfter) < 1e-3 * t.event.objectiveAfter);
  tf.dispose([...params, ...t.params, ...ws, x, y]);
  disposeTeleportingState(state);
  disposeTeleportingState(t.state);
});

test('training with periodic teleports keeps tf.memory().numTensors flat', () => {
  const { ws, x, y } = setup(4);
  const opt = withTeleport(optimizer({ name: 'adam', lr: 1e-3 }), {
    every: 5,
    data: () => [{ x, target: y }],
    teleport: { objective: 'gradNorm', steps: 2, lr: 1e-4, stepNorm: 0.01, loss: 'mse' },
  });
  let params = ws.map((w) => tf.clone(w));
  let state = opt.init(params);
  const grads = (ps: tf.Tensor[]) => mlpGrads(ps, x, y, { loss: 'mse' });
  let events = 0;
  const counts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r = stepWithTeleport(opt, params, state, grads);
    ({ params, state } = r);
    if (r.event) events++;
    counts.push(tf.memory().numTensors);
  }
  // after steps 5, 10, ..., 30: the one due before a step 31 runs at the end of step 30
  assert.equal(events, 6);
  assert.equal(new Set(counts.slice(1)).size, 1, `numTensors over steps: ${counts}`);
  tf.dispose([...params, ...ws, x, y]);
  disposeTeleportingState(state);
});

test('teleports run inside step when due: a loop of plain steps equals teleporting by hand before each gradient', () => {
  const { ws, x, y } = setup(5);
  const grads = (ps: tf.Tensor[]) => mlpGrads(ps, x, y, { loss: 'mse' });
  for (const state of ['transport', 'reset'] as const) {
    const make = () =>
      withTeleport(optimizer({ name: 'momentum', lr: 1e-3, momentum: 0.9 }), {
        at: [0, 2],
        every: 4,
        data: () => [{ x, target: y }],
        teleport: { objective: 'gradNorm', steps: 2, lr: 1e-4, stepNorm: 0.01, loss: 'mse', kind: 'pinv' },
        state,
      });
    // by hand: due() and teleport() before every gradient (the schedule's own definition)
    const hand = make();
    let p1 = ws.map((w) => tf.clone(w));
    let s1 = hand.init(p1);
    const handAt: number[] = [];
    for (let i = 0; i < 10; i++) {
      if (hand.due(s1)) {
        handAt.push(s1.steps);
        const t = hand.teleport(p1, s1);
        tf.dispose(p1);
        disposeTeleportingState(s1);
        ({ params: p1, state: s1 } = t);
      }
      const g = grads(p1);
      const r = hand.inner.step(p1, g, s1.inner);
      tf.dispose([...p1, ...g]);
      disposeTeleportingState(s1);
      p1 = r.params;
      s1 = { ...s1, inner: r.state, steps: s1.steps + 1 };
    }
    // inside step: stepWithTeleport for the teleport before step 0, then plain steps only
    const inStep = make();
    let p2 = ws.map((w) => tf.clone(w));
    let s2 = inStep.init(p2);
    const stepAt: number[] = [];
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) {
      if (i === 0) {
        const r = stepWithTeleport(inStep, p2, s2, grads);
        ({ params: p2, state: s2 } = r);
        stepAt.push(r.event!.atStep);
        continue;
      }
      const g = grads(p2);
      const before = s2.teleports;
      const r = inStep.step(p2, g, s2);
      tf.dispose([...p2, ...g]);
      disposeTeleportingState(s2);
      ({ params: p2, state: s2 } = r);
      if (s2.teleports > before) stepAt.push(s2.lastEvent!.atStep);
      if (i === 1) assert.equal(tf.memory().numTensors, n0, 'a step that teleports leaves no tensors behind');
    }
    // steps 0, 2 (at), 4, 8 (every); the one due before step 12 is after this loop
    assert.deepEqual(handAt, [0, 2, 4, 8]);
    assert.deepEqual(stepAt, [0, 2, 4, 8]);
    const a = p1.flatMap((t) => Array.from(t.dataSync()));
    const b = p2.flatMap((t) => Array.from(t.dataSync()));
    assert.deepEqual(b, a, `${state}: the two loops give the same parameters`);
    tf.dispose([...p1, ...p2]);
    disposeTeleportingState(s1);
    disposeTeleportingState(s2);
  }
  tf.dispose([...ws, x, y]);
});

test('stepWithTeleport reports the teleport of its step, also when one ran before the gradient and another after the update', () => {
  const { ws, x, y } = setup(6);
  const grads = (ps: tf.Tensor[]) => mlpGrads(ps, x, y, { loss: 'mse' });
  const opt = withTeleport(optimizer({ name: 'sgd', lr: 1e-3 }), {
    at: [0, 1],
    data: () => [{ x, target: y }],
    teleport: { objective: 'gradNorm', steps: 1, lr: 1e-4, stepNorm: 0.01, loss: 'mse', kind: 'pinv' },
  });
  let params = ws.map((w) => tf.clone(w));
  let state = opt.init(params);
  const r = stepWithTeleport(opt, params, state, grads);
  ({ params, state } = r);
  assert.equal(state.teleports, 2, 'before step 0 and before step 1');
  assert.equal(r.event?.atStep, 1, 'the latest teleport of the call');
  tf.dispose([...params, ...ws, x, y]);
  disposeTeleportingState(state);
});
