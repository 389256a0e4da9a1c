// What a changed weight matrix costs a product on the wasm backend: the first product with a
// weight tensor creates an XNNPACK operator and packs the weights; later products with the same
// tensor reuse them. Meta-training changes every LSTM weight once per window, so each window
// pays the packing once per matrix (and once per transposed copy). Prints one JSON object.
//   node --import tsx scripts/xnn-packing.ts [repeats]
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';

const backend = await initBackend('wasm');
const repeats = Number(process.argv[2] ?? 50);
const rows: { batch: number; k: number; n: number; cachedMs: number; newWeightsMs: number }[] = [];
for (const batch of [1, 16]) {
  const [k, n] = [1100, 1200]; // the update LSTM's first cell: [x, h] inputs x 4 gates of 300
  const x = tf.randomNormal([batch, k]) as tf.Tensor2D;
  const w = tf.randomNormal([k, n]) as tf.Tensor2D;
  const cached = () => {
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) tf.matMul(x, w).dispose();
    return (performance.now() - t0) / repeats;
  };
  const newWeights = () => {
    let ms = 0;
    for (let i = 0; i < repeats; i++) {
      const w2 = tf.add(w, 0); // the same values in a new tensor, as after a meta step
      const t0 = performance.now();
      tf.matMul(x, w2).dispose();
      ms += performance.now() - t0;
      w2.dispose();
    }
    return ms / repeats;
  };
  cached();
  newWeights();
  rows.push({ batch, k, n, cachedMs: Math.min(cached(), cached()), newWeightsMs: Math.min(newWeights(), newWeights()) });
  tf.dispose([x, w]);
}
console.log(JSON.stringify({ date: new Date().toISOString(), backend, repeats, rows }, null, 1));
