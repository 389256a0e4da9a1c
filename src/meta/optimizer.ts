// A trained variant as an ordinary Optimizer (src/optim/types.ts), for use outside the
// meta-training loop: params are [W1, W2] of the two-layer problem (unbatched [d, d] or batched
// [B, d, d]); the state is the LSTMs' recurrent state. The problem data is bound at
// construction because the teleport acts through X (and the 'gradNorm' direction reads Y).
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../optim/types.js';
import type { Params } from '../nn/lstm.js';
import { initUnrollState, updateFromGrads, type ProblemData, type UnrollState, type VariantConfig } from './variant.js';

export type LearnedOptState = Omit<UnrollState, 'ws'>;

const batched = (t: tf.Tensor) => (t.rank === 2 ? tf.expandDims(t, 0) : t) as tf.Tensor3D;

export function learnedOptimizer(meta: Params, variant: VariantConfig, data: ProblemData): Optimizer<LearnedOptState> {
  const b = { ...data, x: batched(data.x), y: batched(data.y), xInv: batched(data.xInv) };
  return {
    name: variant.name,
    init(params) {
      const w = [batched(params[0]), batched(params[1])] as [tf.Tensor3D, tf.Tensor3D];
      const { ws, ...rest } = initUnrollState(variant, w);
      tf.dispose(ws);
      if (params[0].rank === 2) tf.dispose(w);
      return rest;
    },
    step(params, grads, state) {
      const unbatched = params[0].rank === 2;
      const st: UnrollState = { ...state, ws: [batched(params[0]), batched(params[1])] };
      const r = updateFromGrads(meta, variant, b, st, [batched(grads[0]), batched(grads[1])]);
      const { ws, ...next } = r.state;
      return { params: unbatched ? ws.map((w) => tf.squeeze(w, [0])) : ws, state: next };
    },
  };
}
