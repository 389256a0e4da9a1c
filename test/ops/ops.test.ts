// The op table: every op the teleport objectives use, differentiated by tfjs (float32) at the
// orders it is used at, against finite differences of a float64 twin; on wasm and on cpu.
// Also: the matMul gradient override, the wasm matMul cache guard, the linear-algebra ops
// (values, batches, singular inputs) and the reason our leakyRelu exists.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { testBackends } from '../helpers/backend.js';
import {
  leakyRelu,
  leakyReluInv,
  exp,
  sigmoid,
  tanh,
  crossEntropy,
  softmax,
  inv,
  pinv,
  expm,
  SingularMatrixError,
  checkGradient,
  directionalDerivative,
  fdDerivative,
  gradientFD64,
  type Order,
} from '../../src/ops/index.js';
import {
  installOverrides,
  batchMatMulGradConfig,
  stockBatchMatMulGradConfig,
  restoreStockMatMulGradient,
} from '../../src/ops/overrides.js';
import { mat64, matmul64, inv64, pinv64, expm64, add64, eye64, type Mat64 } from '../../src/ops/linalg64.js';
import { invNearIdentity } from '../../src/ops/near-identity.js';
import { stream } from '../../src/rng/index.js';

const BACKENDS = testBackends(['wasm', 'cpu']);
const SLOPE = 0.1;

// Tolerances on |autodiff - fd| / max(|fd|, 1e-3), float32 autodiff against float64 FD, at
// least 10x above the largest error observed on wasm and cpu: most entries ~1e-7, order 3 of
// log and sqrt ~1e-5 and ~2e-6, expm order 1 ~1.5e-5, reshape/slice/concat order 2 ~7e-6.
// (Run with OPS_TEST_REPORT=1 to print them.)
const TOL: Record<Order, number> = { 1: 1e-4, 2: 1e-4, 3: 2e-4 };
const TOL_LINALG: Record<Order, number> = { 1: 2e-4, 2: 2e-4, 3: 5e-4 };

// ---------------------------------------------------------------------------------------------
// Inputs and float64 twins

type Shape = number[];
const size = (s: Shape) => s.reduce((p, q) => p * q, 1);

/** Uniform values in [lo, hi) from a named stream (float32, shared by both sides). */
function uniform(name: string, shape: Shape, lo: number, hi: number): tf.Tensor {
  return tf.tensor(stream(11, 'ops-test', name).uniformArray(size(shape), lo, hi), shape);
}

/** Values with |x| in [0.3, 1.5) and random signs: away from every kink. */
function awayFromZero(name: string, shape: Shape): tf.Tensor {
  const s = stream(11, 'ops-test', name, 'sign');
  const mag = stream(11, 'ops-test', name).uniformArray(size(shape), 0.3, 1.5);
  return tf.tensor(mag.map((m) => (s.next() < 0.5 ? -m : m)), shape);
}

/** A well-conditioned square matrix (or batch): 2 I + small noise. */
function wellConditioned(name: string, shape: Shape): tf.Tensor {
  const n = shape[shape.length - 1];
  return tf.tidy(() => tf.add(uniform(name, shape, -0.4, 0.4), tf.mul(2, tf.eye(n, n, shape.length > 2 ? (shape.slice(0, -2) as [number]) : undefined))));
}

/** Host float64 matrix i of a flat batch of [rows, cols] matrices. */
const matAt = (x: Float64Array, rows: number, cols: number, i = 0): Mat64 =>
  mat64(rows, cols, x.subarray(i * rows * cols, (i + 1) * rows * cols));

/** Apply a matrix function to every matrix of a flat batch; returns the flat result. */
function batchMap(x: Float64Array, shape: Shape, f: (m: Mat64) => Mat64): Float64Array {
  const [r, c] = shape.slice(-2);
  const outs: number[] = [];
  for (let i = 0; i < size(shape.slice(0, -2)); i++) outs.push(...f(matAt(x, r, c, i)).data);
  return Float64Array.from(outs);
}

