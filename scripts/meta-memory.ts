// Peak memory of meta-training tuned LSTM(update,tele) at B = 16 on wasm: two batches of 30-step
// trajectories; prints the wasm heap's size, the process's peak RSS and the live tensors after.
// Usage: node --import tsx scripts/meta-memory.ts
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { resolveLearnedPreset } from '../src/meta/config.js';
import { initTrainState, trainBatch, disposeTrainState } from '../src/meta/train.js';
import { buildRunParts, entryRunSpec } from '../src/meta/build.js';
import { localShards } from '../src/meta/shards.js';
import { PAPER_REGRESSION_TASK } from '../src/tasks/regression.js';

await initBackend('wasm');
const p = resolveLearnedPreset('tuned/LSTM(update,tele)');
const train = { ...p.train, batch: 16, trajectories: 32, epochs: 1, trajectoryLength: 30, evalEvery: 0 };
const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, { ...p, train }));
let st = initTrainState(parts.learned, parts.family, train);
for (let i = 0; i < 2; i++) st = (await trainBatch(st, train, localShards(parts))).state;
const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
console.log(JSON.stringify({ wasmHeapMiB: heap / 2 ** 20, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), liveTensors: tf.memory().numTensors }));
disposeTrainState(st);
