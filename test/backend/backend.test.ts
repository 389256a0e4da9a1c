// Backend choice: `auto` from the measured speed table, the bench's table generator, and the
// default when nothing is asked for.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend, measuredSpeedup, MARGIN } from '../../src/backend/auto.js';
import { SPEED_TABLE, type SpeedTable } from '../../src/backend/speed-table.js';
import { initBackend, installedBackends, resolveBackendName, BackendError } from '../../src/backend/index.js';
import { speedTableOf } from '../../src/bench/speed-table.js';
import { backendChange, checkResumeBackend } from '../../src/backend/resume-check.js';

const TABLE: SpeedTable = {
  source: 'test',
  speedup: { tensorflow: { metaTrain: { '1': 0.4, '16': 1.6, '64': 2.5 }, gdStep: 0.2, classifierEpoch: { '1': 1.1, '25': 2.4 } } },
};

test('auto picks a native backend only where it measured at least MARGIN times wasm', () => {
  const both = ['wasm', 'tensorflow'] as const;
  assert.equal(chooseBackend(both, { kind: 'metaTrain', batch: 16 }, TABLE), 'tensorflow');
  assert.equal(chooseBackend(both, { kind: 'metaTrain', batch: 1 }, TABLE), 'wasm');
  assert.equal(chooseBackend(both, { kind: 'gdStep' }, TABLE), 'wasm');
  assert.ok(1.1 < MARGIN);
  assert.equal(chooseBackend(both, { kind: 'classifierEpoch' }, TABLE), 'wasm', 'a speed-up within the margin stays on wasm');
  assert.equal(chooseBackend(both, { kind: 'classifierEpoch', batch: 10 }, TABLE), 'wasm', 'a lockstep of 10 takes the 1-model figure');
  assert.equal(chooseBackend(both, { kind: 'classifierEpoch', batch: 25 }, TABLE), 'tensorflow', 'a lockstep of 25 models');
  assert.equal(chooseBackend(both, { kind: 'teleport' }, TABLE), 'wasm', 'not measured: wasm');
  assert.equal(chooseBackend(both, undefined, TABLE), 'wasm', 'no job: wasm');
  assert.equal(chooseBackend(['wasm'] as const, { kind: 'metaTrain', batch: 64 }, TABLE), 'wasm', 'not installed: wasm');
});

test('meta-training batches between measured ones take the largest measured batch not above them', () => {
  assert.equal(measuredSpeedup('tensorflow', { kind: 'metaTrain', batch: 8 }, TABLE), 0.4);
  assert.equal(measuredSpeedup('tensorflow', { kind: 'metaTrain', batch: 32 }, TABLE), 1.6);
  assert.equal(measuredSpeedup('tensorflow', { kind: 'metaTrain', batch: 500 }, TABLE), 2.5);
  const sparse: SpeedTable = { source: 't', speedup: { tensorflow: { metaTrain: { '16': 3 } } } };
  assert.equal(measuredSpeedup('tensorflow', { kind: 'metaTrain', batch: 4 }, sparse), undefined, 'below every measured batch: no figure');
  assert.equal(chooseBackend(['wasm', 'tensorflow'], { kind: 'metaTrain', batch: 4 }, sparse), 'wasm');
});

test('the committed speed table holds positive speed-ups and says where they came from', () => {
  assert.ok(SPEED_TABLE.source.length > 0);
  for (const row of Object.values(SPEED_TABLE.speedup)) {
    for (const v of Object.values(row)) {
      for (const x of typeof v === 'number' ? [v] : Object.values(v ?? {})) assert.ok(Number.isFinite(x) && x > 0, `${x}`);
    }
  }
});

