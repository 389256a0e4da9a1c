// The experiments of "teleportation inside standard optimizers": config validation (exit 2
// before anything runs), tiny end-to-end runs writing JSON and plots, determinism, the
// group-lr search, and `symtele data fetch cifar10` without network.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { decodeOrThrow, deepMerge } from '../../src/config/codec.js';
import { IntegrationConfig, MnistConfig } from '../../src/studies/optimizers/config.js';
import { runIntegration, writeIntegrationReport, largestStable } from '../../src/studies/optimizers/integration.js';
import { runOptimizersMnist } from '../../src/studies/optimizers/mnist.js';
import { writeMnistReport } from '../../src/studies/optimizers/mnist-report.js';
import { loadDataset } from '../../src/data/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'symtele-optim-'));

function symtele(args: string[]) {
  const env = { ...process.env };
  delete env.SYMTELE_BACKEND;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  await initBackend('wasm');
});

test('invalid presets and configs exit 2 before anything runs or is written', () => {
  const out = path.join(tmp, 'never');
  const bad = path.join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ epochs: 0, bogus: 1 }));
  for (const exp of ['optimizers-mnist', 'teleport-integration']) {
    const p = symtele(['run', exp, '--preset', 'huge', '--out', out]);
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stderr, new RegExp(`--preset.*\\n.*unknown preset "huge" for ${exp}: expected the file .*${exp}-huge\\.json; presets: quick, full`));
    const c = symtele(['run', exp, '--config', bad, '--out', out]);
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /epochs: expected a positive integer, got 0/);
    assert.match(c.stderr, /bogus: unknown key/);
  }
  assert.ok(!existsSync(out));
});

