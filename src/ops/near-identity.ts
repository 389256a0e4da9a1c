// On-device inverse of a group element near the identity, g = I + T with small ||T||, for code
// that must not read tensors back to the host (the float64 `inv` of linalg.ts computes its
// value on the host: one read per call). Plain tfjs ops (matMul, sub), so it is batched over
// leading dimensions and differentiable to any order on every backend.
//
// Newton–Schulz iteration from X_0 = I: X_{k+1} = X_k (2I - g X_k). Its residual
// E_k = I - g X_k squares at each step (E_{k+1} = E_k^2, E_0 = -T), so with a submultiplicative
// norm (Frobenius) and ||T|| < 1:
//   ||I - g X_k|| <= ||T||^(2^k),   ||X_k - g^-1|| <= ||g^-1|| ||T||^(2^k) <= ||T||^(2^k) / (1 - ||T||).
// The iteration count is fixed ahead of time from a bound on ||T||_F (no data-dependent
// control flow, so no host read); the per-matrix residual is returned so a caller can mask
// matrices whose T exceeded the bound (the iteration diverges once the spectral radius of T
// reaches 1) and read that mask once, when it chooses.
import * as tf from '@tensorflow/tfjs';

/** float32 unit roundoff: residuals below it are at the precision of the arithmetic. */
const F32_EPS = 2 ** -24;

export interface NearIdentityInverseOptions {
  /**
   * A bound on ||T||_F = ||g - I||_F the caller guarantees (default 0.2); sets the number of
   * iterations so that the bound below reaches float32 precision. Ignored when `iterations` is given.
   */
  maxNorm?: number;
  /** Newton–Schulz iterations (each costs two batched matMuls). */
  iterations?: number;
}

/**
 * Iterations k for which maxNorm^(2^k) / (1 - maxNorm) falls below float32 roundoff
 * (4 for ||T||_F <= 0.2, 5 for <= 0.5). Throws for maxNorm outside (0, 1): beyond 1 the
 * iteration from X_0 = I need not converge.
 */
export function newtonSchulzIterations(maxNorm: number): number {
  if (!(maxNorm > 0 && maxNorm < 1)) {
    throw new RangeError(`maxNorm: expected a bound on ||g - I||_F in (0, 1), got ${maxNorm}`);
  }
  let k = 0;
  while (maxNorm ** (2 ** k) / (1 - maxNorm) > F32_EPS) k++;
  return k;
}

/** The a-priori bound on ||X_k - g^-1||_F for ||T||_F = t after k iterations (Infinity for t >= 1). */
export function newtonSchulzErrorBound(t: number, iterations: number): number {
  return t < 1 ? t ** (2 ** iterations) / (1 - t) : Infinity;
}

function checkSquare(g: tf.Tensor, name: string): number {
  const r = g.rank;
  if (r < 2 || g.shape[r - 1] !== g.shape[r - 2]) {
    throw new Error(`${name}: expected [..., d, d] matrices, got shape [${g.shape}]`);
  }
  return g.shape[r - 1];
}

/** X_k of the Newton–Schulz iteration for g^-1 (from X_0 = I). */
function newtonSchulz(g: tf.Tensor, opts: NearIdentityInverseOptions): tf.Tensor {
  const d = checkSquare(g, 'invNearIdentity');
  const k = opts.iterations ?? newtonSchulzIterations(opts.maxNorm ?? 0.2);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`iterations: expected a non-negative integer, got ${k}`);
  return tf.tidy(() => {
    const two = tf.mul(tf.eye(d), 2);
    // X_1 = 2I - g without a product
    let x: tf.Tensor = k === 0 ? tf.broadcastTo(tf.eye(d), g.shape) : tf.sub(two, g);
    for (let i = 1; i < k; i++) x = tf.matMul(x, tf.sub(two, tf.matMul(g, x)));
    return x;
  });
}

/**
 * g^-1 for g = I + T near the identity ([..., d, d], any batch), with its residual
 * ||I - g X||_F per matrix (shape [...], the batch dimensions). Contract: when
 * ||g - I||_F <= maxNorm < 1 the result is within ||T||^(2^k) / (1 - ||T||) of g^-1 (Frobenius,
 * plus float32 rounding); beyond, a residual far from 0 (or NaN) flags the matrix.
 * No host read; differentiable to any order.
 */
export function invNearIdentityWithResidual(g: tf.Tensor, opts: NearIdentityInverseOptions = {}): { inv: tf.Tensor; residual: tf.Tensor } {
  return tf.tidy(() => {
    const x = newtonSchulz(g, opts);
    const eye = tf.eye(g.shape[g.rank - 1]);
    const residual = tf.sqrt(tf.sum(tf.square(tf.sub(eye, tf.matMul(g, x))), [-2, -1]));
    return { inv: x, residual };
  });
}

/** g^-1 for g = I + T near the identity; see invNearIdentityWithResidual for the contract. */
export function invNearIdentity(g: tf.Tensor, opts: NearIdentityInverseOptions = {}): tf.Tensor {
  return newtonSchulz(g, opts);
}
