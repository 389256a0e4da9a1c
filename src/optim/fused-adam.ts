// Adam's update of one parameter as one wasm kernel: one pass over memory instead of thirteen
// elementwise kernels. The learner's outer Adam steps every meta-parameter (4.4 M of them for
// LSTM(update,tele)) once per window, which op by op is about a third of a window at B = 1.
//
// The kernel is a small WebAssembly SIMD function (./wasm-module.ts writes its bytes) that reads
// and writes tfjs's own wasm heap, registered as a tfjs kernel of the wasm backend. It computes
// the op-by-op rule's operations in its order, each one IEEE float32 (wasm's f32x4 arithmetic
// and square root are correctly rounded, as are the wasm backend's kernels), so the numbers are
// the same to the bit. Other backends keep the op-by-op rule.
import * as tf from '@tensorflow/tfjs';
import { registerSwitch, withSwitch } from '../ops/flags.js';
import { f32x4, i32, loadF32, localGet, localSet, moduleBytes, simd, storeF32, loopWhile, type Instr } from '../ops/wasm-module.js';

export const ADAM_KERNEL = 'SymteleAdamStep';

/** The tfjs flag (and environment variable) that turns the fused step off: SYMTELE_FUSED_ADAM=0. */
export const FUSED_ADAM_FLAG = 'SYMTELE_FUSED_ADAM';
const fusedAdamEnabled = registerSwitch(FUSED_ADAM_FLAG, true);

/** `fn` with the fused step on or off (A/B timing and tests), the flag's value before restored after. */
export const withFusedAdam = <T>(on: boolean, fn: () => Promise<T>): Promise<T> => withSwitch(FUSED_ADAM_FLAG, on, fn);

/** The rule's constants (each rounded to float32 where it is used, as the op-by-op rule's scalars are). */
export interface AdamConstants {
  b1: number;
  b2: number;
  /** lr / (1 - b1^step) */
  stepSize: number;
  /** sqrt(1 - b2^step) */
  bc2Sqrt: number;
  eps: number;
  /** -1 to maximize, else 1 (multiplying by either is exact). */
  sign: 1 | -1;
}

// Parameters of the wasm function: byte offsets of p, g, m, v and of the three outputs, the
// length, then the float32 constants.
const [P, G, M, V, OP, OM, OV, N] = [0, 1, 2, 3, 4, 5, 6, 7];
const CONSTS = ['b1', 'c1', 'b2', 'c2', 'stepSize', 'bc2Sqrt', 'eps', 'sign'] as const;
const K = (name: (typeof CONSTS)[number]) => 8 + CONSTS.indexOf(name);
// locals: i, byte offset; the constants splatted; d, m', v' as vectors, then as scalars
const I = 16, OFF = 17;
const VK = (name: (typeof CONSTS)[number]) => 18 + CONSTS.indexOf(name);
const [VD, VM, VV] = [26, 27, 28];
const [SD, SM, SV] = [29, 30, 31];

/**
 * One element (or four) of the update: d = sign g; m' = m b1 + d (1 - b1);
 * v' = v b2 + (d d)(1 - b2); p' = p - (m' / (sqrt(v') / bc2Sqrt + eps)) stepSize.
 */
function update(vector: boolean): Instr[] {
  const op = vector ? f32x4 : (name: 'add' | 'sub' | 'mul' | 'div' | 'sqrt') => [{ add: 0x92, sub: 0x93, mul: 0x94, div: 0x95, sqrt: 0x91 }[name]];
  const load = vector ? (base: number) => [localGet(base), localGet(OFF), i32.add, ...simd.load] : (base: number) => [localGet(base), localGet(OFF), i32.add, ...loadF32];
  const store = vector ? simd.store : storeF32;
  const k = (name: (typeof CONSTS)[number]) => localGet(vector ? VK(name) : K(name));
  const [d, m, v] = vector ? [VD, VM, VV] : [SD, SM, SV];
  return [
    ...load(G), k('sign'), ...op('mul'), localSet(d),
    ...load(M), k('b1'), ...op('mul'), localGet(d), k('c1'), ...op('mul'), ...op('add'), localSet(m),
    ...load(V), k('b2'), ...op('mul'), localGet(d), localGet(d), ...op('mul'), k('c2'), ...op('mul'), ...op('add'), localSet(v),
    localGet(OM), localGet(OFF), i32.add, localGet(m), ...store,
    localGet(OV), localGet(OFF), i32.add, localGet(v), ...store,
    localGet(OP), localGet(OFF), i32.add,
    ...load(P),
    localGet(m), localGet(v), ...op('sqrt'), k('bc2Sqrt'), ...op('div'), k('eps'), ...op('add'), ...op('div'), k('stepSize'), ...op('mul'),
    ...op('sub'),
    ...store,
  ].flat();
}

