// What symtele's optimizers-mnist run feeds each model id, written out for another
// implementation (scripts/reference_fig5_authors.py) to train on exactly the same inputs:
// the training and test splits (float32 pixels in [0, 1], int32 labels), per model id the
// initial weights, the mini-batch order of every epoch and the samples of every teleport batch.
// With --check-steps K it also trains model 0 for K plain steps with one of the config's
// optimizers (--check-optimizer NAME, default the first; no teleport) and records the
// mini-batch losses, the agreement check.
//
//   npx tsx scripts/export-fig5-setup.ts --preset full --runs 10 --epochs 40 --out SETUP [--config file] [--check-steps 20 --check-optimizer momentum]
//
// Files (little-endian, row-major; read with numpy.fromfile):
//   manifest.json             the config and the shapes of everything below
//   train_x.f32, train_y.i32  [n, d], [n]        the training split, in the split's order
//   test_x.f32, test_y.i32    [m, d], [m]
//   init_<id>.f32             the layers [d1, d0], [d2, d1], ... one after the other
//   order_<id>.i32            [epochs, n]: row e lists the training rows of epoch e's batches in order
//   teleport_<id>.i32         [count, batchSize]: the rows of teleport k's batch
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { loadDataset } from '../src/data/index.js';
import { gatherColumns } from '../src/data/batches.js';
import { stream } from '../src/rng/index.js';
import { initWeights, stackWeights } from '../src/nn/batched.js';
import { classificationLossAndGrads } from '../src/nn/mlp.js';
import { optimizer } from '../src/optim/index.js';
import { MnistConfig } from '../src/studies/optimizers/config.js';
import { loadPresetConfigOrExit, RUN_DEFAULT_PRESET } from '../src/cli/experiments/_preset.js';

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string' },
    config: { type: 'string' },
    runs: { type: 'string' },
    epochs: { type: 'string' },
    out: { type: 'string' },
    'check-steps': { type: 'string', default: '0' },
    'check-optimizer': { type: 'string' },
  },
});
if (!a.out) throw new Error('--out <dir> is required');
const cfg = await loadPresetConfigOrExit(MnistConfig, 'optimizers-mnist', RUN_DEFAULT_PRESET, { preset: a.preset, config: a.config });
const runs = Number(a.runs ?? cfg.runs);
const epochs = Number(a.epochs ?? cfg.epochs);
const out = a.out;
mkdirSync(out, { recursive: true });

const { dir, trainSize, validationSize, testSize } = cfg.data;
const ds = loadDataset(cfg.data.name, { dir, seed: cfg.seed, trainSize, validationSize, testSize });
const write = (name: string, a: Float32Array | Int32Array) => writeFileSync(path.join(out, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
write('train_x.f32', ds.train.x);
write('train_y.i32', ds.train.y);
write('test_x.f32', ds.test.x);
write('test_y.i32', ds.test.y);

// the teleport batches of every optimizer's schedule: stream(seed, 'teleport-data', id, k), first batchSize rows (mnist.ts teleportBatches)
const count = Math.max(...cfg.optimizers.map((o) => o.teleport.count));
const teleBatch = Math.max(...cfg.optimizers.map((o) => o.teleport.batchSize));
const n = ds.train.n;
for (let id = 0; id < runs; id++) {
  const ws = initWeights(cfg.dims, cfg.seed, id);
  const flat = new Float32Array(ws.reduce((s, w) => s + w.length, 0));
  ws.reduce((off, w) => (flat.set(w, off), off + w.length), 0);
  write(`init_${id}.f32`, flat);
  // the classifier loop's per-model order: stream(seed, 'model', id, 'order', epoch).permutation(n)
  const order = new Int32Array(epochs * n);
  for (let e = 0; e < epochs; e++) order.set(stream(cfg.seed, 'model', id, 'order', e).permutation(n), e * n);
  write(`order_${id}.i32`, order);
  const tele = new Int32Array(count * teleBatch);
  for (let k = 0; k < count; k++) tele.set(stream(cfg.seed, 'teleport-data', id, k).permutation(n).subarray(0, teleBatch), k * teleBatch);
  write(`teleport_${id}.i32`, tele);
}

// the agreement check: model 0, the first optimizer, K plain steps on the exported batches
const checkSteps = Number(a['check-steps']);
let check: { optimizer: unknown; model: number; batchLoss: number[] } | undefined;
if (checkSteps > 0) {
  await initBackend(cfg.backend ?? 'wasm');
  const name = a['check-optimizer'] ?? cfg.optimizers[0]!.optimizer.name;
  const o = cfg.optimizers.find((q) => q.optimizer.name === name)?.optimizer;
  if (!o) throw new Error(`--check-optimizer ${name}: the config has ${cfg.optimizers.map((q) => q.optimizer.name).join(', ')}`);
  const opt = optimizer(o);
  let params: tf.Tensor[] = stackWeights(cfg.dims, [initWeights(cfg.dims, cfg.seed, 0)]);
  let state = opt.init(params);
  const perm = stream(cfg.seed, 'model', 0, 'order', 0).permutation(n);
  const batchLoss: number[] = [];
  for (let i = 0; i < checkSteps; i++) {
    const idx = perm.subarray(i * cfg.batchSize, (i + 1) * cfg.batchSize);
    const x = tf.tensor3d(gatherColumns(ds.train, idx), [1, ds.train.d, idx.length]);
    const y = tf.tensor2d(Int32Array.from(idx, (j) => ds.train.y[j]!), [1, idx.length], 'int32');
    const { loss, grads } = classificationLossAndGrads(params, x, y, cfg.slope);
    batchLoss.push(loss.dataSync()[0]!);
    const next = opt.step(params, grads, state);
    tf.dispose([x, y, loss, ...grads, ...params]);
    params = next.params;
    state = next.state;
  }
  check = { optimizer: o, model: 0, batchLoss };
}

const manifest = {
  what: 'optimizers-mnist inputs per model id (scripts/export-fig5-setup.ts)',
  config: { data: cfg.data, seed: cfg.seed, dims: cfg.dims, slope: cfg.slope, batchSize: cfg.batchSize, optimizers: cfg.optimizers },
  models: Array.from({ length: runs }, (_, i) => i),
  epochs,
  train: { n, d: ds.train.d },
  test: { n: ds.test.n, d: ds.test.d },
  teleport: { count, batchSize: teleBatch },
  check,
};
writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
process.stderr.write(`export-fig5-setup: ${runs} model ids, ${epochs} epochs, ${cfg.data.name} ${n} / ${ds.test.n} samples -> ${out}\n`);
