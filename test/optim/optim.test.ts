// Hand-designed optimizers against torch.optim (1.13, float64) trajectories of 50 steps on a
// fixed gradient sequence (test/fixtures/optim, written by scripts/make_optim_fixtures.py),
// on the wasm backend; plus purity, state helpers, config validation and tensor leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { testBackend } from '../helpers/backend.js';
import {
  adagradAccumulator,
  disposeState,
  mapState,
  optimizer,
  stateEntries,
  stateTensors,
  type OptimizerInput,
  type OptimizerState,
} from '../../src/optim/index.js';
import { ConfigError } from '../../src/config/codec.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'optim');
interface Inputs { shapes: number[][]; params: number[][]; grads: number[][][] }
interface Case { name: string; config: OptimizerInput; trajectory: number[][][] }
const inputs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8')) as Inputs;
const cases = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'inputs.json')
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Case);

const RTOL = 1e-5;

before(async () => {
  await initBackend(testBackend());
});

const tensors = (flat: number[][]) => flat.map((v, i) => tf.tensor(v, inputs.shapes[i]));

test('fixtures cover every optimizer', () => {
  const names = new Set(cases.map((c) => c.config.name));
  assert.deepEqual([...names].sort(), ['adagrad', 'adam', 'momentum', 'rmsprop', 'sgd']);
});

for (const c of cases) {
  test(`${c.name}: matches torch.optim over ${c.trajectory.length} steps (rtol ${RTOL})`, () => {
    const opt = optimizer(c.config);
    let params = tensors(inputs.params);
    let state = opt.init(params);
    c.trajectory.forEach((expected, k) => {
      const grads = tensors(inputs.grads[k]!);
      const next = opt.step(params, grads, state);
      tf.dispose([...params, ...grads]);
      disposeState(state);
      ({ params, state } = next);
      params.forEach((p, i) => {
        const got = p.dataSync();
        const want = expected[i]!;
        // Relative to the entry, floored by the tensor's largest entry: a pure elementwise
        // ratio is meaningless where a coordinate crosses zero (float32 roundoff ~1e-7 of the
        // tensor's scale; measured worst case 4e-7 on wasm and cpu).
        const scale = Math.max(...want.map(Math.abs));
        for (let j = 0; j < want.length; j++) {
          const err = Math.abs(got[j]! - want[j]!) / Math.max(Math.abs(want[j]!), scale);
          if (!(err <= RTOL)) assert.fail(`step ${k + 1}, param ${i}[${j}]: got ${got[j]}, torch ${want[j]} (rel err ${err.toExponential(2)})`);
        }
      });
      assert.equal(state.step, k + 1);
    });
    tf.dispose(params);
    disposeState(state);
  });
}

test('step is pure: inputs stay valid and unchanged', () => {
  const opt = optimizer({ name: 'adam', lr: 0.1, amsgrad: true });
  const params = tensors(inputs.params);
  const grads = tensors(inputs.grads[0]!);
  const state = opt.init(params);
  const before = [...params, ...stateTensors(state)].map((x) => Array.from(x.dataSync()));
  const next = opt.step(params, grads, state);
  const after = [...params, ...stateTensors(state)].map((x) => Array.from(x.dataSync()));
  assert.deepEqual(after, before);
  const olds = new Set([...params, ...grads, ...stateTensors(state)]);
  for (const x of [...next.params, ...stateTensors(next.state)]) assert.ok(!olds.has(x), 'step returned an input tensor');
  tf.dispose([...params, ...grads, ...next.params]);
  disposeState(state);
  disposeState(next.state);
});

const LEAK_CONFIGS: OptimizerInput[] = [
  { name: 'sgd', lr: 0.01 },
  { name: 'momentum', lr: 0.01, nesterov: true },
  { name: 'adagrad', lr: 0.01 },
  { name: 'rmsprop', centered: true, momentum: 0.9 },
  { name: 'adam', amsgrad: true },
];

for (const config of LEAK_CONFIGS) {
  test(`${config.name}: no tensor leak over 100 steps`, () => {
    const opt = optimizer(config);
    let params = tensors(inputs.params);
    let state = opt.init(params);
    const grads = tensors(inputs.grads[0]!);
    const counts: number[] = [];
    for (let k = 0; k < 100; k++) {
      const next = opt.step(params, grads, state);
      tf.dispose(params);
      disposeState(state);
      ({ params, state } = next);
      counts.push(tf.memory().numTensors);
    }
    assert.equal(Math.min(...counts), Math.max(...counts));
    tf.dispose([...params, ...grads]);
    disposeState(state);
  });
}

