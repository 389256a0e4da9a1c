import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import {
  ConfigError,
  decodeConfig,
  decodeOrThrow,
  deepMerge,
  loadConfigFile,
  NonNegativeInt,
  NonNegativeNumber,
  numberIn,
  oneOf,
  optional,
  overridesFromAssignments,
  PositiveInt,
  PositiveNumber,
  Probability,
  Finite,
  strict,
  taggedUnion,
  withDefaults,
} from '../../src/config/codec.js';
import { Backend, MlpSpec, TeleportObjective } from '../../src/config/common.js';
import { getConfig } from '../../src/config/registry.js';

const Meta = withDefaults(strict({ unroll: PositiveInt, lr: PositiveNumber }), { unroll: 10, lr: 1e-3 });
const Teleport = withDefaults(
  strict({ objective: TeleportObjective, prob: Probability, note: optional(t.string) }),
  { objective: 'gradNorm', prob: 1 },
);
const Optimizer = taggedUnion('name', {
  sgd: withDefaults(strict({ lr: PositiveNumber }), { lr: 0.1 }),
  momentum: withDefaults(strict({ lr: PositiveNumber, beta: Probability }), { lr: 0.1, beta: 0.9 }),
});
const Experiment = withDefaults(
  strict({ backend: Backend, seed: NonNegativeInt, meta: Meta, teleport: Teleport, optimizer: Optimizer, model: MlpSpec }),
  { backend: 'wasm', seed: 0, optimizer: { name: 'sgd' }, model: { dims: [4, 3, 2] } },
);

function problems<A, O>(codec: t.Type<A, O, unknown>, raw: unknown): string[] {
  const r = decodeConfig(codec, raw, 'test');
  assert.ok(E.isLeft(r), 'expected a decoding failure');
  assert.ok(r.left instanceof ConfigError);
  assert.equal(r.left.source, 'test');
  return [...r.left.problems];
}

test('defaults fill an empty config, deeply', () => {
  const cfg = decodeOrThrow(Experiment, {});
  assert.deepEqual(cfg, {
    backend: 'wasm',
    seed: 0,
    meta: { unroll: 10, lr: 1e-3 },
    teleport: { objective: 'gradNorm', prob: 1 },
    optimizer: { name: 'sgd', lr: 0.1 },
    model: { dims: [4, 3, 2], activation: { leakyReluSlope: 0.1 }, loss: 'mse' },
  });
});

test('given values win over defaults; nested objects are merged, arrays replaced', () => {
  const cfg = decodeOrThrow(Experiment, {
    meta: { unroll: 20 },
    optimizer: { name: 'momentum', beta: 0.5 },
    model: { dims: [2, 2], activation: { leakyReluSlope: 0.3 } },
    teleport: { note: 'x' },
  });
  assert.deepEqual(cfg.meta, { unroll: 20, lr: 1e-3 });
  assert.deepEqual(cfg.optimizer, { name: 'momentum', lr: 0.1, beta: 0.5 });
  assert.deepEqual(cfg.model, { dims: [2, 2], activation: { leakyReluSlope: 0.3 }, loss: 'mse' });
  assert.equal(cfg.teleport.note, 'x');
});

test('decoding does not mutate the defaults', () => {
  decodeOrThrow(Experiment, { model: { dims: [9, 9] } });
  assert.deepEqual(decodeOrThrow(Experiment, {}).model.dims, [4, 3, 2]);
});

test('unknown keys are rejected with their path, at every level', () => {
  const ps = problems(Experiment, { teleport: { foo: 1 }, bogus: true, model: { dims: [2, 2], activation: { slope: 1 } } });
  assert.ok(ps.some((p) => p.startsWith('teleport.foo: unknown key')), ps.join('\n'));
  assert.ok(ps.some((p) => p.startsWith('bogus: unknown key')), ps.join('\n'));
  assert.ok(ps.some((p) => p.startsWith('model.activation.slope: unknown key')), ps.join('\n'));
  assert.equal(ps.length, 3);
});

test('every problem is listed with path, expectation and the value found', () => {
  const ps = problems(Experiment, {
    backend: 'gpu',
    seed: 1.5,
    meta: { unroll: -3, lr: 0 },
    teleport: { objective: 'loss', prob: 1.5, note: 7 },
    optimizer: { name: 'adamw' },
    model: { dims: [3, 0, 'a'], activation: { leakyReluSlope: 2 }, loss: 'hinge' },
  });
  assert.deepEqual(ps, [
    'backend: expected one of "auto" | "wasm" | "cpu" | "tensorflow" | "tensorflow-gpu", got "gpu"',
    'seed: expected a non-negative integer, got 1.5',
    'meta.unroll: expected a positive integer, got -3',
    'meta.lr: expected a positive number, got 0',
    'teleport.objective: expected one of "gradNorm" | "adagradNorm" | "sharpness" | "curvature", got "loss"',
    'teleport.prob: expected a probability (a number in [0, 1]), got 1.5',
    'teleport.note: expected a string, got 7',
    'optimizer.name: expected one of "sgd" | "momentum", got "adamw"',
    'model.dims[1]: expected a positive integer, got 0',
    'model.dims[2]: expected a positive integer, got "a"',
    'model.activation.leakyReluSlope: expected a number in (0, 1], got 2',
    'model.loss: expected one of "mse" | "ce", got "hinge"',
  ]);
});