test('the bench turns figures into speed-ups: throughputs divide native / wasm, times wasm / native', () => {
  const fig = (tps: number, gd: number, step: number, tele: number) => ({
    meta: { metaTrainTrajectoriesPerSecondByBatch: { 'LSTM(update,tele)': { '1': tps, '16': 2 * tps } }, gdStepMs: gd },
    optim: { lockstepByModels: { '1': { stepMs: step, stepCpuMs: step }, '25': { stepMs: 4 * step, stepCpuMs: 8 * step } }, teleportPaperSeconds: tele },
  });
  const t = speedTableOf({ wasm: fig(1, 0.1, 10, 4), tensorflow: fig(0.5, 0.4, 5, 2), cpu: fig(0.1, 1, 100, 40) }, { date: 'd', node: 'v' });
  assert.deepEqual(t.speedup, { tensorflow: { metaTrain: { '1': 0.5, '16': 0.5 }, gdStep: 0.25, classifierEpoch: { '1': 2, '25': 2 }, teleport: 2 } });
  assert.throws(() => speedTableOf({ tensorflow: fig(1, 1, 1, 1) }, { date: 'd', node: 'v' }), /wasm/);
});

test('the default backend is auto (wasm for a job without figures); unknown names are errors', async () => {
  const saved = process.env.SYMTELE_BACKEND;
  try {
    delete process.env.SYMTELE_BACKEND;
    assert.equal(resolveBackendName(), 'auto');
    process.env.SYMTELE_BACKEND = '';
    assert.equal(resolveBackendName(), 'auto');
    process.env.SYMTELE_BACKEND = 'cpu';
    assert.equal(resolveBackendName(), 'cpu');
    assert.equal(resolveBackendName('wasm'), 'wasm');
    assert.throws(() => resolveBackendName('gpu'), (e: unknown) => e instanceof BackendError && /auto, wasm, cpu/.test((e as Error).message));
  } finally {
    if (saved === undefined) delete process.env.SYMTELE_BACKEND;
    else process.env.SYMTELE_BACKEND = saved;
  }
  assert.deepEqual(installedBackends().slice(0, 2), ['wasm', 'cpu']);
  assert.equal(await initBackend('auto'), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('a checkpoint from another backend is a change to report; the same backend, or none recorded, is not', async () => {
  await initBackend('wasm');
  assert.equal(backendChange('wasm'), undefined);
  assert.equal(backendChange(undefined), undefined, 'checkpoints from before backends were recorded resume as before');
  assert.match(backendChange('tensorflow') ?? '', /written on the tensorflow backend and this run is on wasm/);
  assert.throws(() => checkResumeBackend('run.bin', 'cpu'), /^Error: run\.bin: cannot resume: .*--backend cpu/);
});

// Each native backend in a process of its own: both packages register tfjs's "tensorflow"
// backend, so one process can load only one of them.
for (const name of ['tensorflow', 'tensorflow-gpu'] as const) {
  const other = name === 'tensorflow' ? 'tensorflow-gpu' : 'tensorflow';
  test(`${name} runs under its own name, which checkpoints record; a second native package is refused`, (t) => {
    if (!installedBackends().includes(name)) return t.skip(`${name} is not built (npm run setup:native${name === 'tensorflow-gpu' ? ' -- --gpu' : ''})`);
    const src = new URL('../../src/backend/', import.meta.url).href;
    const script = `
      const { initBackend, currentBackend, installedBackends } = await import('${src}index.ts');
      const { checkpointBackend, checkResumeBackend } = await import('${src}resume-check.ts');
      const tf = await import('@tensorflow/tfjs');
      const out = { init: await initBackend('${name}'), current: currentBackend(), checkpoint: checkpointBackend(), tfjs: tf.getBackend() };
      out.product = Array.from(tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]])).dataSync());
      try { checkResumeBackend('run.bin', '${other}'); out.resume = 'accepted'; } catch (e) { out.resume = e.message; }
      if (installedBackends().includes('${other}')) {
        try { await initBackend('${other}'); out.second = 'loaded'; } catch (e) { out.second = e.message; }
      }
      console.log(JSON.stringify(out));
    `;
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(r.init, name);
    assert.equal(r.current, name);
    assert.equal(r.checkpoint, name);
    assert.equal(r.tfjs, 'tensorflow', "tfjs's own name of both native backends");
    assert.deepEqual(r.product, [17, 39]);
    assert.match(r.resume, new RegExp(`written on the ${other} backend and this run is on ${name}.*--backend ${other}`));
    if (r.second !== undefined) assert.match(r.second, /one process runs only one of them/);
  });
}
