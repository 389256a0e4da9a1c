// Evaluate a saved learned optimizer: the checkpoints examples/learned-optimizer.ts wrote (its
// folder as the first argument), on more held-out problems and steps than it was evaluated on,
// with Adam beside it on the same problems.   Run: npx tsx examples/evaluate-saved.ts [dir]
import path from 'node:path';
import { initBackend, decodeExperiment, evaluateFromCheckpoints, resultsByTask } from 'symtele';
import { experiment } from './learned-optimizer.js';

await initBackend('wasm');
const dir = process.argv[2] ?? 'checkpoints/example';
const exp = decodeExperiment({ ...experiment(dir), heldout: { trajectories: 32, steps: 100 }, tableSteps: [1, 10, 50, 100], logdir: path.join(dir, 'eval-logs') }, 'examples/evaluate-saved.ts');
const r = await evaluateFromCheckpoints(exp, 'examples/evaluate-saved.ts', { checkpoints: [exp.checkpointDir] });
for (const [, t] of resultsByTask(r)) console.log(`evaluated ${Object.keys(t.variants).join(', ')} on ${t.heldout.trajectories} held-out problems of ${t.heldout.steps} steps`);
