import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { configLayers, listPresets, loadPresetConfigOrExit, RUN_DEFAULT_PRESET } from '../../src/cli/experiments/_preset.js';
import { MnistConfig } from '../../src/studies/optimizers/config.js';
import { assertIncludesAll, ROOT, symtele } from '../helpers/cli.js';
import { FAULT_SINGLE } from '../../src/faults/configs.js';

test('--help lists the commands and global options', async () => {
  const r = await symtele(['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['Usage: symtele', '--backend', '--seed', 'info', 'main', 'config']) assert.ok(r.stdout.includes(s), s);
  const sub = await symtele(['config', 'check', '--help']);
  assert.equal(sub.code, 0, sub.stderr);
  assert.match(sub.stdout, /--kind <name>/);
});

test('info --backend cpu prints the backend and the tfjs version', async () => {
  const r = await symtele(['info', '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^backend\s+cpu$/m);
  assert.match(r.stdout, /^tfjs\s+4\.22\.\d+$/m);
  assert.match(r.stdout, /^symtele\s+\d+\.\d+\.\d+/m);
  // the chosen backend is announced once on stderr
  assert.equal(r.stderr.match(/backend: cpu/g)?.length, 1, r.stderr);
});

test('SYMTELE_BACKEND chooses the backend when no flag is given', async () => {
  const r = await symtele(['info', '--json'], { SYMTELE_BACKEND: 'cpu' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).backend, 'cpu');
});

test('a missing optional backend fails with exit 1 and the install command', async () => {
  // an empty native folder: where setup:native has built it, the package is there
  const empty = await mkdtemp(join(tmpdir(), 'symtele-native-'));
  const r = await symtele(['info', '--backend', 'tensorflow-gpu'], { SYMTELE_NATIVE_DIR: empty });
  await rm(empty, { recursive: true, force: true });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^symtele: /);
  assert.ok(r.stderr.includes('npm install @tensorflow/tfjs-node-gpu'), r.stderr);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace without SYMTELE_DEBUG=1');
});

test('main (npm start) with an invalid config exits 2 and lists the problems before running', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ metaSeeds: [], heldout: { trajectories: -3 }, extra: 1 }));
    const r = await symtele(['main', '--config', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /metaSeeds/);
    assert.match(r.stderr, /heldout\.trajectories: expected a positive integer, got -3/);
    assert.match(r.stderr, /extra: unknown key/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('config check: invalid config exits 2, lists every problem, writes nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ dims: [2, 0], activation: { leakyReluSlope: 2, foo: 1 }, loss: 'hinge' }));
    const out = join(dir, 'out', 'complete.json');
    const r = await symtele(['config', 'check', bad, '--kind', 'mlp', '--write', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes('bad.json'), r.stderr);
    assertIncludesAll(r.stderr, [
      'dims[1]: expected a positive integer, got 0',
      'activation.leakyReluSlope: expected a number in (0, 1], got 2',
      'activation.foo: unknown key',
      'loss: expected one of "mse" | "ce", got "hinge"',
    ]);
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(join(dir, 'out')), 'nothing written');

    // a valid one (with an override) prints and writes the complete config
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ dims: [3, 2] }));
    const ok = await symtele(['config', 'check', good, '--kind', 'mlp', '--set', 'loss="ce"', '--write', out]);
    assert.equal(ok.code, 0, ok.stderr);
    const expected = { dims: [3, 2], activation: { leakyReluSlope: 0.1 }, loss: 'ce' };
    assert.deepEqual(JSON.parse(ok.stdout), expected);
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), expected);

    // a missing file exits 2 and names it
    const missing = await symtele(['config', 'check', join(dir, 'nope.json'), '--kind', 'mlp']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run correlation refuses an output folder with a group in training unless --resume, before any work', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-corr-'));
  try {
    await mkdir(join(dir, 'group.lockstep'));
    const r = await symtele(['run', 'correlation', '--out', dir, '--backend', 'wasm']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /group\.lockstep holds a group of models in training: pass --resume/);
    assert.equal(existsSync(join(dir, 'models')), false, 'nothing was trained');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run <experiment> --preset: an unknown preset exits 2 naming it, the file expected and the presets there are', async () => {
  const r = await symtele(['run', 'correlation', '--preset', 'huge', '--out', join(tmpdir(), 'symtele-never')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /unknown preset "huge" for correlation: expected the file .*experiments[\\/]correlation-huge\.json; presets: quick, medium, large, full/);
  assert.equal(r.stdout, '');
  for (const e of ['optimizers-mnist', 'teleport-integration', 'correlation', 'teleport-generalization']) {
    assert.ok(listPresets(e).includes('quick') && listPresets(e).includes('full'), e);
  }
});

