// Host-side float64 dense linear algebra. tfjs has no float64 dtype and no inverse / pinv /
// solve, so the forward values of those ops are computed here and handed back as float32.
// Matrices are row-major Float64Arrays with explicit shapes.

export interface Mat64 {
  rows: number;
  cols: number;
  data: Float64Array;
}

export class SingularMatrixError extends Error {}

export const mat64 = (rows: number, cols: number, data?: ArrayLike<number>): Mat64 => ({
  rows,
  cols,
  data: data ? Float64Array.from(data) : new Float64Array(rows * cols),
});

export function eye64(n: number): Mat64 {
  const m = mat64(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function transpose64(a: Mat64): Mat64 {
  const t = mat64(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

export function matmul64(a: Mat64, b: Mat64): Mat64 {
  if (a.cols !== b.rows) throw new Error(`matmul64: shapes [${a.rows},${a.cols}] x [${b.rows},${b.cols}]`);
  const c = mat64(a.rows, b.cols);
  const { data: A } = a, { data: B } = b, { data: C } = c;
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const aik = A[i * a.cols + k];
      if (aik === 0) continue;
      const bo = k * b.cols, co = i * b.cols;
      for (let j = 0; j < b.cols; j++) C[co + j] += aik * B[bo + j];
    }
  }
  return c;
}

export function add64(a: Mat64, b: Mat64, scaleB = 1): Mat64 {
  const c = mat64(a.rows, a.cols);
  for (let i = 0; i < c.data.length; i++) c.data[i] = a.data[i] + scaleB * b.data[i];
  return c;
}

export function scale64(a: Mat64, s: number): Mat64 {
  const c = mat64(a.rows, a.cols);
  for (let i = 0; i < c.data.length; i++) c.data[i] = s * a.data[i];
  return c;
}

/** 1-norm (max column sum), used for conditioning checks and expm scaling. */
export function norm1_64(a: Mat64): number {
  let best = 0;
  for (let j = 0; j < a.cols; j++) {
    let s = 0;
    for (let i = 0; i < a.rows; i++) s += Math.abs(a.data[i * a.cols + j]);
    best = Math.max(best, s);
  }
  return best;
}

/**
 * Inverse by Gauss–Jordan elimination with partial pivoting. Throws SingularMatrixError when
 * a pivot falls below `rtol` times the largest entry (the matrix is numerically singular).
 */
export function inv64(a: Mat64, rtol = 1e-13): Mat64 {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`inv64: matrix is ${a.rows}x${a.cols}, expected square`);
  const w = 2 * n;
  const m = new Float64Array(n * w);
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = a.data[i * n + j];
      m[i * w + j] = v;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    m[i * w + n + i] = 1;
  }
  const tol = rtol * (maxAbs || 1);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * w + col]) > Math.abs(m[piv * w + col])) piv = r;
    const p = m[piv * w + col];
    if (!(Math.abs(p) > tol)) throw new SingularMatrixError(`matrix of size ${n} is singular (pivot ${p.toExponential(2)} in column ${col})`);
    if (piv !== col) {
      for (let j = 0; j < w; j++) {
        const t = m[col * w + j];
        m[col * w + j] = m[piv * w + j];
        m[piv * w + j] = t;
      }
    }
    const inv = 1 / p;
    for (let j = 0; j < w; j++) m[col * w + j] *= inv;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * w + col];
      if (f === 0) continue;
      for (let j = 0; j < w; j++) m[r * w + j] -= f * m[col * w + j];
    }
  }
  const out = mat64(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out.data[i * n + j] = m[i * w + n + j];
  return out;
}

/**
 * Pseudo-inverse of a full-rank matrix through the Gram matrix of its smaller side:
 * A^T (A A^T)^-1 for a wide A, (A^T A)^-1 A^T for a tall one. Rank deficiency throws.
 */
export function pinv64(a: Mat64): Mat64 {
  const at = transpose64(a);
  if (a.rows <= a.cols) return matmul64(at, inv64(matmul64(a, at)));
  return matmul64(inv64(matmul64(at, a)), at);
}

/** Matrix exponential: Taylor series of degree 18 with scaling and squaring (float64). */
export function expm64(a: Mat64): Mat64 {
  const n = a.rows;
  const nrm = norm1_64(a);
  const s = nrm > 0.5 ? Math.ceil(Math.log2(nrm / 0.5)) : 0;
  const as = scale64(a, 2 ** -s);
  let term = eye64(n);
  let sum = eye64(n);
  for (let k = 1; k <= 18; k++) {
    term = scale64(matmul64(term, as), 1 / k);
    sum = add64(sum, term);
  }
  for (let i = 0; i < s; i++) sum = matmul64(sum, sum);
  return sum;
}