const map64 = (x: Float64Array, f: (v: number) => number) => x.map(f);
const zip64 = (x: Float64Array, y: Float64Array, f: (u: number, v: number) => number) => x.map((u, i) => f(u, y[i]));

/** Row-major transpose of the last two axes of a [rows, cols] matrix. */
const t64 = (x: Float64Array, r: number, c: number) => {
  const o = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = x[i * c + j];
  return o;
};

function crossEntropy64(z: Float64Array, labels: number[], classes: number, k: number, batch = 1): Float64Array {
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    let total = 0;
    for (let j = 0; j < k; j++) {
      const col = Array.from({ length: classes }, (_, i) => z[b * classes * k + i * k + j]);
      const mx = Math.max(...col);
      const lse = Math.log(col.reduce((p, v) => p + Math.exp(v - mx), 0)) + mx;
      total += lse - col[labels[b * k + j]];
    }
    out[b] = total / k;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The op table

interface OpCase {
  name: string;
  inputs: () => tf.Tensor[];
  /** The op under test (its output may have any shape). */
  op: (xs: tf.Tensor[]) => tf.Tensor;
  /** Its float64 twin: flat row-major output. */
  op64: (xs: Float64Array[]) => Float64Array;
  orders: Order[];
  tol?: Record<Order, number>;
}

const LABELS = [2, 0, 3];
const LABELS_B = [2, 0, 3, 1, 1, 0];

const CASES: OpCase[] = [
  {
    name: 'matMul',
    inputs: () => [awayFromZero('mm-a', [3, 4]), awayFromZero('mm-b', [4, 2])],
    op: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    op64: ([a, b]) => matmul64(matAt(a, 3, 4), matAt(b, 4, 2)).data,
    orders: [1, 2, 3],
  },
  {
    name: 'matMul batched, transposed',
    inputs: () => [awayFromZero('mmb-a', [2, 4, 3]), awayFromZero('mmb-b', [2, 2, 4])],
    op: ([a, b]) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, true, true),
    op64: ([a, b]) => {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) {
        const at = mat64(3, 4, t64(matAt(a, 4, 3, i).data, 4, 3));
        const bt = mat64(4, 2, t64(matAt(b, 2, 4, i).data, 2, 4));
        out.push(...matmul64(at, bt).data);
      }
      return Float64Array.from(out);
    },
    orders: [1, 2, 3],
  },
  {
    name: 'add/sub',
    inputs: () => [awayFromZero('as-a', [2, 3]), awayFromZero('as-b', [2, 3]), awayFromZero('as-c', [3])],
    op: ([a, b, c]) => tf.sub(tf.add(a, b), c),
    op64: ([a, b, c]) => a.map((u, i) => u + b[i] - c[i % 3]),
    orders: [1, 2, 3],
  },
  {
    name: 'mul/div',
    inputs: () => [awayFromZero('md-a', [2, 3]), awayFromZero('md-b', [2, 3]), uniform('md-c', [2, 3], 0.5, 1.5)],
    op: ([a, b, c]) => tf.div(tf.mul(a, b), c),
    op64: ([a, b, c]) => a.map((u, i) => (u * b[i]) / c[i]),
    orders: [1, 2, 3],
  },
  {
    name: 'mul/div broadcast (each operand summed back to its shape)',
    inputs: () => [awayFromZero('mdb-a', [2, 3]), awayFromZero('mdb-b', [3]), uniform('mdb-c', [2, 1], 0.5, 1.5)],
    op: ([a, b, c]) => tf.div(tf.mul(b, a), tf.mul(c, b)),
    op64: ([a, b, c]) => a.map((u, i) => (b[i % 3] * u) / (c[Math.floor(i / 3)] * b[i % 3])),
    orders: [1, 2, 3],
  },
  {
    name: 'square',
    inputs: () => [awayFromZero('sq', [2, 3])],
    op: ([x]) => tf.square(x),
    op64: ([x]) => map64(x, (v) => v * v),
    orders: [1, 2, 3],
  },
  {
    name: 'pow (constant exponent 2.5)',
    inputs: () => [uniform('pow', [2, 3], 0.5, 1.5)],
    op: ([x]) => tf.pow(x, 2.5),
    op64: ([x]) => map64(x, (v) => v ** 2.5),
    orders: [1, 2, 3],
  },
  {
    name: 'sqrt',
    inputs: () => [uniform('sqrt', [2, 3], 0.5, 2)],
    op: ([x]) => tf.sqrt(x),
    op64: ([x]) => map64(x, Math.sqrt),
    orders: [1, 2, 3],
  },
  {
    name: 'log',
    inputs: () => [uniform('log', [2, 3], 0.5, 2)],
    op: ([x]) => tf.log(x),
    op64: ([x]) => map64(x, Math.log),
    orders: [1, 2, 3],
  },
  {
    name: 'abs',
    inputs: () => [awayFromZero('abs', [2, 3])],
    op: ([x]) => tf.abs(x),
    op64: ([x]) => map64(x, Math.abs),
    orders: [1, 2, 3],
  },
  {
    name: 'sum/mean over an axis',
    inputs: () => [awayFromZero('sm', [3, 4])],
    op: ([x]) => tf.concat([tf.sum(x, 0), tf.mean(x, 1)]),
    op64: ([x]) => {
      const s = [0, 1, 2, 3].map((j) => x[j] + x[4 + j] + x[8 + j]);
      const m = [0, 1, 2].map((i) => (x[4 * i] + x[4 * i + 1] + x[4 * i + 2] + x[4 * i + 3]) / 4);
      return Float64Array.from([...s, ...m]);
    },
    orders: [1, 2, 3],
  },
  {
    name: 'reshape/slice/concat/transpose',
    inputs: () => [awayFromZero('rs-a', [2, 6]), awayFromZero('rs-b', [4, 2])],
    op: ([a, b]) => {
      const r = tf.reshape(a, [3, 4]); // [3,4]
      const s = tf.slice(r, [1, 0], [2, 3]); // rows 1..2, cols 0..2
      const c = tf.concat([tf.transpose(s), tf.slice(b, [0, 0], [3, 2])], 1); // [3, 4]
      return c;
    },
    op64: ([a, b]) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push(a[4 + i], a[8 + i], b[2 * i], b[2 * i + 1]);
      return Float64Array.from(out);
    },
    orders: [1, 2, 3],
  },
  {
    name: 'relu',
    inputs: () => [awayFromZero('relu', [2, 3])],
    op: ([x]) => tf.relu(x),
    op64: ([x]) => map64(x, (v) => Math.max(v, 0)),
    orders: [1, 2, 3],
  },
  {
    name: 'leakyRelu (ours)',
    inputs: () => [awayFromZero('lrelu', [2, 3])],
    op: ([x]) => leakyRelu(x, SLOPE),
    op64: ([x]) => map64(x, (v) => (v > 0 ? v : SLOPE * v)),
    orders: [1, 2, 3],
  },
  {
    name: 'leakyReluInv',
    inputs: () => [awayFromZero('lrelu-inv', [2, 3])],
    op: ([x]) => leakyReluInv(x, SLOPE),
    op64: ([x]) => map64(x, (v) => (v > 0 ? v : v / SLOPE)),
    orders: [1, 2, 3],
  },
  {
    name: 'exp (safe)',
    inputs: () => [uniform('exp', [2, 3], -1.5, 1.5)],
    op: ([x]) => exp(x),
    op64: ([x]) => map64(x, Math.exp),
    orders: [1, 2, 3],
  },
  {
    name: 'sigmoid/tanh (safe)',
    inputs: () => [uniform('sig', [2, 3], -1.5, 1.5)],
    op: ([x]) => tf.concat([sigmoid(x), tanh(x)]),
    op64: ([x]) => Float64Array.from([...map64(x, (v) => 1 / (1 + Math.exp(-v))), ...map64(x, Math.tanh)]),
    orders: [1, 2, 3],
  },
  {
    name: 'crossEntropy [C,k]',
    inputs: () => [uniform('ce', [4, 3], -2, 2)],
    op: ([z]) => crossEntropy(z, tf.tensor1d(LABELS, 'int32')),
    op64: ([z]) => crossEntropy64(z, LABELS, 4, 3),
    orders: [1, 2],
  },
  {
    name: 'crossEntropy [B,C,k]',
    inputs: () => [uniform('ce-b', [2, 4, 3], -2, 2)],
    op: ([z]) => crossEntropy(z, tf.tensor2d(LABELS_B, [2, 3], 'int32')),
    op64: ([z]) => crossEntropy64(z, LABELS_B, 4, 3, 2),
    orders: [1, 2],
  },
  {
    name: 'softmax (safe) over axis 1 of [2,4,3]',
    inputs: () => [uniform('softmax-safe', [2, 4, 3], -2, 2)],
    op: ([z]) => softmax(z, 1),
    op64: ([z]) => {
      const o = new Float64Array(z.length);
      for (let b = 0; b < 2; b++)
        for (let j = 0; j < 3; j++) {
          const at = (i: number) => b * 12 + i * 3 + j;
          const mx = Math.max(...[0, 1, 2, 3].map((i) => z[at(i)]));
          const sum = [0, 1, 2, 3].reduce((p, i) => p + Math.exp(z[at(i)] - mx), 0);
          for (let i = 0; i < 4; i++) o[at(i)] = Math.exp(z[at(i)] - mx) / sum;
        }
      return o;
    },
    orders: [1, 2, 3],
  },
  {
    name: 'inv',
    inputs: () => [wellConditioned('inv', [3, 3])],
    op: ([a]) => inv(a),
    op64: ([a]) => inv64(matAt(a, 3, 3)).data,
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'inv batched [2,3,3]',
    inputs: () => [wellConditioned('inv-b', [2, 3, 3])],
    op: ([a]) => inv(a),
    op64: ([a]) => batchMap(a, [2, 3, 3], inv64),
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    // input T: the op is the on-device inverse of I + T, ||T||_F about 0.1 per matrix
    name: 'invNearIdentity batched [2,4,4]',
    inputs: () => [uniform('inv-near', [2, 4, 4], -0.04, 0.04)],
    op: ([t]) => invNearIdentity(tf.add(tf.eye(4), t)),
    op64: ([t]) => batchMap(t, [2, 4, 4], (m) => inv64(add64(eye64(4), m))),
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'pinv wide [2,4]',
    inputs: () => [awayFromZero('pinv-w', [2, 4])],
    op: ([a]) => pinv(a),
    op64: ([a]) => pinv64(matAt(a, 2, 4)).data,
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'pinv tall [4,2]',
    inputs: () => [awayFromZero('pinv-t', [4, 2])],
    op: ([a]) => pinv(a),
    op64: ([a]) => pinv64(matAt(a, 4, 2)).data,
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'pinv batched [2,2,3]',
    inputs: () => [awayFromZero('pinv-b', [2, 2, 3])],
    op: ([a]) => pinv(a),
    op64: ([a]) => batchMap(a, [2, 2, 3], pinv64),
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'expm (norm > 0.5: scaling and squaring)',
    inputs: () => [uniform('expm', [3, 3], -0.8, 0.8)],
    op: ([a]) => expm(a),
    op64: ([a]) => expm64(matAt(a, 3, 3)).data,
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
  {
    name: 'expm batched [2,3,3]',
    inputs: () => [uniform('expm-b', [2, 3, 3], -0.5, 0.5)],
    op: ([a]) => expm(a),
    op64: ([a]) => batchMap(a, [2, 3, 3], expm64),
    orders: [1, 2, 3],
    tol: TOL_LINALG,
  },
];