test('every run command defaults to its quick preset; the full one runs only when named', async () => {
  const withPresets = ['optimizers-mnist', 'teleport-integration', 'correlation', 'teleport-generalization'];
  for (const e of withPresets) {
    assert.deepEqual(configLayers(e, RUN_DEFAULT_PRESET, {}), E.right([join(ROOT, 'experiments', `${e}-quick.json`)]), e);
    const help = await symtele(['run', e, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout.replace(/\s+/g, ' '), /default: quick; quick: minutes; full only when named \(--preset full/, e);
  }
});

test('config defaults shows the optional fields the defaults leave out, with what their absence means', async () => {
  const r = await symtele(['config', 'defaults', 'dataset']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { name: 'mnist', trainSize: 50000 }); // still a valid config
  assert.match(r.stderr, /optional fields, absent above/);
  assert.match(r.stderr, /^ {2}dir: a non-empty path; absent: the dataset's own place: .*cifar10, \$SYMTELE_DATA\/cifar10, else data\/cifar10/m);
  assert.match(r.stderr, /^ {2}validationSize: a non-negative integer; absent: the rest of the training set$/m);
  assert.match(r.stderr, /^ {2}testSize: a non-negative integer; absent: the whole test set$/m);
  // nested: the same fields inside another kind's dataset, by their dotted path
  const c = await symtele(['config', 'defaults', 'correlation']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /^ {2}dataset\.dir: a string; absent: the dataset's own place/m);
});

test('presets are layered: defaults, then the preset file, then --config, then flags', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const f = join(dir, 'epochs.json');
    await writeFile(f, JSON.stringify({ epochs: 3 }));
    const quick = join(ROOT, 'experiments', 'optimizers-mnist-quick.json');
    // which files, in order
    assert.deepEqual(configLayers('optimizers-mnist', 'full', {}), E.right([join(ROOT, 'experiments', 'optimizers-mnist-full.json')]));
    assert.deepEqual(configLayers('optimizers-mnist', 'full', { config: f }), E.right([f]));
    assert.deepEqual(configLayers('optimizers-mnist', 'full', { preset: 'quick', config: f }), E.right([quick, f]));
    assert.ok(E.isLeft(configLayers('optimizers-mnist', 'full', { preset: 'huge' })));
    // --preset quick --config F: the quick preset's values plus F's override, then flags
    const layered = await loadPresetConfigOrExit(MnistConfig, 'optimizers-mnist', 'full', { preset: 'quick', config: f }, { runs: 4, out: undefined });
    const q = JSON.parse(await readFile(quick, 'utf8')) as { epochs: number; runs: number; out: string; data: { trainSize: number; testSize: number } };
    assert.equal(layered.epochs, 3);
    assert.notEqual(q.epochs, 3);
    assert.equal(layered.runs, 4);
    assert.deepEqual([layered.out, layered.data.trainSize, layered.data.testSize], [q.out, q.data.trainSize, q.data.testSize]);
    // --config F alone: F over the defaults (the paper)
    const alone = await loadPresetConfigOrExit(MnistConfig, 'optimizers-mnist', 'full', { config: f });
    assert.deepEqual(alone, { ...(await loadPresetConfigOrExit(MnistConfig, 'optimizers-mnist', 'full', {})), epochs: 3 });
    assert.equal(alone.data.trainSize, 50_000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A small meta experiment (the crash soak's) writing under `dir`. */
const smallMeta = (dir: string, extra: Record<string, unknown> = {}) => ({ ...FAULT_SINGLE, logdir: join(dir, 'logs'), checkpointDir: join(dir, 'ckpt'), ...extra });

test('meta train --json naming its own --config is refused before any work (the results would overwrite the config)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const f = join(dir, 'c.json');
    const text = JSON.stringify(smallMeta(dir));
    await writeFile(f, text);
    const r = await symtele(['meta', 'train', '--config', f, '--json', f, '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--json: \S+c\.json is an input config: the output would overwrite it/);
    assert.equal(await readFile(f, 'utf8'), text, 'the config is untouched');
    assert.equal(existsSync(join(dir, 'ckpt')), false, 'nothing ran');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--seed applies to meta train: the held-out problems use it and study.json records it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const f = join(dir, 'c.json');
    await writeFile(f, JSON.stringify(smallMeta(dir)));
    const r = await symtele(['--seed', '7', 'meta', 'train', '--config', f, '--quiet'], { SYMTELE_BACKEND: 'wasm' });
    assert.equal(r.code, 0, r.stderr);
    const study = JSON.parse(await readFile(join(dir, 'ckpt', 'study.json'), 'utf8')) as { config: { seed: number } };
    assert.equal(study.config.seed, 7);
    const results = JSON.parse(await readFile(join(dir, 'logs', 'results.json'), 'utf8')) as { heldout: { seed: number } };
    assert.equal(results.heldout.seed, 7);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a logdir on a kernel file system (/proc) is refused in preflight naming the field; no lock is left', { skip: !existsSync('/proc/self') }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const f = join(dir, 'c.json');
    await writeFile(f, JSON.stringify(smallMeta(dir, { logdir: '/proc/symtele-logs' })));
    const r = await symtele(['meta', 'train', '--config', f, '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /logdir: \/proc\/symtele-logs cannot be created, \/proc is on a proc file system/);
    assert.equal(existsSync(join(dir, 'ckpt', '.lock')), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('teleport with model.dims too large for memory is refused before any work, naming model.dims', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'symtele-cli-'));
  try {
    const f = join(dir, 'c.json');
    await writeFile(f, JSON.stringify({ out: join(dir, 'out'), model: { dims: [100000, 100000, 100000] } }));
    const r = await symtele(['teleport', '--config', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /model\.dims: \[100000,100000,100000\] with 20 samples, an estimated [\d.]+ GiB of memory, above the .*: weights 2\.00e\+10 x 6 copies/);
    assert.match(r.stderr, /model\.dims: a 1\.00e\+10-entry matrix/);
    assert.equal(existsSync(join(dir, 'out')), false, 'nothing written');
    // the default sizes pass, with their estimate
    await writeFile(f, JSON.stringify({ out: join(dir, 'out') }));
    const ok = await symtele(['config', 'check', f, '--kind', 'teleport']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout + ok.stderr, /weights 8\.00e\+2 x 6 copies/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('info says tensorflow is not installed (not its measured speed) when it is not', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'symtele-native-'));
  try {
    const r = await symtele(['info', '--backend', 'cpu'], { SYMTELE_NATIVE_DIR: empty });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^auto: .*\s+wasm \(tensorflow is not installed/m);
    assert.doesNotMatch(r.stdout, /needs x/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});
