// Where the time of one inner step of meta-training goes (timeKernels, src/bench/kernels.ts):
// wall time against the kernels' own time, by kernel and by output size, per backend, variant,
// recipe and B, and the outer (learner) step's time per window, as JSON.
//   node --import tsx scripts/kernel-times.ts out.json [--backends wasm,tensorflow] [--batches 1,16]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { timeKernels, timeLearnerStep } from '../src/bench/kernels.js';
import type { Recipe, VariantName } from '../src/bench/kernels.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1]! : d);
const batches = opt('--batches', '1,16').split(',').map(Number);
const runs: [VariantName, Recipe][] = [['LSTM(update,tele)', 'tuned'], ['LSTM(update,tele)', 'reference'], ['LSTM(update)', 'tuned']];

if (args.includes('--child')) {
  // one backend per process: a process holds one tfjs backend
  const backend = await initBackend(opt('--backend', 'wasm'));
  const out: Record<string, Record<string, unknown>> = {};
  const learner: Record<string, number> = {};
  for (const [v, recipe] of runs) {
    const key = `${v} (${recipe})`;
    out[key] = {};
    for (const B of batches) out[key][String(B)] = await timeKernels(v, B, recipe);
    learner[key] = timeLearnerStep(v, recipe);
  }
  writeFileSync(args[0]!, JSON.stringify({ backend, byVariant: out, learnerStepMs: learner }));
} else {
  const dir = mkdtempSync(path.join(tmpdir(), 'kernel-times-'));
  const byBackend: Record<string, unknown> = {};
  for (const b of opt('--backends', 'wasm').split(',')) {
    const file = path.join(dir, `${b}.json`);
    execFileSync(process.execPath, ['--import', 'tsx', process.argv[1]!, file, '--child', '--backend', b, '--batches', batches.join(',')], { stdio: 'inherit' });
    byBackend[b] = JSON.parse(readFileSync(file, 'utf8'));
  }
  writeFileSync(args[0]!, `${JSON.stringify({ windows: 2, repeats: 3, byBackend }, null, 1)}\n`);
}