test('wrong shapes, missing required fields and short arrays are reported', () => {
  assert.deepEqual(problems(Experiment, 5), ['(root): expected an object, got 5']);
  assert.deepEqual(problems(Experiment, { meta: [1] }), ['meta: expected an object, got [1]']);
  assert.deepEqual(problems(MlpSpec, {}), ['dims: expected an array of at least 2 positive integers, got nothing (missing)']);
  assert.deepEqual(problems(MlpSpec, { dims: [3] }), ['dims: expected an array of at least 2 positive integers, got [3]']);
  assert.deepEqual(problems(Optimizer, { name: 'momentum', beta: 2 }), ['beta: expected a probability (a number in [0, 1]), got 2']);
  assert.deepEqual(problems(Optimizer, { name: 'sgd', beta: 0.5 }), ['beta: unknown key (allowed: name, lr)']);
});

test('plain io-ts unions are reported once, at the union', () => {
  const C = strict({ x: t.union([t.number, t.string]) });
  assert.deepEqual(problems(C, { x: true }), ['x: expected a number or a string, got true']);
});

test('refined numbers', () => {
  const ok = <A, O>(c: t.Type<A, O, unknown>, v: unknown) => E.isRight(c.decode(v));
  assert.ok(ok(PositiveInt, 3) && !ok(PositiveInt, 0) && !ok(PositiveInt, 1.5) && !ok(PositiveInt, '3'));
  assert.ok(ok(NonNegativeInt, 0) && !ok(NonNegativeInt, -1));
  assert.ok(ok(PositiveNumber, 0.1) && !ok(PositiveNumber, 0) && !ok(PositiveNumber, Infinity));
  assert.ok(ok(NonNegativeNumber, 0) && !ok(NonNegativeNumber, -0.1) && !ok(NonNegativeNumber, NaN));
  assert.ok(ok(Probability, 0) && ok(Probability, 1) && !ok(Probability, 1.01));
  assert.ok(ok(Finite, -5) && !ok(Finite, NaN) && !ok(Finite, -Infinity));
  const slope = numberIn({ gt: 0, le: 1 });
  assert.ok(ok(slope, 1) && !ok(slope, 0) && ok(slope, 0.1));
  assert.ok(ok(oneOf(['a', 'b']), 'a') && !ok(oneOf(['a', 'b']), 'toString'));
});

test('deepMerge ignores undefined overrides (unset flags)', () => {
  assert.deepEqual(deepMerge({ a: { b: 1, c: 2 } }, { a: { b: undefined, c: 3 }, d: undefined }), { a: { b: 1, c: 3 } });
  assert.deepEqual(deepMerge({}, { a: { b: undefined, c: 1 } }), { a: { c: 1 } });
  assert.deepEqual(deepMerge({ a: 1 }, [2]), [2]);
});

test('dotted assignments become nested overrides', () => {
  const r = overridesFromAssignments(['meta.unroll=20', 'model.dims=[2,3]', 'teleport.objective=sharpness']);
  assert.deepEqual(E.getOrElseW(() => null)(r), {
    meta: { unroll: 20 },
    model: { dims: [2, 3] },
    teleport: { objective: 'sharpness' },
  });
  assert.ok(E.isLeft(overridesFromAssignments(['noequals'])));
});

test('config files: decoded, and missing files or invalid JSON name the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-config-'));
  try {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ meta: { unroll: 5 } }));
    const r = await loadConfigFile(Experiment, good)();
    assert.ok(E.isRight(r));
    assert.equal(r.right.meta.unroll, 5);

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ meta: { unroll: -3 } }));
    const rb = await loadConfigFile(Experiment, bad)();
    assert.ok(E.isLeft(rb));
    assert.equal(rb.left.source, bad);
    assert.deepEqual(rb.left.problems, ['meta.unroll: expected a positive integer, got -3']);
    assert.match(rb.left.message, /bad\.json/);

    const overridden = await loadConfigFile(Experiment, bad, { meta: { unroll: 7 } })();
    assert.ok(E.isRight(overridden));

    const missing = join(dir, 'missing.json');
    const rm1 = await loadConfigFile(Experiment, missing)();
    assert.ok(E.isLeft(rm1));
    assert.match(rm1.left.problems.join('\n'), /missing\.json.*no such file/);

    const invalid = join(dir, 'invalid.json');
    await writeFile(invalid, '{ "meta": ');
    const ri = await loadConfigFile(Experiment, invalid)();
    assert.ok(E.isLeft(ri));
    assert.match(ri.left.problems.join('\n'), /invalid JSON in config file .*invalid\.json/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the shared codecs are registered', () => {
  assert.equal(getConfig('mlp')?.codec, MlpSpec);
});
