// Your own learned optimizer meta-trained on your own task (examples/parts/my-parts.ts), against
// Adam with its learning rate tuned on validation problems, evaluated on held-out problems.
// Checkpoints go to the folder given as the first argument (default checkpoints/example), where
// examples/evaluate-saved.ts finds them.   Run: npx tsx examples/learned-optimizer.ts [dir]
import path from 'node:path';
import { initBackend, decodeExperiment, runExperiment } from 'symtele';
import './parts/my-parts.js';

await initBackend('wasm');
const dir = process.argv[2] ?? 'checkpoints/example';
export const experiment = (root: string) => ({
  seed: 0,
  metaSeeds: [0],
  task: { kind: 'least-squares', dim: 10, rows: 20 },
  heldout: { trajectories: 16, steps: 50 },
  tableSteps: [1, 10, 50],
  variants: [
    { label: 'Adam', baseline: { kind: 'adam', lr: [1e-2, 3e-2, 1e-1] } },
    {
      label: 'learned momentum',
      learned: { kind: 'learned-momentum', lr: 0.01, momentum: 0.5 },
      train: { trajectories: 32, batch: 8, trajectoryLength: 50, unroll: 10, metaLr: { momentum: 0.03 }, evalEvery: 1, valTrajectories: 8, valSteps: 50 },
      estimator: { kind: 'tbptt' },
    },
  ],
  logdir: path.join(root, 'logs'),
  checkpointDir: path.join(root, 'ckpt'),
  checkpointEvery: 1,
  histogramEvery: 0,
});

if (import.meta.url === `file://${process.argv[1]}`) {
  const exp = decodeExperiment(experiment(dir), 'examples/learned-optimizer.ts');
  await runExperiment(exp, 'examples/learned-optimizer.ts', { start: 'fresh', log: (l) => console.log(l) });
}
