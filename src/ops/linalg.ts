// Inverse and pseudo-inverse as differentiable tfjs ops. The forward value is computed on the
// host in float64 (tfjs has neither op); the backward pass is the analytic formula written in
// tfjs ops that call the op itself again, so the gradient is differentiable to any order.
// Only the input is saved: saving the output breaks higher-order gradients on tfjs.
import * as tf from '@tensorflow/tfjs';
import { unaryCustomOp } from './custom.js';
import { inv64, pinv64, mat64, type Mat64, SingularMatrixError } from './linalg64.js';

export { SingularMatrixError };

/** Apply a host float64 matrix function to every matrix of a [..., m, n] tensor. */
function hostMap(a: tf.Tensor, f: (m: Mat64) => Mat64, opName: string): tf.Tensor {
  const shape = a.shape;
  if (shape.length < 2) throw new Error(`${opName}: expected a matrix or a batch of matrices, got shape [${shape}]`);
  const m = shape[shape.length - 2];
  const n = shape[shape.length - 1];
  const batch = shape.slice(0, -2);
  const count = batch.reduce((p, q) => p * q, 1);
  const src = a.dataSync();
  let out: Float32Array | null = null;
  let outShape: number[] = [];
  for (let b = 0; b < count; b++) {
    let r: Mat64;
    try {
      r = f(mat64(m, n, src.subarray(b * m * n, (b + 1) * m * n)));
    } catch (e) {
      if (e instanceof SingularMatrixError) {
        const where = count > 1 ? ` (batch element ${b})` : '';
        throw new SingularMatrixError(`${opName}: ${m}x${n} input${where} is rank deficient: ${e.message}`);
      }
      throw e;
    }
    if (out === null) {
      out = new Float32Array(count * r.rows * r.cols);
      outShape = [...batch, r.rows, r.cols];
    }
    out.set(r.data, b * r.rows * r.cols);
  }
  return tf.tensor(out ?? new Float32Array(0), outShape);
}

const mm = (a: tf.Tensor, b: tf.Tensor, ta = false, tb = false) =>
  tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);

function swapLast(a: tf.Tensor): tf.Tensor {
  const r = a.rank;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(a, perm);
}

/** Matrix inverse of [..., n, n]; throws SingularMatrixError for a singular input. */
export const inv: <T extends tf.Tensor>(a: T) => T = unaryCustomOp((a, save) => {
  save([a]);
  return {
    value: hostMap(a, inv64, 'inv'),
    // d(A^-1) = -A^-1 dA A^-1  =>  grad_A = -P^T dY P^T
    gradFunc: (dy, saved) => {
      const p = inv(saved[0]);
      return tf.neg(mm(mm(p, dy, true, false), p, false, true));
    },
  };
});

/**
 * Moore–Penrose pseudo-inverse of a full-rank [..., m, n] matrix. The gradient is the
 * derivative of the pseudo-inverse on full-rank matrices (Golub & Pereyra):
 *   grad_A = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A),
 * one of the last two terms vanishing (A P = I for a wide A, P A = I for a tall one).
 * A rank-deficient input throws SingularMatrixError.
 */
export const pinv: <T extends tf.Tensor>(a: T) => T = unaryCustomOp((a, save) => {
  save([a]);
  return {
    value: hostMap(a, pinv64, 'pinv'),
    gradFunc: (dy, saved) => {
      const A = saved[0];
      const P = pinv(A);
      const [m, n] = A.shape.slice(-2);
      const main = tf.neg(mm(mm(P, dy, true, false), P, false, true));
      // Square: P = A^-1 and both correction terms are exactly zero. Computing them anyway
      // subtracts two products of size ||P||^2 ||G|| that agree only to cond(A) * eps in
      // float32: pure rounding noise, large for an ill-conditioned A, and different on each
      // backend (it follows the backend's matMul summation order).
      if (m === n) return main;
      if (m < n) {
        // wide: A P = I, keep the (I - P A) term: P^T P G^T - P^T P G^T P A
        const ptpgt = mm(mm(P, P, true, false), dy, false, true); // [m, n]
        return tf.add(main, tf.sub(ptpgt, mm(mm(ptpgt, P), A)));
      }
      // tall: P A = I, keep the (I - A P) term: G^T P P^T - A P G^T P P^T
      const gtppt = mm(swapLast(dy), mm(P, P, false, true)); // [m, n]
      return tf.add(main, tf.sub(gtppt, mm(A, mm(P, gtppt))));
    },
  };
});
