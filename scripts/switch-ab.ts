// Meta-training throughput of LSTM(update,tele) with one of symtele's switches off and on
// (src/ops/flags.ts: SYMTELE_LSTM_PAIR, SYMTELE_WASM_KERNELS), alternating in one process: the
// side-by-side measurement behind a switch's default. Prints one JSON object.
// Usage: node --import tsx scripts/switch-ab.ts FLAG [backend] [rounds] [recipe:B,...]
//   (defaults wasm, 2 rounds, tuned:1,tuned:16)
import { initBackend } from '../src/backend/index.js';
import { metaTrainThroughput } from '../src/bench/meta.js';
import { withSwitch } from '../src/ops/flags.js';
import '../src/nn/lstm.js';
import '../src/ops/wasm-kernels.js';

type Recipe = 'reference' | 'paper' | 'tuned';
const [flag, backendArg, roundsArg, plan] = process.argv.slice(2);
if (!flag) throw new Error('usage: switch-ab.ts FLAG [backend] [rounds] [recipe:B,...]');
const backend = await initBackend(backendArg ?? 'wasm');
const rounds = Number(roundsArg ?? 2);
const cases = (plan ?? 'tuned:1,tuned:16').split(',').map((c) => ({ recipe: c.split(':')[0] as Recipe, batch: Number(c.split(':')[1]) }));
const runs: { on: boolean; recipe: Recipe; batch: number; wall: number; cpu: number }[] = [];
for (let r = 0; r < rounds; r++) {
  for (const on of [false, true]) {
    for (const { recipe, batch } of cases) {
      const t = await withSwitch(flag, on, () => metaTrainThroughput('LSTM(update,tele)', batch, 100, recipe, 2));
      runs.push({ on, recipe, batch, ...t });
      process.stderr.write(`${flag} ${on} ${recipe} B=${batch}: ${t.wall.toFixed(3)} trajectories/s\n`);
    }
  }
}
const best = (on: boolean, recipe: Recipe, batch: number) => Math.max(...runs.filter((x) => x.on === on && x.recipe === recipe && x.batch === batch).map((x) => x.wall));
const onOverOff = Object.fromEntries(cases.map(({ recipe, batch }) => [`${recipe}:${batch}`, best(true, recipe, batch) / best(false, recipe, batch)]));
console.log(JSON.stringify({ date: new Date().toISOString(), flag, backend, variant: 'LSTM(update,tele)', trajectoryLength: 100, runs, onOverOff }, null, 2));