test('run teleport-integration without --preset runs the quick preset, and says "all" when every repeat diverged', () => {
  const out = path.join(tmp, 'default-preset');
  const r = symtele(['run', 'teleport-integration', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as { config: { repeats: number; epochs: number } };
  assert.deepEqual([res.config.repeats, res.config.epochs], [3, 25]); // quick, not the full 5 × 40
  // the paper's group lrs diverge in every repeat: labelled so, in the log and the table
  assert.match(r.stderr, /momentum \/ keep momentum: final loss NaN ± NaN \(0\/3 finite\) \(diverged in all 3 repeats \(non-finite from epoch \d+\)\)/);
  assert.match(r.stdout, /\| keep momentum \|.*\| diverged in all 3 repeats/);
  assert.ok(!/some repeats/.test(r.stderr + r.stdout));
  // the plot names the diverged arm in its legend
  assert.match(readFileSync(path.join(out, 'fig12-momentum.svg'), 'utf8'), />keep momentum: diverged in all 3 repeats, from epoch \d+</);
});

const experimentFile = (name: string): unknown => JSON.parse(readFileSync(path.join(ROOT, 'experiments', `${name}.json`), 'utf8'));

test('the shipped configs decode alone and over both presets; the full presets are the defaults', () => {
  for (const p of [undefined, 'quick', 'full']) {
    const preset = p === undefined ? {} : experimentFile(`optimizers-mnist-${p}`);
    for (const f of ['fig5-paper', 'fig5-reference']) decodeOrThrow(MnistConfig, deepMerge(preset, experimentFile(f)));
    const ip = p === undefined ? {} : experimentFile(`teleport-integration-${p}`);
    decodeOrThrow(IntegrationConfig, deepMerge(ip, experimentFile('fig12-integration')));
  }
  const full = decodeOrThrow(MnistConfig, {});
  assert.deepEqual(decodeOrThrow(MnistConfig, experimentFile('optimizers-mnist-full')), full);
  assert.deepEqual(decodeOrThrow(IntegrationConfig, experimentFile('teleport-integration-full')), decodeOrThrow(IntegrationConfig, {}));
  const quick = decodeOrThrow(MnistConfig, experimentFile('optimizers-mnist-quick'));
  assert.deepEqual([quick.data.trainSize, quick.data.testSize, quick.epochs, quick.runs, quick.out], [5000, 2000, 5, 2, 'logs/optimizers-mnist-quick']);
  const iq = decodeOrThrow(IntegrationConfig, experimentFile('teleport-integration-quick'));
  assert.deepEqual([iq.repeats, iq.epochs, iq.out], [3, 25, 'logs/teleport-integration-quick']);
  assert.deepEqual([full.data.trainSize, full.epochs, full.runs, full.batchSize], [50_000, 40, 5, 20]);
  // the reference code's optimizer rates; Appendix G.2's numbers are its group (teleport) rates
  assert.deepEqual(full.optimizers.map((o) => [o.optimizer.name, o.optimizer.lr, o.teleport.settings.lr]), [
    ['adagrad', 1e-2, 1e-4],
    ['momentum', 1e-3, 5e-2],
    ['rmsprop', 1e-4, 5e-2],
    ['adam', 1e-4, 5e-2],
  ]);
});

test('largestStable finds the largest two-significant-figure value', () => {
  assert.equal(largestStable((v) => v <= 3.74e-5, 1.2e-5), 3.7e-5);
  assert.equal(largestStable((v) => v <= 6.6e-5, 7.5e-3), 6.6e-5);
  assert.equal(largestStable(() => false, 1, { min: 1e-6 }), undefined);
});

const integrationConfig = (out: string) =>
  decodeOrThrow(IntegrationConfig, {
    out,
    repeats: 2,
    epochs: 8,
    teleportAt: 3,
    tuneGroupLr: false,
    panels: [
      {
        name: 'momentum',
        optimizer: { name: 'momentum', lr: 1e-5 },
        variants: [{ label: 'none' }, { label: 'transport', teleport: { objective: 'gradNorm', steps: 3, lr: 1e-9 }, state: 'transport' }],
      },
      {
        name: 'adagrad',
        optimizer: { name: 'adagrad', lr: 0.1 },
        variants: [{ label: 'A', teleport: { objective: 'adagradNorm', steps: 3, lr: 1e-5 }, state: 'keep' }],
      },
    ],
  });

test('teleport-integration: a tiny run writes JSON, summary, plots and TensorBoard; same seed, same numbers', async () => {
  const before = tf.memory().numTensors;
  const out = path.join(tmp, 'integration');
  const cfg = integrationConfig(out);
  const a = runIntegration(cfg);
  const b = runIntegration(cfg);
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  const losses = (r: typeof a) => r.panels.flatMap((p) => p.variants.flatMap((v) => v.runs.map((q) => q.loss)));
  assert.deepEqual(losses(a), losses(b));
  const tele = a.panels[0]!.variants[1]!.runs[0]!;
  assert.equal(tele.loss.length, 9);
  assert.ok(tele.teleport && tele.teleport.atStep === 3 && !tele.diverged, JSON.stringify(tele));
  assert.ok(Math.abs(tele.teleport.lossAfter - tele.teleport.lossBefore) < 1e-3 * tele.teleport.lossBefore, 'the teleport keeps the loss');
  await writeIntegrationReport(a, out);
  for (const f of ['results.json', 'summary.md', 'fig12-momentum.png', 'fig12-momentum.svg', 'fig12-adagrad.png']) assert.ok(existsSync(path.join(out, f)), f);
  assert.ok(existsSync(path.join(out, 'tb', 'momentum', 'transport', 'repeat1')));
  const json = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.equal(json.panels[0].variants[0].runs[1].loss[8], a.panels[0]!.variants[0]!.runs[1]!.loss[8]);
});

test('optimizers-mnist: a tiny run writes JSON, summaries, Fig. 5 / 13 and paired-difference plots', async () => {
  const out = path.join(tmp, 'mnist');
  const cfg = decodeOrThrow(MnistConfig, {
    out,
    tableEpochs: [1],
    data: { trainSize: 200, testSize: 100 },
    dims: [784, 6, 5, 10],
    epochs: 2,
    runs: 2,
    arms: ['none', 'teleport-reset', 'reset'],
    optimizers: [{ optimizer: { name: 'adam', lr: 1e-3 }, teleport: { count: 2, batchSize: 50, settings: { steps: 2 } } }],
  });
  const ds = loadDataset('mnist', { seed: cfg.seed, trainSize: 200, validationSize: 0, testSize: 100 });
  const a = runOptimizersMnist(cfg, ds);
  assert.deepEqual(a.optimizers[0]!.arms.map((arm) => arm.arm), ['none', 'teleport-reset', 'reset']);
  const tele = a.optimizers[0]!.arms[1]!;
  assert.equal(tele.runs[0]!.teleports.length, 2);
  assert.ok(tele.runs.every((r) => r.teleportSeconds > 0));
  await writeMnistReport(a, out);
  for (const f of ['results.json', 'summary.md', 'summary.json', 'fig5-mnist-adam-lr-0.001.png', 'fig13-mnist-adam-lr-0.001.svg', 'diff-mnist-adam-lr-0.001.png']) {
    assert.ok(existsSync(path.join(out, f)), f);
  }
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(summary.optimizers[0].comparisons.map((c: { a: string; b: string }) => `${c.a}-${c.b}`).slice(0, 4), [
    'teleport-reset-none', 'teleport-reset-none', 'reset-none', 'reset-none',
  ]);
});

test('data fetch cifar10 without network: exit 1 with what to do', () => {
  const r = symtele(['data', 'fetch', 'cifar10', '--dir', path.join(tmp, 'c10'), '--url', 'http://127.0.0.1:9/cifar-10-binary.tar.gz']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /download of http:\/\/127\.0\.0\.1:9\/cifar-10-binary\.tar\.gz failed/);
  assert.match(r.stderr, /No network\? .*\n.*symtele data fetch cifar10 --archive/);
  const missing = symtele(['data', 'fetch', 'cifar10', '--dir', path.join(tmp, 'c10'), '--archive', path.join(tmp, 'none.tar.gz')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read archive .*none\.tar\.gz: ENOENT/);
});