test('state: slots per optimizer, adagradAccumulator, mapState', () => {
  const params = tensors(inputs.params);
  const slotsOf = (c: OptimizerInput) => {
    const s = optimizer(c).init(params);
    const names = Object.keys(s.slots);
    disposeState(s);
    return names;
  };
  assert.deepEqual(slotsOf({ name: 'sgd', lr: 1 }), []);
  assert.deepEqual(slotsOf({ name: 'momentum', lr: 1 }), ['momentumBuffer']);
  assert.deepEqual(slotsOf({ name: 'rmsprop', centered: true, momentum: 0.5 }), ['momentumBuffer', 'squareAvg', 'gradAvg']);
  assert.deepEqual(slotsOf({ name: 'adam', amsgrad: true }), ['expAvg', 'expAvgSq', 'maxExpAvgSq']);

  const opt = optimizer({ name: 'adagrad', initialAccumulatorValue: 0.5 });
  const s0 = opt.init(params);
  const grads = tensors(inputs.grads[3]!);
  const { params: p1, state: s1 } = opt.step(params, grads, s0);
  const acc = adagradAccumulator(s1);
  assert.equal(acc.length, params.length);
  acc.forEach((a, i) => {
    const g = inputs.grads[3]![i]!;
    Array.from(a.dataSync()).forEach((v, j) => assert.ok(Math.abs(v - (0.5 + g[j]! ** 2)) < 1e-5));
  });
  assert.throws(() => adagradAccumulator(optimizer({ name: 'adam' }).init([])), /no "sum" slot/);

  const seen: string[] = [];
  const doubled: OptimizerState = mapState(s1, (x, { slot, index }) => {
    seen.push(`${slot}${index}`);
    return tf.mul(x, 2);
  });
  assert.deepEqual(seen, ['sum0', 'sum1', 'sum2']);
  assert.equal(doubled.step, 1);
  stateEntries(doubled).forEach(({ tensor, slot, index }) => {
    assert.equal(slot, 'sum');
    assert.deepEqual(Array.from(tensor.dataSync()), Array.from(acc[index]!.dataSync()).map((v) => Math.fround(2 * v)));
  });
  tf.dispose([...params, ...grads, ...p1]);
  [s0, s1, doubled].forEach(disposeState);
});

test('config: torch defaults, validation errors', () => {
  assert.deepEqual(optimizer({ name: 'adam' }).config, {
    name: 'adam', lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false,
  });
  assert.deepEqual(optimizer({ name: 'momentum', lr: 0.1 }).config, {
    name: 'momentum', lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false,
  });
  const adagrad = optimizer({ name: 'adagrad' }).config;
  assert.deepEqual(adagrad, { name: 'adagrad', lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false });
  const rms = optimizer({ name: 'rmsprop' }).config;
  assert.deepEqual(rms, { name: 'rmsprop', lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false });

  const problems = (raw: unknown) => {
    try {
      optimizer(raw as OptimizerInput);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems.join('\n');
    }
    return assert.fail('accepted an invalid config');
  };
  assert.match(problems({ name: 'sgd' }), /lr: expected a non-negative number, got nothing/);
  assert.match(problems({ name: 'adam', lr: -1 }), /lr: expected a non-negative number, got -1/);
  assert.match(problems({ name: 'adam', betas: [0.9, 1] }), /betas\[1\]|betas/);
  assert.match(problems({ name: 'adam', beta1: 0.9 }), /beta1: unknown key/);
  assert.match(problems({ name: 'adamw' }), /name: expected one of/);
  assert.match(problems({ name: 'sgd', lr: 0.1, nesterov: true }), /nesterov needs momentum > 0/);
  assert.match(problems({ name: 'momentum', lr: 0.1, nesterov: true, dampening: 0.1 }), /nesterov needs/);
});

test('step checks gradient and state shapes', () => {
  const opt = optimizer({ name: 'sgd', lr: 0.1 });
  const params = tensors(inputs.params);
  const state = opt.init(params);
  assert.throws(() => opt.step(params, params.slice(1), state), /expected 3 tensors/);
  const bad = [params[0]!, params[0]!, params[2]!];
  assert.throws(() => opt.step(params, bad, state), /grads\[1\]: expected shape \[5\]/);
  tf.dispose(params);
});
