// The meta-losses and meta-gradients of the first two truncation windows of every learned
// variant (tuned recipe, the paper's problem, B = 4), for comparing two versions of the code
// op for op: write them with one version, compare with the other. The comparison reports, per
// variant, the largest relative meta-loss difference and, per meta-gradient tensor, the largest
// entry difference over that tensor's largest entry.
// The gradients go to a float32 file beside the JSON (out.json.f32).
//   node --import tsx scripts/window-numbers.ts out.json [--backend wasm] [--recipe tuned]
//   node --import tsx scripts/window-numbers.ts --compare before.json after.json
import { readFileSync, writeFileSync } from 'node:fs';
import { initBackend } from '../src/backend/index.js';
import { resolveLearnedPreset } from '../src/meta/config.js';
import { buildRunParts, entryRunSpec } from '../src/meta/build.js';
import { stream } from '../src/rng/index.js';
import { disposeMeta } from '../src/meta/params.js';
import { PAPER_REGRESSION_TASK } from '../src/tasks/regression.js';

const VARIANTS = ['LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const;
type Numbers = Record<string, { metaLoss: number[]; grads: Record<string, Float32Array>[] }>;

function measure(recipe: string): Numbers {
  const out: Numbers = {};
  for (const name of VARIANTS) {
    const p = resolveLearnedPreset(`${recipe}/${name}`);
    const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, p));
    const ids = [0, 1, 2, 3];
    const task = parts.family.sample(p.train.seed, 'train', ids);
    const meta = parts.learned.init(stream(p.train.seed, 'meta-init'), task);
    let st = parts.estimator.init(meta, task, { seed: p.train.seed, batch: 0, ids });
    const row: Numbers[string] = { metaLoss: [], grads: [] };
    for (let w = 0; w < 2; w++) {
      const r = parts.estimator.estimate(meta, task, st, p.train.unroll);
      st = r.state;
      row.metaLoss.push(r.estimate.metaLoss);
      const g: Record<string, Float32Array> = {};
      for (const [mod, ps] of Object.entries(r.estimate.grads)) for (const [k, t] of Object.entries(ps)) g[`${mod}.${k}`] = t.dataSync() as Float32Array;
      row.grads.push(g);
      disposeMeta(r.estimate.grads);
    }
    parts.estimator.dispose(st);
    task.dispose();
    disposeMeta(meta);
    out[name] = row;
  }
  return out;
}

/** NaN (written to JSON as null). */
const diverged = (v: number | null) => v === null || Number.isNaN(v);

function compare(a: Numbers, b: Numbers): void {
  for (const [name, ra] of Object.entries(a)) {
    const rb = b[name];
    // a diverged window (NaN) must diverge in both
    const loss = Math.max(...ra.metaLoss.map((l, w) => (diverged(l) && diverged(rb.metaLoss[w]) ? 0 : Math.abs(l - rb.metaLoss[w]) / Math.abs(l))));
    let grad = 0;
    let where = '';
    ra.grads.forEach((g, w) => {
      for (const [k, xs] of Object.entries(g)) {
        const ys = rb.grads[w][k];
        let scale = 1e-30;
        let diff = 0;
        xs.forEach((x, i) => {
          scale = Math.max(scale, Math.abs(x));
          diff = Math.max(diff, Math.abs(x - ys[i]));
        });
        const d = diff / scale;
        if (d > grad) [grad, where] = [d, `window ${w} ${k}`];
      }
    });
    console.log(`${name}: meta-loss largest relative difference ${loss.toExponential(2)}; meta-gradient largest difference / tensor max ${grad.toExponential(2)}${where ? ` (${where})` : ''}`);
  }
}

const args = process.argv.slice(2);
type Index = Record<string, { metaLoss: number[]; grads: Record<string, [number, number]>[] }>;

function save(file: string, n: Numbers): void {
  const index: Index = {};
  const chunks: Float32Array[] = [];
  let at = 0;
  for (const [name, r] of Object.entries(n)) {
    index[name] = { metaLoss: r.metaLoss, grads: r.grads.map((g) => Object.fromEntries(Object.entries(g).map(([k, xs]) => { chunks.push(xs); at += xs.length; return [k, [at - xs.length, xs.length]]; }))) };
  }
  const all = new Float32Array(at);
  let o = 0;
  for (const c of chunks) (all.set(c, o), (o += c.length));
  writeFileSync(file, `${JSON.stringify(index)}\n`);
  writeFileSync(`${file}.f32`, Buffer.from(all.buffer));
}

function load(file: string): Numbers {
  const index = JSON.parse(readFileSync(file, 'utf8')) as Index;
  const buf = readFileSync(`${file}.f32`);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return Object.fromEntries(
    Object.entries(index).map(([name, r]) => [name, { metaLoss: r.metaLoss, grads: r.grads.map((g) => Object.fromEntries(Object.entries(g).map(([k, [o, n]]) => [k, all.subarray(o, o + n)]))) }]),
  );
}

if (args[0] === '--compare') {
  compare(load(args[1]), load(args[2]));
} else {
  const opt = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  await initBackend(opt('--backend', 'wasm'));
  save(args[0], measure(opt('--recipe', 'tuned')));
}
