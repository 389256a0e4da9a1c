// Held-out numbers of every learned variant under the paper and tuned recipes, for comparing
// two versions of the code: a held-out evaluation of the initial meta-parameters (the forward
// pass alone), and one after two meta-training batches (which run the meta-gradient; Adam's
// first steps move every meta-parameter by about its learning rate whatever its gradient's
// size, so gradients that differ by rounding where they are near zero move those parameters
// apart; compare with the same code on another backend to see that spread). The per-step
// losses go to a JSON file.
//   node --import tsx scripts/heldout-numbers.ts out.json [--backend wasm]
//   node --import tsx scripts/heldout-numbers.ts --compare before.json after.json
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { resolveLearnedPreset } from '../src/meta/config.js';
import { buildRunParts, entryRunSpec } from '../src/meta/build.js';
import type { Recipe } from '../src/bench/kernels.js';
import { localShards } from '../src/meta/shards.js';
import { disposeTrainState, evaluate, initTrainState, trainBatch } from '../src/meta/train.js';
import { PAPER_REGRESSION_TASK } from '../src/tasks/regression.js';

const VARIANTS = ['LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const;
const RECIPES: Recipe[] = ['paper', 'tuned'];
type Numbers = Record<string, number[][]>;

async function measure(): Promise<Numbers> {
  const out: Numbers = {};
  for (const recipe of RECIPES) {
    for (const name of VARIANTS) {
      const p = resolveLearnedPreset(`${recipe}/${name}`);
      const train = { ...p.train, batch: 4, trajectories: 8, epochs: 1, trajectoryLength: 20, evalEvery: 0 };
      const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, { ...p, train }));
      const pool = localShards(parts);
      let st = initTrainState(parts.learned, parts.family, train);
      const heldout = () => evaluate(parts.learned, st.meta, parts.family, train.seed, 'heldout', [0, 1, 2, 3], 30).loss;
      out[`${recipe} ${name}, initial`] = heldout();
      for (let b = 0; b < 2; b++) st = (await trainBatch(st, train, pool)).state;
      out[`${recipe} ${name}, trained 2 batches`] = heldout();
      disposeTrainState(st);
      const last = (k: string) => out[k][out[k].length - 1].reduce((a, b) => a + b, 0) / 4;
      process.stderr.write(`${recipe} ${name}: final mean loss ${last(`${recipe} ${name}, initial`)} initial, ${last(`${recipe} ${name}, trained 2 batches`)} trained\n`);
    }
  }
  return out;
}

function compare(a: Numbers, b: Numbers): void {
  let worst = 0;
  for (const [k, rows] of Object.entries(a)) {
    let m = 0;
    rows.forEach((row, t) =>
      row.forEach((v, i) => {
        const w = b[k][t][i];
        // a diverged trajectory must diverge in both
        const d = Number.isFinite(v) || Number.isFinite(w) ? Math.abs(v - w) / Math.max(Math.abs(v), 1e-30) : 0;
        m = Math.max(m, Number.isNaN(d) ? Infinity : d);
      }),
    );
    worst = Math.max(worst, m);
    console.log(`${k}: largest relative difference ${m.toExponential(2)}`);
  }
  console.log(`largest relative difference over all: ${worst.toExponential(2)}`);
}

const args = process.argv.slice(2);
if (args[0] === '--compare') {
  const read = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as { numbers: Numbers }).numbers;
  compare(read(args[1]), read(args[2]));
} else {
  const i = args.indexOf('--backend');
  const backend = await initBackend(i >= 0 ? args[i + 1] : 'wasm');
  const numbers = await measure();
  writeFileSync(args[0], `${JSON.stringify({ backend, tfjs: tf.version.tfjs, numbers }, null, 1)}\n`);
}
