// Your own parts, registered through the public API: a task family (noisy least squares,
// min_x 1/2 ||A x - b||^2 with A, b drawn per problem) and a learned optimizer (per parameter
// tensor a learned momentum and a learned step size). Import this module (or pass it to the CLI
// as `symtele --plugin examples/parts/my-parts.ts ...` when running from source) before a
// config names them.
import { tf, registerTaskFamily, registerLearnedOptimizer, stream, strict, withDefaults, PositiveInt, PositiveNumber } from 'symtele';
import type { LearnedOptimizer, LearnedState, Task, TaskFamily } from 'symtele';

const LeastSquares = withDefaults(strict({ dim: PositiveInt, rows: PositiveInt }, 'LeastSquares'), { dim: 10, rows: 20 });
type LeastSquares = { dim: number; rows: number };

function leastSquares(c: LeastSquares): TaskFamily {
  return {
    name: `least squares ${c.rows}x${c.dim}`,
    sample(seed, split, ids): Task {
      const B = ids.length;
      const rs = ids.map((id) => stream(seed, 'least-squares', split, id));
      const A = tf.tensor3d(rs.flatMap((r) => Array.from(r.normalArray(c.rows * c.dim))), [B, c.rows, c.dim]);
      const b = tf.tensor3d(rs.flatMap((r) => Array.from(r.normalArray(c.rows))), [B, c.rows, 1]);
      const residual = (x: tf.Tensor) => tf.sub(tf.matMul(A, tf.reshape(x, [B, c.dim, 1])), b);
      const loss = (ps: readonly tf.Tensor[]) => tf.mul(0.5, tf.sum(tf.square(residual(ps[0]!)), [1, 2])) as tf.Tensor1D;
      return {
        size: B,
        paramShapes: [[c.dim]],
        init: () => [tf.zeros([B, c.dim])],
        loss: (ps) => loss(ps),
        // closed form: A^T (A x - b), differentiable again
        lossAndGrads: (ps) => ({ loss: loss(ps), grads: [tf.reshape(tf.matMul(A, residual(ps[0]!), true, false), [B, c.dim])] }),
        dispose: () => tf.dispose([A, b]),
      };
    },
  };
}

registerTaskFamily({ kind: 'least-squares', codec: LeastSquares, create: leastSquares, description: 'noisy least squares (examples/parts)' });

// v <- beta v + g;  w <- w - eta v;  beta = sigmoid(a_i), eta = exp(s_i) per parameter tensor i
const LearnedMomentum = withDefaults(strict({ lr: PositiveNumber, momentum: PositiveNumber }, 'LearnedMomentum'), { lr: 0.01, momentum: 0.5 });
type LearnedMomentum = { lr: number; momentum: number };
interface MomentumState extends LearnedState {
  velocity: tf.Tensor[];
}

function learnedMomentum(c: LearnedMomentum): LearnedOptimizer {
  const opt: LearnedOptimizer<MomentumState> = {
    name: 'learned-momentum',
    modules: ['momentum'],
    init: (_rng, task) => {
      const n = task.paramShapes.length;
      return { momentum: { logLr: tf.fill([n], Math.log(c.lr)), logitBeta: tf.fill([n], Math.log(c.momentum / (1 - c.momentum))) } };
    },
    optimizer: (meta) => ({
      name: 'learned-momentum',
      init: (params) => {
        const velocity = params.map((p) => tf.zerosLike(p));
        return { step: 0, velocity, tensors: velocity };
      },
      step(params, grads, st) {
        const at = (t: tf.Tensor, i: number) => tf.slice(t, [i], [1]);
        const velocity = grads.map((g, i) => tf.add(tf.mul(tf.sigmoid(at(meta.momentum!.logitBeta!, i)), st.velocity[i]!), g));
        const next = params.map((w, i) => tf.sub(w, tf.mul(tf.exp(at(meta.momentum!.logLr!, i)), velocity[i]!)));
        return { params: next, state: { step: st.step + 1, velocity, tensors: velocity } };
      },
    }),
  };
  return opt as unknown as LearnedOptimizer;
}

registerLearnedOptimizer({
  kind: 'learned-momentum',
  codec: LearnedMomentum,
  create: learnedMomentum,
  description: 'a learned momentum and step size per parameter tensor (examples/parts)',
  size: (_c: LearnedMomentum, task) => ({ floats: 2 * task.paramShapes.length, largestTensor: task.paramShapes.length }),
});
