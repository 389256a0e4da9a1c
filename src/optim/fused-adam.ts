// Adam's update of one parameter as one fused wasm kernel (src/ops/wasm-kernels.ts): one pass
// over memory instead of thirteen elementwise kernels. The learner's outer Adam steps every
// meta-parameter (millions for the paper's LSTMs) once per window, a large part of a window's
// time at small B. Its steps are the op-by-op rule's (./rules.ts) in its order, so the numbers
// are the same to the bit.
import type * as tf from '@tensorflow/tfjs';
import { fusedKernel } from '../ops/wasm-kernels.js';

/** The rule's constants (each rounded to float32 where it is used, as the op-by-op rule's scalars are). */
export interface AdamConstants {
  b1: number;
  b2: number;
  /** lr / (1 - b1^step) */
  stepSize: number;
  /** sqrt(1 - b2^step) */
  bc2Sqrt: number;
  eps: number;
  /** -1 to maximize, else 1 (multiplying by either is exact, as the rule's negation is). */
  sign: 1 | -1;
}

export const ADAM_KERNEL = 'SymteleAdamStep';

// d = sign g; m' = m b1 + d (1 - b1); v' = v b2 + (d d)(1 - b2); p' = p - (m' / (sqrt(v') / bc2Sqrt + eps)) stepSize
const adam = fusedKernel({
  name: ADAM_KERNEL,
  layout: 'flat',
  inputs: ['p', 'g', 'm', 'v'],
  consts: ['sign', 'b1', 'c1', 'b2', 'c2', 'bc2Sqrt', 'eps', 'stepSize'],
  steps: [
    ['d', 'mul', 'g', 'sign'],
    ['mb', 'mul', 'm', 'b1'],
    ['dc', 'mul', 'd', 'c1'],
    ['m2', 'add', 'mb', 'dc'],
    ['vb', 'mul', 'v', 'b2'],
    ['dd', 'mul', 'd', 'd'],
    ['ddc', 'mul', 'dd', 'c2'],
    ['v2', 'add', 'vb', 'ddc'],
    ['sq', 'sqrt', 'v2'],
    ['sqb', 'div', 'sq', 'bc2Sqrt'],
    ['den', 'add', 'sqb', 'eps'],
    ['r', 'div', 'm2', 'den'],
    ['rs', 'mul', 'r', 'stepSize'],
    ['p2', 'sub', 'p', 'rs'],
  ],
  outputs: [['p2'], ['m2'], ['v2']],
});

/** [param, expAvg, expAvgSq] after one step, or undefined where the fused kernel does not apply. */
export function fusedAdamStep(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined {
  const out = adam.run([p, g, m, v], [c.sign, c.b1, 1 - c.b1, c.b2, 1 - c.b2, c.bc2Sqrt, c.eps, c.stepSize]);
  return out as [tf.Tensor, tf.Tensor, tf.Tensor] | undefined;
}
