// A vector-matrix product of our own for the wasm backend: y = x W for one row x [1, K] and
// W [K, N], reading W as it is. XNNPACK, which the wasm backend's products call, packs a weight
// matrix the first time a product uses it, at many times the cost of a product
// (docs/speed/xnn-packing.json), and meta-training changes every LSTM weight once per window; at
// one trajectory a weight is used too few times to pay for its packing. This product does not
// pack.
//
// Each output is sum_k x[k] W[k, n], one multiply and one add per term in the order of k from
// 0, as XNNPACK's wasm SIMD kernels sum: the results are the stock product's to the bit
// (test/ops/wasm-kernels.test.ts compares them over shapes that are not multiples of 4). W is
// read row after row, in memory order, y staying in the cache: y += x[k] W[k, :], 4 columns at a
// time, then one. With the other fused wasm kernels, off with SYMTELE_WASM_KERNELS=0.
import type * as tf from '@tensorflow/tfjs';
import { wasmKernelsEnabled } from './wasm-kernels.js';
import { f32const, f32x4, heapOffset, i32, loadF32, localGet, localSet, loopWhile, moduleBytes, onHeap, simd, storeF32, type Instr, type WasmHeapBackend } from './wasm-module.js';

// parameters: x, W, y (byte offsets), K, N; locals: n, k, the address of W's row k, x[k]
// splatted, x[k]
const [X, W, Y, K, N] = [0, 1, 2, 3, 4];
const [NI, KI, WP, XS, XK] = [5, 6, 7, 8, 9];

/** y[n..] += x[k] W[k, n..] for one vector (4 columns) or one column. */
function axpy(vector: boolean): Instr[] {
  const y = [localGet(Y), localGet(NI), ...i32.const(2), i32.shl, i32.add];
  const w = [localGet(WP), localGet(NI), ...i32.const(2), i32.shl, i32.add];
  return vector
    ? [...y, ...y, ...simd.load, localGet(XS), ...w, ...simd.load, f32x4('mul'), f32x4('add'), ...simd.store]
    : [...y, ...y, ...loadF32, localGet(XK), ...w, ...loadF32, 0x94, 0x92, ...storeF32];
}

/** Over n in steps of `by` while `by` columns remain: `body`. */
const columns = (by: number, body: Instr[]) => loopWhile([localGet(NI), ...i32.const(by), i32.add, localGet(N), i32.leU], [...body, localGet(NI), ...i32.const(by), i32.add, localSet(NI)]);

function gemvBytes(): Uint8Array {
  // y = 0, then row by row of W (read in order, y stays in the cache): y += x[k] W[k, :]
  const zero = [...i32.const(0), localSet(NI), ...columns(4, [localGet(Y), localGet(NI), ...i32.const(2), i32.shl, i32.add, ...f32const(0), ...simd.splat, ...simd.store]), ...columns(1, [localGet(Y), localGet(NI), ...i32.const(2), i32.shl, i32.add, ...f32const(0), ...storeF32])];
  const row = [
    localGet(X), localGet(KI), ...i32.const(2), i32.shl, i32.add, ...loadF32, localSet(XK),
    localGet(XK), ...simd.splat, localSet(XS),
    ...i32.const(0), localSet(NI),
    ...columns(16, [...axpy(true), localGet(NI), ...i32.const(4), i32.add, localSet(NI), ...axpy(true), localGet(NI), ...i32.const(4), i32.add, localSet(NI), ...axpy(true), localGet(NI), ...i32.const(4), i32.add, localSet(NI), ...axpy(true), localGet(NI), ...i32.const(-12), i32.add, localSet(NI)]),
    ...columns(4, axpy(true)),
    ...columns(1, axpy(false)),
    localGet(WP), localGet(N), ...i32.const(2), i32.shl, i32.add, localSet(WP),
    localGet(KI), ...i32.const(1), i32.add, localSet(KI),
  ];
  return moduleBytes({
    name: 'gemv',
    params: ['i32', 'i32', 'i32', 'i32', 'i32'],
    locals: ['i32', 'i32', 'i32', 'v128', 'f32'],
    body: [...zero, localGet(W), localSet(WP), ...i32.const(0), localSet(KI), ...loopWhile([localGet(KI), localGet(K), i32.ltU], row)],
  });
}

const gemv = onHeap('gemv', gemvBytes);

/**
 * The product of the wasm BatchMatMul kernel's inputs by this GEMV, where the fused kernels are on and
 * they are one row by one matrix (a [..., 1, K], b [..., K, N] with every leading dimension 1, no
 * transposes, float32); else undefined.
 */
export function tryGemv(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, backend: unknown): tf.TensorInfo | undefined {
  if (!wasmKernelsEnabled() || transposeA || transposeB || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  // one row and one matrix: every leading (batch) dimension 1, a's rows 1
  const lead = (s: readonly number[]) => s.slice(0, -2).every((d) => d === 1);
  if (a.shape.length < 2 || b.shape.length < 2 || !lead(a.shape) || !lead(b.shape) || a.shape.at(-2) !== 1) return undefined;
  const be = backend as WasmHeapBackend;
  const [k, n] = [b.shape.at(-2)!, b.shape.at(-1)!];
  const out = be.makeOutput([...Array(Math.max(a.shape.length, b.shape.length) - 2).fill(1), 1, n], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(be, t);
  gemv(be)(at(a), at(b), at(out), k, n);
  return out;
}
