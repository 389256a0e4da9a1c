// Meta-training throughput of tuned LSTM(update,tele) with the LSTM pair flag off and on
// (src/nn/lstm.ts), alternating in one process, at B = 1 and 16: the side-by-side measurement
// behind the flag's default. Prints one JSON object.
// Usage: node --import tsx scripts/lstm-pair-ab.ts [backend] [rounds]   (default wasm, 2)
import { initBackend } from '../src/backend/index.js';
import { metaTrainThroughput } from '../src/bench/meta.js';
import { withLstmPair } from '../src/nn/lstm.js';

const backend = await initBackend(process.argv[2] ?? 'wasm');
const rounds = Number(process.argv[3] ?? 2);
const runs: { pair: boolean; batch: number; wall: number; cpu: number }[] = [];
for (let r = 0; r < rounds; r++) {
  for (const pair of [false, true]) {
    for (const batch of [1, 16]) {
      const t = await withLstmPair(pair, () => metaTrainThroughput('LSTM(update,tele)', batch, 100, 'tuned', 2));
      runs.push({ pair, batch, ...t });
      process.stderr.write(`pair ${pair} B=${batch}: ${t.wall.toFixed(3)} trajectories/s\n`);
    }
  }
}
const best = (pair: boolean, batch: number) => Math.max(...runs.filter((x) => x.pair === pair && x.batch === batch).map((x) => x.wall));
const pairOverApart = Object.fromEntries([1, 16].map((b) => [String(b), best(true, b) / best(false, b)]));
console.log(JSON.stringify({ date: new Date().toISOString(), backend, variant: 'LSTM(update,tele)', recipe: 'tuned', trajectoryLength: 100, runs, pairOverApart }, null, 2));
