// Process-wide replacements installed into tfjs by `installOverrides()` (called by initBackend).
//
// 1. A gradient for BatchMatMul (tf.matMul) with the semantics of the stock one (transposeA /
//    transposeB) that avoids the slow paths of wasm's matMul (outer products of one-row
//    inputs, transposed operands; see matMulLean), and that also accepts broadcast batch
//    dimensions (the stock gradient throws there: it returns the broadcast shape). It is
//    written with matMul / mul / reshape / transpose / sum only, so it is differentiable
//    again, to any order, through itself.
// 2. A guard around the wasm BatchMatMul and _FusedMatMul kernels. Their fast (XNNPACK) path
//    caches a packed copy of the right operand keyed by its buffer id only; a reshape shares
//    the buffer, so using reshape(W) as the right operand after W with another matrix shape
//    silently reuses the stale operator: wrong numbers, or a heap overflow
//    ("memory access out of bounds"). The guard hands such a call a fresh copy of the operand.
// 3. The tape's saved tensors without copies and elementwise gradients without casts
//    (./tape-overrides.ts).
import * as tf from '@tensorflow/tfjs';
import { tryGemv } from './wasm-gemv.js';
import { installTapeOverrides } from './tape-overrides.js';

type Tensor = tf.Tensor;
type MatMulAttrs = { transposeA: boolean; transposeB: boolean };

const KERNEL = 'BatchMatMul';

// ---------------------------------------------------------------------------------------------
// Gradient of BatchMatMul

/** True when the last two dimensions hold a row or a column: its transpose is a reshape. */
function isVectorLike(shape: readonly number[]): boolean {
  const r = shape.length;
  return shape[r - 1] === 1 || shape[r - 2] === 1;
}

/** The transpose of a row or column matrix (batched or not) as a free reshape. */
function reshapeT(x: Tensor): Tensor {
  const s = x.shape;
  const r = s.length;
  return tf.reshape(x, [...s.slice(0, r - 2), s[r - 1], s[r - 2]]);
}

/** Shape [rows, cols] of op(x), op = transpose when t. */
function opDims(x: Tensor, t: boolean): [number, number] {
  const r = x.rank;
  return t ? [x.shape[r - 1], x.shape[r - 2]] : [x.shape[r - 2], x.shape[r - 1]];
}

const batchSize = (shape: readonly number[]) => shape.slice(0, -2).reduce((p, q) => p * q, 1);

/**
 * Size thresholds (entries of the transposed operand) measured on wasm with fresh operands,
 * as in a backward pass. A transpose flag, or a batch, sends a wasm product to a strided
 * scalar loop; an unflagged single product goes to XNNPACK, which first packs its right
 * operand. Transposing a square operand explicitly pays from 32x32 on (2x at 32x32, 5x at
 * 64x64, 8x at 128x128). When the result is a row or a column, packing a large operand for
 * one output row does not pay; the reoriented product (op(y)^T op(x)^T)^T does, from about
 * 128x128 entries on (1.6x at 300x1200, a loss at 64x64).
 */
const EXPLICIT_TRANSPOSE_MIN = 1024;
const REORIENT_MIN = 16384;

/** Transpose of the last two axes of a general (not row/column) matrix. */
function fullT(x: Tensor): Tensor {
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/**
 * op(x) op(y) with op = transpose when the flag is set; the same value as
 * tf.matMul(x, y, tx, ty). On wasm it is computed in the way that is cheapest there (other
 * backends get the plain flagged product):
 * - a single product whose operands and result all have fewer than 1024 entries is left as
 *   it is: one kernel call costs less than any rearrangement;
 * - an outer product (inner dimension 1) is a broadcast multiply (15x faster at 300x1200);
 * - the transpose of a row or column operand is a free reshape;
 * - single (unbatched) products with a large transposed operand: a row/column result is
 *   computed as (op(y)^T op(x)^T)^T, which needs no transpose; otherwise the large operand
 *   is transposed explicitly.
 * Batched products always take the scalar loop on wasm; there only the broadcast multiply and
 * the reshapes apply.
 */
function matMulLean(x: Tensor, y: Tensor, tx: boolean, ty: boolean): Tensor {
  // tuned for wasm only: on cpu a broadcast multiply is ~8x slower than the flagged product
  if (tf.getBackend() !== 'wasm') return tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, tx, ty);
  const [rows, inner] = opDims(x, tx);
  const [, cols] = opDims(y, ty);
  const single = batchSize(x.shape) === 1 && batchSize(y.shape) === 1;
  // small single products: one kernel call is cheapest, whatever path it takes
  if (single && Math.max(x.size, y.size, rows * cols) < EXPLICIT_TRANSPOSE_MIN) {
    return tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, tx, ty);
  }
  const xv = isVectorLike(x.shape);
  const yv = isVectorLike(y.shape);
  const xx = tx && xv ? reshapeT(x) : x;
  const yy = ty && yv ? reshapeT(y) : y;
  const fx = tx && !xv;
  const fy = ty && !yv;
  // op(x) is a column and op(y) a row, so no flag is left
  if (inner === 1) return tf.mul(xx, yy);
  if (!single || !(fx || fy)) return tf.matMul(xx as tf.Tensor3D, yy as tf.Tensor3D, fx, fy);
  if (rows === 1 || cols === 1) {
    // (op(y)^T op(x)^T)^T is flag-free when every operand it leaves untransposed is a vector.
    const big = (fx && x.size >= REORIENT_MIN) || (fy && y.size >= REORIENT_MIN);
    if (big && (ty || yv) && (tx || xv)) {
      const ly = ty ? y : reshapeT(y);
      const lx = tx ? x : reshapeT(x);
      return reshapeT(tf.matMul(ly as tf.Tensor3D, lx as tf.Tensor3D));
    }
    return tf.matMul(xx as tf.Tensor3D, yy as tf.Tensor3D, fx, fy);
  }
  const tX = fx && x.size >= EXPLICIT_TRANSPOSE_MIN;
  const tY = fy && y.size >= EXPLICIT_TRANSPOSE_MIN;
  return tf.matMul((tX ? fullT(x) : xx) as tf.Tensor3D, (tY ? fullT(y) : yy) as tf.Tensor3D, fx && !tX, fy && !tY);
}