/** Four elements at a time while four remain, then one at a time. */
function body(): Instr[] {
  const advance = (by: number) => [localGet(I), ...i32.const(by), i32.add, localSet(I)];
  const byteOffset = [localGet(I), ...i32.const(2), i32.shl, localSet(OFF)];
  return [
    ...CONSTS.flatMap((c) => [localGet(K(c)), ...simd.splat, localSet(VK(c))]),
    // while (i + 4 <= n)
    ...loopWhile([localGet(I), ...i32.const(4), i32.add, localGet(N), i32.leU], [...byteOffset, ...update(true), ...advance(4)]),
    // while (i < n)
    ...loopWhile([localGet(I), localGet(N), i32.ltU], [...byteOffset, ...update(false), ...advance(1)]),
  ].flat();
}

const BYTES = moduleBytes({
  name: 'adam',
  params: [...Array(8).fill('i32'), ...Array(CONSTS.length).fill('f32')],
  locals: [...Array(2).fill('i32'), ...Array(CONSTS.length + 3).fill('v128'), ...Array(3).fill('f32')],
  body: body(),
});

type AdamFn = (...args: number[]) => void;
/** The WebAssembly API's parts used here (this project's TypeScript libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
/** One instance per heap (a WebAssembly.Memory). */
const instances = new WeakMap<object, AdamFn>();

function adamOn(memory: object): AdamFn {
  let fn = instances.get(memory);
  if (!fn) {
    const instance = new WA.Instance(new WA.Module(BYTES), { env: { memory } });
    fn = instance.exports.adam as AdamFn;
    instances.set(memory, fn);
  }
  return fn;
}

interface WasmBackendLike {
  wasm: { asm: { memory: object } };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

function registerWasmKernel(): void {
  if (tf.getKernel(ADAM_KERNEL, 'wasm')) return;
  tf.registerKernel({
    kernelName: ADAM_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackendLike;
      const { p, g, m, v } = inputs as Record<'p' | 'g' | 'm' | 'v', tf.TensorInfo>;
      const c = attrs as unknown as AdamConstants;
      const outs = [0, 1, 2].map(() => b.makeOutput([...p.shape], 'float32'));
      const at = (t: tf.TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
      const n = p.shape.reduce((a, x) => a * x, 1);
      adamOn(b.wasm.asm.memory)(at(p), at(g), at(m), at(v), ...outs.map(at), n, c.b1, 1 - c.b1, c.b2, 1 - c.b2, c.stepSize, c.bc2Sqrt, c.eps, c.sign);
      return outs;
    },
  });
}

/**
 * Adam's update of one parameter as one kernel: [param, expAvg, expAvgSq], or undefined where
 * it does not apply (the flag off, a backend other than wasm, a dtype other than float32, or a tape recording:
 * the kernel has no gradient, so a differentiated Adam step stays op by op).
 */
export function fusedAdamStep(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined {
  if (!fusedAdamEnabled() || tf.getBackend() !== 'wasm' || tf.engine().isTapeOn() || [p, g, m, v].some((t) => t.dtype !== 'float32')) return undefined;
  if (![g, m, v].every((t) => tf.util.arraysEqual(t.shape, p.shape))) return undefined;
  registerWasmKernel();
  return tf.engine().runKernel(ADAM_KERNEL, { p, g, m, v }, c as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}
