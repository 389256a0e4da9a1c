// Where the kernel calls of meta-training come from: the calls countKernels counts
// (src/bench/kernels.ts: the first two windows, forward under the tape and the meta-backward),
// per inner step, by the source line that made them (a backward call is charged to the
// forward op whose gradient ran it), with their output sizes.
//   node --import tsx scripts/kernel-origins.ts ['LSTM(update,tele)'] [--backend wasm] [--top 40]
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { countKernels } from '../src/bench/kernels.js';
import type { VariantName } from '../src/bench/kernels.js';

Error.stackTraceLimit = 100;
const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const variant = (args.find((a) => a.startsWith('LSTM')) ?? 'LSTM(update,tele)') as VariantName;
await initBackend(opt('--backend', 'wasm'));

interface EngineHooks {
  runKernel(name: string, inputs: object, attrs?: object): tf.Tensor | tf.Tensor[];
  addTapeNode(name: string, inputs: object, outputs: tf.Tensor[], grad: unknown, saved: unknown, attrs: object): void;
  profile(q: () => unknown): Promise<unknown>;
  state: { activeTape: { gradient?: (dys: unknown) => Record<string, () => tf.Tensor> }[] };
}
const engine = tf.engine() as unknown as EngineHooks;

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** The first line of this project's source (not the tape machinery) on the stack. */
function origin(): string {
  const lines = (new Error().stack ?? '').split('\n');
  const own = lines.find((l) => l.includes(SRC) && !/ops\/(tape-)?overrides|estimators\/tbptt|bench\/kernels/.test(l));
  const m = own?.slice(own.indexOf(SRC) + SRC.length).match(/^([^:]+):(\d+)/);
  return m ? `${m[1]}:${m[2]}` : 'tfjs';
}

let counting = false;
let backwardOf: string | null = null;
const calls = new Map<string, { n: number; sizes: number[] }>();

const addTapeNode = engine.addTapeNode.bind(engine);
engine.addTapeNode = (name, inputs, outputs, grad, saved, attrs) => {
  const from = counting ? origin() : '';
  addTapeNode(name, inputs, outputs, grad, saved, attrs);
  const node = engine.state.activeTape[engine.state.activeTape.length - 1];
  const g = node.gradient;
  if (!g) return;
  const charged = <T>(f: () => T): T => {
    const prev = backwardOf;
    backwardOf = from;
    try {
      return f();
    } finally {
      backwardOf = prev;
    }
  };
  node.gradient = (dys) => charged(() => Object.fromEntries(Object.entries(g(dys)).map(([k, f]) => [k, () => charged(f)])));
};
const runKernel = engine.runKernel.bind(engine);
engine.runKernel = (name, inputs, attrs) => {
  const out = runKernel(name, inputs, attrs);
  if (counting) {
    const key = backwardOf !== null ? `backward ${backwardOf} ${name}` : `forward  ${origin()} ${name}`;
    const r = calls.get(key) ?? { n: 0, sizes: [] };
    r.n++;
    r.sizes.push((Array.isArray(out) ? out[0] : out).size);
    calls.set(key, r);
  }
  return out;
};
// count the estimate (countKernels' first profile), not its forward-only recount
const profile = engine.profile.bind(engine);
let profiles = 0;
engine.profile = async (q) => {
  counting = profiles++ === 0;
  try {
    return await profile(q);
  } finally {
    counting = false;
  }
};

const steps = 20;
const total = (await countKernels(variant, 1)).perStep;
const rows = [...calls.entries()].sort((a, b) => b[1].n - a[1].n);
const byFile = new Map<string, number>();
for (const [k, r] of rows) {
  const [phase, where] = k.split(/ +/);
  const key = `${phase} ${where.split(':')[0]}`;
  byFile.set(key, (byFile.get(key) ?? 0) + r.n);
}
const perStep = (n: number) => (n / steps).toFixed(1).padStart(6);
console.log(`${variant}: ${total} kernel calls per inner step (the tape's own gradient sums and dispatches outside any op are charged to tfjs)\n\nby file:`);
for (const [k, n] of [...byFile].sort((a, b) => b[1] - a[1])) console.log(`${perStep(n)}  ${k}`);
console.log('\nby line and kernel (calls per step, median output entries):');
for (const [k, r] of rows.slice(0, Number(opt('--top', '40')))) {
  const sizes = [...r.sizes].sort((a, b) => a - b);
  console.log(`${perStep(r.n)}  ${k}  (${sizes[Math.floor(sizes.length / 2)]})`);
}