/** Sum a gradient over the batch dimensions that were broadcast, back to the input's shape. */
function reduceToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(summed, [...shape]);
}

/** Gradients of op(a) op(b) w.r.t. a and b, as in tfjs-core's batchMatMulGradConfig. */
function matMulGradFunc(dy: Tensor | Tensor[], saved: Tensor[], attrs: tf.NamedAttrMap): ReturnType<tf.GradFunc> {
  const g = dy as Tensor;
  const [a, b] = saved;
  const { transposeA, transposeB } = attrs as unknown as MatMulAttrs;
  let ga: () => Tensor;
  let gb: () => Tensor;
  if (!transposeA && !transposeB) {
    ga = () => matMulLean(g, b, false, true);
    gb = () => matMulLean(a, g, true, false);
  } else if (!transposeA && transposeB) {
    ga = () => matMulLean(g, b, false, false);
    gb = () => matMulLean(g, a, true, false);
  } else if (transposeA && !transposeB) {
    ga = () => matMulLean(b, g, false, true);
    gb = () => matMulLean(a, g, false, false);
  } else {
    ga = () => matMulLean(b, g, true, true);
    gb = () => matMulLean(g, a, true, true);
  }
  return { a: () => reduceToShape(ga(), a.shape), b: () => reduceToShape(gb(), b.shape) };
}

export const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: KERNEL,
  inputsToSave: ['a', 'b'],
  gradFunc: matMulGradFunc,
};

/** tfjs-core's own BatchMatMul gradient, captured when this module loads (for tests). */
export const stockBatchMatMulGradConfig: tf.GradConfig = tf.getGradient(KERNEL);

// ---------------------------------------------------------------------------------------------
// Guard for the wasm matMul operator cache

/** The parts of the wasm backend the guard touches. */
interface WasmBackendLike {
  dataIdMap: { get(dataId: object): object | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

const GUARDED = Symbol('symtele.matMulGuard');
type GuardedKernelFunc = tf.KernelFunc & { [GUARDED]?: true };

/** Matrix shape each buffer was first used with as the cached (right) operand. */
const firstUse = new WeakMap<object, string>();

function guardKernelFunc(inner: tf.KernelFunc): GuardedKernelFunc {
  const guarded: GuardedKernelFunc = (args) => {
    const { inputs, attrs } = args;
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const { transposeA, transposeB } = attrs as unknown as MatMulAttrs;
    const gemv = tryGemv(a, b, transposeA, transposeB, args.backend);
    if (gemv) return gemv;
    // Only the untransposed single-matrix path goes through the operator cache.
    if (transposeA || transposeB || batchSize(a.shape) !== 1 || batchSize(b.shape) !== 1) return inner(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const record = backend.dataIdMap.get(b.dataId as object);
    if (record === undefined) return inner(args);
    const r = b.shape.length;
    const key = `${b.shape[r - 2]}x${b.shape[r - 1]}`;
    const seen = firstUse.get(record);
    if (seen === undefined) firstUse.set(record, key);
    if (seen === undefined || seen === key) return inner(args);
    const copy = backend.makeOutput([...b.shape], b.dtype);
    backend.typedArrayFromHeap(copy).set(backend.typedArrayFromHeap(b));
    try {
      return inner({ ...args, inputs: { ...inputs, b: copy } });
    } finally {
      backend.disposeData(copy.dataId as object);
    }
  };
  guarded[GUARDED] = true;
  return guarded;
}

function guardWasmKernel(kernelName: string): void {
  let config: tf.KernelConfig | undefined;
  try {
    config = tf.getKernel(kernelName, 'wasm');
  } catch {
    config = undefined;
  }
  if (config === undefined || (config.kernelFunc as GuardedKernelFunc)[GUARDED]) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...config, kernelFunc: guardKernelFunc(config.kernelFunc) });
}

// ---------------------------------------------------------------------------------------------

/** Install every override; calling it again changes nothing. */
export function installOverrides(): void {
  if (tf.getGradient(KERNEL) !== batchMatMulGradConfig) tf.registerGradient(batchMatMulGradConfig);
  guardWasmKernel(KERNEL);
  guardWasmKernel('_FusedMatMul');
  installTapeOverrides();
}

/** Put tfjs's own BatchMatMul gradient back (benchmarks and tests). The kernel guard stays. */
export function restoreStockMatMulGradient(): void {
  tf.registerGradient(stockBatchMatMulGradConfig);
}
