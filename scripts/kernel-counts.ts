// Kernel calls per inner step of every learned variant at B = 1, 16, 64, 256 (countKernels,
// src/bench/kernels.ts) on one backend, as JSON: the deterministic part of the meta bench.
//   node --import tsx scripts/kernel-counts.ts out.json [--backend wasm]
import { writeFileSync } from 'node:fs';
import { initBackend } from '../src/backend/index.js';
import { countKernels } from '../src/bench/kernels.js';

const args = process.argv.slice(2);
const i = args.indexOf('--backend');
const backend = await initBackend(i >= 0 ? args[i + 1] : 'wasm');
const out: Record<string, Record<string, unknown>> = {};
for (const v of ['LSTM(update)', 'LSTM(lr,tele)', 'LSTM(update,tele)'] as const) {
  out[v] = {};
  for (const B of [1, 16, 64, 256]) out[v][String(B)] = await countKernels(v, B);
}
writeFileSync(args[0], `${JSON.stringify({ backend, kernelCallsPerInnerStep: out }, null, 1)}\n`);
