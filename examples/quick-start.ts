// The README's quick start: a paper variant, your own variant of a preset and a tuned Adam,
// meta-trained and evaluated on the same held-out problems.   Run: npx tsx examples/quick-start.ts
import { initBackend, decodeExperiment, runExperiment, resultsByTask } from 'symtele';

await initBackend('wasm');
const exp = decodeExperiment({
  task: { kind: 'regression', widths: [20, 20, 20] }, // a registered task family (symtele list)
  heldout: { trajectories: 8, steps: 100 },
  variants: [
    { preset: 'tuned/LSTM(update,tele)', train: { trajectories: 16 } }, // a paper variant, our recipe
    { label: 'small LSTM', preset: 'tuned/LSTM(update)', learned: { update: { hidden: 32 } }, train: { trajectories: 16 } },
    { label: 'Adam', baseline: { kind: 'adam', lr: [1e-3, 1e-2, 1e-1] } }, // lr tuned on validation problems
  ],
  logdir: 'logs/quick-start',
  checkpointDir: 'checkpoints/quick-start',
});
const results = await runExperiment(exp, 'quick start', { start: 'fresh' }); // train, evaluate, write logs
for (const [, r] of resultsByTask(results)) console.log(Object.keys(r.variants).join(', '));