/**
 * A cubic readout of the op's output, so that even a linear op has a nonzero third
 * derivative: r(Y) = sum(c Y^3) + sum(d Y), with fixed random c, d.
 */
function withReadout(c: OpCase): { fTf: (xs: tf.Tensor[]) => tf.Scalar; f64: (xs: Float64Array[]) => number; xs: tf.Tensor[] } {
  const xs = c.inputs();
  const outShape = tf.tidy(() => c.op(xs).shape);
  const cw = uniform(`${c.name}/c`, outShape, -1, 1);
  const dw = uniform(`${c.name}/d`, outShape, -1, 1);
  const c64 = Float64Array.from(cw.dataSync());
  const d64 = Float64Array.from(dw.dataSync());
  return {
    xs,
    fTf: (ys) => {
      const y = c.op(ys);
      return tf.add(tf.sum(tf.mul(cw, tf.mul(y, tf.mul(y, y)))), tf.sum(tf.mul(dw, y))) as tf.Scalar;
    },
    f64: (ys) => c.op64(ys).reduce((p, v, i) => p + c64[i] * v * v * v + d64[i] * v, 0),
  };
}

// ---------------------------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`ops on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('the tape keeps saved tensors without Identity copies, float32 gradients without casts or reshapes, and leaks nothing', async () => {
      const x = tf.tensor1d([0.5, 1.5, 2.5]);
      const n0 = tf.memory().numTensors;
      const f = (t: tf.Tensor) => tf.sum(tf.reshape(tf.sub(tf.add(tf.div(tf.mul(tf.square(t), tf.log(t)), tf.sqrt(t)), t), 1), [3, 1])) as tf.Scalar;
      const profile = await tf.profile(() => tf.dispose(tf.grad(f)(x)));
      const names = profile.kernels.map((k) => k.name);
      assert.deepEqual(names.filter((n) => n === 'Identity' || n === 'Cast'), []);
      // native backends keep a shape per buffer: there a shape-changing reshape is a kernel
      if (['cpu', 'wasm'].includes(tf.getBackend())) assert.equal(names.filter((n) => n === 'Reshape').length, 1, 'the forward reshape only');
      assert.equal(tf.memory().numTensors, n0);
      // and the second derivative, which differentiates through the saved tensors
      const d2 = tf.tidy(() => directionalDerivative((t) => f(tf.add(x, t)), 2));
      const f64 = (t: number) => [0.5, 1.5, 2.5].reduce((p, v) => p + ((v + t) ** 2 * Math.log(v + t)) / Math.sqrt(v + t) + v + t - 1, 0);
      assert.ok(Math.abs(d2 - fdDerivative(f64, 2)) < 1e-3 * Math.abs(d2), `${d2} vs ${fdDerivative(f64, 2)}`);
      x.dispose();
    });

    for (const c of CASES) {
      test(`${c.name}: orders ${c.orders.join(',')} match float64 finite differences`, () => {
        const { fTf, f64, xs } = withReadout(c);
        const tol = c.tol ?? TOL;
        const result = checkGradient(fTf, f64, xs, { orders: c.orders, directions: 2, seed: 5 });
        if (process.env.OPS_TEST_REPORT) console.log(`# ${backend} ${c.name}: max rel error ${JSON.stringify(result.maxRelError)}`);
        for (const e of result.entries) {
          assert.ok(
            e.relError < tol[e.order],
            `${c.name} order ${e.order} direction ${e.direction}: autodiff ${e.autodiff} vs fd ${e.fd} (rel ${e.relError.toExponential(2)} > ${tol[e.order]})`,
          );
        }
      });
    }

    test('stock tf.leakyRelu throws in second order (why ours exists); ours agrees in first order', () => {
      const x = awayFromZero('stock-lrelu', [2, 3]);
      const f = (op: (y: tf.Tensor) => tf.Tensor) => (t: tf.Scalar) => tf.sum(tf.mul(op(tf.add(x, t)), op(tf.add(x, t)))) as tf.Scalar;
      const stock = f((y) => tf.leakyRelu(y, SLOPE));
      const ours = f((y) => leakyRelu(y, SLOPE));
      assert.ok(Math.abs(directionalDerivative(stock, 1) - directionalDerivative(ours, 1)) < 1e-5);
      assert.throws(() => directionalDerivative(stock, 2), /gradient function not found/i);
      assert.ok(Number.isFinite(directionalDerivative(ours, 2)));
    });

    test('the checker catches a silently wrong second derivative (stock tf.softmax)', () => {
      const z = uniform('softmax', [2, 4], -1, 1);
      const w = uniform('softmax-w', [2, 4], -1, 1);
      const r = checkGradient(
        ([y]) => {
          const p = tf.softmax(y);
          return tf.sum(tf.mul(w, tf.mul(p, p))) as tf.Scalar;
        },
        ([y]) => {
          let s = 0;
          for (let i = 0; i < 2; i++) {
            const row = Array.from(y.subarray(4 * i, 4 * i + 4), Math.exp);
            const tot = row.reduce((p, v) => p + v, 0);
            row.forEach((v, j) => (s += w.dataSync()[4 * i + j] * (v / tot) ** 2));
          }
          return s;
        },
        [z],
        { orders: [1, 2] },
      );
      assert.ok((r.maxRelError[1] ?? 1) < TOL[1], 'first order is right');
      assert.ok((r.maxRelError[2] ?? 0) > 1e-2, `second order is wrong: ${r.maxRelError[2]}`);
    });

    test('inv and pinv of rank-deficient matrices throw SingularMatrixError', () => {
      const cases: [string, tf.Tensor][] = [
        ['inv square', tf.tensor2d([1, 2, 2, 4], [2, 2])],
        ['pinv wide', tf.tensor2d([1, 2, 3, 2, 4, 6], [2, 3])],
        ['pinv tall', tf.tensor2d([1, 2, 2, 4, 3, 6], [3, 2])],
      ];
      for (const [name, a] of cases) {
        const f = name.startsWith('inv') ? inv : pinv;
        assert.throws(() => f(a), (e: unknown) => e instanceof SingularMatrixError && /rank deficient/.test((e as Error).message), name);
      }
      const batch = tf.stack([tf.eye(2), tf.tensor2d([1, 2, 2, 4], [2, 2])]);
      assert.throws(() => inv(batch), (e: unknown) => e instanceof SingularMatrixError && /batch element 1/.test((e as Error).message));
    });

    test('pinv of a square ill-conditioned matrix: its gradient is -P^T G P^T to float32 precision', () => {
      // The full-rank pinv gradient has two correction terms that vanish for a square input;
      // computed anyway they cancel only to cond(A) * eps (1e-5 relative here, backend
      // dependent), which a teleport on a square layer amplifies into percent-level errors.
      const n = 20;
      const rng = stream(3, 'pinv-square');
      const orth = (): number[][] => {
        const q: number[][] = [];
        for (let i = 0; i < n; i++) {
          let v = Array.from(rng.normalArray(n));
          for (const u of q) {
            const d = v.reduce((p, x, j) => p + x * u[j], 0);
            v = v.map((x, j) => x - d * u[j]);
          }
          const norm = Math.hypot(...v);
          q.push(v.map((x) => x / norm));
        }
        return q;
      };
      const [q1, q2] = [orth(), orth()];
      const sv = Array.from({ length: n }, (_, i) => 10 ** ((-3 * i) / (n - 1))); // cond 1e3
      const rows = q1.map((r) => q2[0].map((_, j) => r.reduce((p, x, k) => p + x * sv[k] * q2[k][j], 0)));
      const g = Array.from(rng.uniformArray(n * n, -1, 1));
      const a64 = mat64(n, n, Float32Array.from(rows.flat()));
      const pT = t64(inv64(a64).data, n, n);
      const want = matmul64(matmul64(mat64(n, n, pT), mat64(n, n, Float32Array.from(g))), mat64(n, n, pT)).data.map((v) => -v);
      const got = tf.tidy(() => {
        const c = tf.tensor2d(g, [n, n]);
        return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(c, pinv(x))))(tf.tensor2d(rows)).dataSync();
      });
      let num = 0;
      let den = 0;
      want.forEach((v, i) => {
        num += (got[i] - v) ** 2;
        den += v * v;
      });
      assert.ok(Math.sqrt(num / den) < 1e-6, `relative error ${Math.sqrt(num / den)}`);
    });

    test('inv, pinv, expm of batches equal the float64 host result per matrix', () => {
      const a = wellConditioned('vals-inv', [3, 4, 4]);
      const w = awayFromZero('vals-pinv', [3, 3, 5]);
      const e = uniform('vals-expm', [3, 4, 4], -1, 1);
      const check = (got: tf.Tensor, x: tf.Tensor, f: (m: Mat64) => Mat64, tol: number) => {
        const want = batchMap(Float64Array.from(x.dataSync()), x.shape, f);
        const g = got.dataSync();
        const scale = want.reduce((p, v) => Math.max(p, Math.abs(v)), 0);
        want.forEach((v, i) => assert.ok(Math.abs(g[i] - v) <= tol * scale, `entry ${i}: ${g[i]} vs ${v}`));
      };
      check(inv(a), a, inv64, 1e-6);
      check(pinv(w), w, pinv64, 1e-6);
      check(expm(e), e, expm64, 1e-5);
    });

    test('expm: rotation generator gives the rotation matrix (also with scaling)', () => {
      for (const theta of [0.3, 3.0]) {
        const a = tf.tensor2d([0, -theta, theta, 0], [2, 2]);
        const want = [Math.cos(theta), -Math.sin(theta), Math.sin(theta), Math.cos(theta)];
        const got = expm(a).dataSync();
        want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-5, `theta ${theta} entry ${i}: ${got[i]} vs ${v}`));
      }
    });

    test('gradient checker: helpers agree with closed forms and leak no tensors', () => {
      // d^n/dt^n exp(2t) at 0 = 2^n
      for (const n of [1, 2, 3] as Order[]) {
        assert.ok(Math.abs(fdDerivative((t) => Math.exp(2 * t), n) - 2 ** n) < 1e-7);
        assert.ok(Math.abs(directionalDerivative((t) => exp(tf.mul(2, t)) as tf.Scalar, n) - 2 ** n) < 1e-5);
      }
      const g = gradientFD64((x) => x[0] * x[0] * x[1] + Math.sin(x[1]), [1.5, -0.5]);
      assert.ok(Math.abs(g[0] - 2 * 1.5 * -0.5) < 1e-9 && Math.abs(g[1] - (1.5 * 1.5 + Math.cos(-0.5))) < 1e-9);
      const x = awayFromZero('leak', [3, 3]);
      const before = tf.memory().numTensors;
      checkGradient(([y]) => tf.sum(tf.square(inv(tf.add(y, tf.mul(3, tf.eye(3)))))) as tf.Scalar, ([y]) => {
        const m = matAt(y, 3, 3);
        for (let i = 0; i < 3; i++) m.data[i * 4] += 3;
        return inv64(m).data.reduce((p, v) => p + v * v, 0);
      }, [x], { directions: 1 });
      assert.equal(tf.memory().numTensors, before);
    });

    describe('matMul gradient override', () => {
      type MmCase = { a: Shape; b: Shape; ta?: boolean; tb?: boolean };
      const MM: MmCase[] = [
        { a: [1, 5], b: [5, 3] },
        { a: [4, 5], b: [5, 3] },
        { a: [4, 5], b: [5, 1] },
        { a: [1, 5], b: [3, 5], tb: true },
        { a: [5, 1], b: [5, 3], ta: true },
        { a: [5, 4], b: [3, 5], ta: true, tb: true },
        { a: [5, 1], b: [1, 5], ta: true, tb: true },
        { a: [3, 1, 5], b: [3, 5, 4] },
        { a: [3, 1, 5], b: [3, 4, 5], tb: true },
        { a: [3, 5, 1], b: [3, 5, 4], ta: true },
        { a: [2, 4, 5], b: [2, 5, 3] },
        // large enough (>= 1024 entries) for the explicit-transpose / reoriented paths
        { a: [1, 40], b: [40, 30] },
        { a: [1, 40], b: [30, 40], tb: true },
        { a: [40, 1], b: [40, 30], ta: true },
        { a: [30, 40], b: [40, 35] },
        { a: [40, 30], b: [35, 40], ta: true, tb: true },
        { a: [1, 150], b: [150, 120] },
        { a: [1, 150], b: [120, 150], tb: true },
        { a: [4, 1], b: [1, 3] },
        { a: [2, 4, 1], b: [2, 1, 3] },
      ];
      const label = (c: MmCase) => `[${c.a}]${c.ta ? 'ᵀ' : ''} x [${c.b}]${c.tb ? 'ᵀ' : ''}`;

      /** First- and second-order gradients of a cubic readout of op(a) op(b). */
      function derivs(c: MmCase): Float32Array[] {
        return tf.tidy(() => {
          const a = awayFromZero(`ov-a-${label(c)}`, c.a);
          const b = awayFromZero(`ov-b-${label(c)}`, c.b);
          const f = (x: tf.Tensor, y: tf.Tensor) => {
            const z = tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, c.ta, c.tb);
            return tf.sum(tf.mul(z, tf.mul(z, z)));
          };
          const first = tf.grads(f)([a, b]);
          // second order: gradient of the squared norm of the first-order gradient
          const second = tf.grads((x: tf.Tensor, y: tf.Tensor) => {
            const [gx, gy] = tf.grads(f)([x, y]);
            return tf.add(tf.sum(tf.square(gx)), tf.sum(tf.square(gy)));
          })([a, b]);
          return [...first, ...second].map((t) => t.dataSync() as Float32Array);
        });
      }

      for (const c of MM) {
        test(`${label(c)}: 1st and 2nd order equal the stock gradient`, () => {
          restoreStockMatMulGradient();
          let stock: Float32Array[];
          try {
            stock = derivs(c);
          } finally {
            installOverrides();
          }
          const ours = derivs(c);
          ours.forEach((o, k) => {
            const s = stock[k];
            const scale = s.reduce((p, v) => Math.max(p, Math.abs(v)), 1e-6);
            o.forEach((v, i) => assert.ok(Math.abs(v - s[i]) <= 1e-5 * scale, `output ${k} entry ${i}: ${v} vs stock ${s[i]}`));
          });
        });
      }

      test('broadcast batch dimensions (the stock gradient throws there) match float64 FD', () => {
        const a = awayFromZero('bc-a', [3, 2, 4]);
        const b = awayFromZero('bc-b', [4, 2]);
        restoreStockMatMulGradient();
        try {
          assert.throws(() => tf.tidy(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D)))([a, b])));
        } finally {
          installOverrides();
        }
        const r = checkGradient(
          ([x, y]) => {
            const z = tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D);
            return tf.sum(tf.mul(z, tf.mul(z, z))) as tf.Scalar;
          },
          ([x, y]) => {
            let s = 0;
            for (let i = 0; i < 3; i++) s += matmul64(matAt(x, 2, 4, i), matAt(y, 4, 2)).data.reduce((p, v) => p + v ** 3, 0);
            return s;
          },
          [a, b],
          { directions: 2, seed: 9 },
        );
        for (const e of r.entries) assert.ok(e.relError < TOL[e.order], `order ${e.order}: ${e.autodiff} vs ${e.fd}`);
      });

      test('installOverrides is idempotent', () => {
        installOverrides();
        const kernel = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
        installOverrides();
        assert.equal(tf.getGradient('BatchMatMul'), batchMatMulGradConfig);
        assert.notEqual(stockBatchMatMulGradConfig, batchMatMulGradConfig);
        assert.equal(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc, kernel);
      });
    });

    test('matMul with a reshaped right operand (wasm operator-cache guard)', () => {
      // On wasm, the fast matMul path caches the right operand by buffer id; a reshape shares
      // the buffer. Without the guard the second product reads a stale operator.
      tf.tidy(() => {
        const w = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
        assert.deepEqual(Array.from(tf.matMul(tf.tensor2d([1, 1], [1, 2]), w).dataSync()), [5, 7, 9]);
        const y = tf.tensor2d([1, 0, 0, 0, 1, 0], [2, 3]);
        assert.deepEqual(Array.from(tf.matMul(y, tf.reshape(w, [3, 2])).dataSync()), [1, 2, 3, 4]);
      });
    });
  });
}
