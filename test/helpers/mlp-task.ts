// A tiny batched MLP regression Task for the learned-optimizer tests: any widths, k samples
// (k <= every layer's input width, so the 'inverse' GL(n) action keeps the loss exactly), loss
// 0.5 ||W_L s(... s(W_1 X)) - Y||^2 by autodiff, directions from autodiff of the squared
// gradient norm through the action, plus dU^T dU of the layer above.
import * as tf from '@tensorflow/tfjs';
import { groupAction, identityPlus } from '../../src/symmetry/action.js';
import { mlpGrads, mlpLoss, sumSquares } from '../../src/nn/mlp.js';
import { stream } from '../../src/rng/index.js';
import type { Task } from '../../src/tasks/task.js';

export interface MlpTaskSpec {
  widths: number[];
  samples: number;
  batch: number;
  seed: number;
  slope?: number;
}

const unit = (d: tf.Tensor): tf.Tensor3D =>
  tf.div(d, tf.sqrt(tf.add(tf.sum(tf.square(d), [1, 2], true), 1e-30))) as tf.Tensor3D;

export function mlpTask(spec: MlpTaskSpec): Task {
  const { widths, samples: k, batch: B } = spec;
  const slope = spec.slope ?? 0.1;
  if (k > Math.min(...widths.slice(0, -1))) throw new Error('mlpTask: samples must not exceed any layer input width');
  const r = stream(spec.seed, 'mlp-task');
  const x = tf.keep(tf.tensor3d(r.uniformArray(B * widths[0] * k, -1, 1), [B, widths[0], k]));
  const y = tf.keep(tf.tensor3d(r.uniformArray(B * widths[widths.length - 1] * k, -1, 1), [B, widths[widths.length - 1], k]));
  const shapes = widths.slice(1).map((w, i) => [w, widths[i]]);
  const init0 = tf.tidy(() => shapes.map((s) => tf.div(tf.tensor3d(r.uniformArray(B * s[0] * s[1], -1, 1), [B, s[0], s[1]]), Math.sqrt(s[1])) as tf.Tensor3D));
  const opts = { slope, loss: 'mse' as const };
  const act = (params: readonly tf.Tensor[], gs: readonly tf.Tensor3D[]) => groupAction(params, x, gs, { kind: 'inverse', slope });
  return {
    size: B,
    paramShapes: shapes,
    init: () => init0.map((w) => tf.clone(w)),
    loss: (params) => mlpLoss(params, x, y, opts) as unknown as tf.Tensor1D,
    lossAndGrads: (params) => ({ loss: mlpLoss(params, x, y, opts) as unknown as tf.Tensor1D, grads: mlpGrads(params, x, y, opts) }),
    symmetry: {
      groupSizes: widths.slice(1, -1),
      directionKinds: ['gradNorm', 'outgoing'],
      act: (params, gs) => act(params, gs),
      directions(params, grads) {
        const zeros = widths.slice(1, -1).map((n) => tf.zeros([B, n, n]));
        const obj = (...ts: tf.Tensor[]) => tf.sum(sumSquares(mlpGrads(act(params, ts.map((t) => identityPlus(t) as tf.Tensor3D)), x, y, opts)));
        const asc = tf.grads(obj)(zeros);
        return asc.map((a, m) => [unit(a), unit(tf.matMul(grads[m + 1] as tf.Tensor3D, grads[m + 1] as tf.Tensor3D, true, false))]);
      },
    },
    dispose: () => tf.dispose([x, y, ...init0]),
  };
}
