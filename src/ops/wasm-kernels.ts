// Fused elementwise kernels for tfjs's wasm backend: a chain of float32 operations over
// same-shaped inputs, written as a list of steps, compiled to one WebAssembly SIMD function
// (./wasm-module.ts) that reads and writes tfjs's heap in place, and registered as a tfjs
// kernel. One kernel call replaces one per step, and one pass over memory replaces many.
//
// The steps are IEEE float32 operations (add, sub, mul, div, sqrt: wasm's are correctly
// rounded, as are the wasm backend's own kernels), so a kernel that performs an op-by-op
// chain's operations in its order gives its numbers to the bit. Kernels have no gradient: they
// run where nothing records them (no tape) and the caller falls back to the op-by-op chain
// elsewhere, on other backends, and with the switch SYMTELE_WASM_KERNELS=0.
import * as tf from '@tensorflow/tfjs';
import { registerSwitch, withSwitch } from './flags.js';
import { f32x4, heapOffset, i32, loadF32, localGet, localSet, loopWhile, moduleBytes, onHeap, simd, storeF32, type Instr, type WasmHeapBackend } from './wasm-module.js';

/** The switch (tfjs flag and environment variable) for every fused wasm kernel; on by default. */
export const WASM_KERNELS_FLAG = 'SYMTELE_WASM_KERNELS';
export const wasmKernelsEnabled = registerSwitch(WASM_KERNELS_FLAG, true);
/** `fn` with the fused kernels on or off (A/B timing and tests), the value before restored after. */
export const withWasmKernels = <T>(on: boolean, fn: () => Promise<T>): Promise<T> => withSwitch(WASM_KERNELS_FLAG, on, fn);

type Binary = 'add' | 'sub' | 'mul' | 'div';
/** One operation: `out = op(a, b)` or `out = sqrt(a)`; operands name inputs, constants or earlier outs. */
export type Step = readonly [out: string, op: Binary, a: string, b: string] | readonly [out: string, op: 'sqrt', a: string];

/**
 * A kernel over inputs of one shape [rows, cols] (or any shape, read flat as one row). Each
 * output is [rows, parts.length * cols] and holds its parts side by side in each row (part k at
 * columns k cols .. (k + 1) cols), or the inputs' shape when it has one part.
 */
export interface FusedSpec {
  name: string;
  inputs: readonly string[];
  /** Float32 constants, given with each call (attrs). */
  consts: readonly string[];
  steps: readonly Step[];
  outputs: readonly (readonly string[])[];
  /** 'rows': the inputs are [rows, cols] matrices; 'flat': any shape, one row. */
  layout: 'rows' | 'flat';
}

const SCALAR_OP: Record<Binary | 'sqrt', number> = { add: 0x92, sub: 0x93, mul: 0x94, div: 0x95, sqrt: 0x91 };

/** The WebAssembly function: (input offsets, output offsets, rows, cols, constants) -> (). */
function compile(spec: FusedSpec): Uint8Array {
  const nIn = spec.inputs.length;
  const nOut = spec.outputs.length;
  const ROWS = nIn + nOut;
  const COLS = ROWS + 1;
  const constParam = (k: number) => COLS + 1 + k;
  // locals after the parameters: r, j, byte offset; constants splatted; per value (inputs and
  // step results) a vector and a scalar
  const firstLocal = COLS + 1 + spec.consts.length;
  const [R, J, OFF] = [firstLocal, firstLocal + 1, firstLocal + 2];
  const splat = (k: number) => firstLocal + 3 + k;
  const values = [...spec.inputs, ...spec.steps.map((s) => s[0])];
  const vecLocal = (k: number) => firstLocal + 3 + spec.consts.length + k;
  const scalarLocal = (k: number) => firstLocal + 3 + spec.consts.length + values.length + k;

  const body = (vector: boolean): Instr[] => {
    const local = (name: string): Instr[] => {
      const c = spec.consts.indexOf(name);
      if (c >= 0) return [localGet(vector ? splat(c) : constParam(c))];
      const v = values.indexOf(name);
      if (v < 0) throw new Error(`fused kernel ${spec.name}: unknown operand ${name}`);
      return [localGet(vector ? vecLocal(v) : scalarLocal(v))];
    };
    const set = (name: string) => localSet(vector ? vecLocal(values.indexOf(name)) : scalarLocal(values.indexOf(name)));
    const op = (o: Binary | 'sqrt'): Instr[] => (vector ? [f32x4(o)] : [SCALAR_OP[o]]);
    const address = (base: number, rowWidth: number, part: number): Instr[] =>
      // base + ((r * rowWidth + part) * cols + j) * 4
      [localGet(base), localGet(R), ...i32.const(rowWidth), i32.mul, ...i32.const(part), i32.add, localGet(COLS), i32.mul, localGet(J), i32.add, ...i32.const(2), i32.shl, i32.add];
    return [
      // byte offset of (r, j) in an input
      localGet(R), localGet(COLS), i32.mul, localGet(J), i32.add, ...i32.const(2), i32.shl, localSet(OFF),
      ...spec.inputs.flatMap((name, k) => [localGet(k), localGet(OFF), i32.add, ...(vector ? simd.load : loadF32), set(name)]),
      ...spec.steps.flatMap((s) => [...local(s[2]), ...(s[1] === 'sqrt' ? [] : local(s[3]!)), ...op(s[1]), set(s[0])]),
      ...spec.outputs.flatMap((parts, k) => parts.flatMap((name, part) => [...address(nIn + k, parts.length, part), ...local(name), ...(vector ? simd.store : storeF32)])),
    ];
  };
  const advance = (v: number, by: number) => [localGet(v), ...i32.const(by), i32.add, localSet(v)];
  const code: Instr[] = [
    ...spec.consts.flatMap((_, k) => [localGet(constParam(k)), ...simd.splat, localSet(splat(k))]),
    ...loopWhile([localGet(R), localGet(ROWS), i32.ltU], [
      ...i32.const(0), localSet(J),
      ...loopWhile([localGet(J), ...i32.const(4), i32.add, localGet(COLS), i32.leU], [...body(true), ...advance(J, 4)]),
      ...loopWhile([localGet(J), localGet(COLS), i32.ltU], [...body(false), ...advance(J, 1)]),
      ...advance(R, 1),
    ]),
  ];
  return moduleBytes({
    name: 'run',
    params: [...Array(nIn + nOut + 2).fill('i32'), ...Array(spec.consts.length).fill('f32')],
    locals: ['i32', 'i32', 'i32', ...Array(spec.consts.length + values.length).fill('v128'), ...Array(values.length).fill('f32')],
    body: code,
  });
}

/** A fused kernel, compiled and registered on first use. */
export interface FusedKernel {
  /** The outputs, or undefined where the kernel does not apply (not wasm, the switch off, a tape recording, not float32). */
  run(inputs: readonly tf.Tensor[], consts?: readonly number[]): tf.Tensor[] | undefined;
}

export function fusedKernel(spec: FusedSpec): FusedKernel {
  const fn = onHeap('run', () => compile(spec));
  const register = () => {
    if (tf.getKernel(spec.name, 'wasm')) return;
    tf.registerKernel({
      kernelName: spec.name,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as WasmHeapBackend;
        const xs = spec.inputs.map((n) => (inputs as Record<string, tf.TensorInfo>)[n]!);
        const shape = [...xs[0]!.shape];
        const size = shape.reduce((a, x) => a * x, 1);
        const rows = spec.layout === 'flat' ? 1 : shape[0]!;
        const cols = rows === 0 ? 0 : size / rows;
        const outs = spec.outputs.map((parts) => b.makeOutput(parts.length === 1 ? shape : [rows, parts.length * cols], 'float32'));
        const at = (t: tf.TensorInfo) => heapOffset(b, t);
        fn(b)(...xs.map(at), ...outs.map(at), rows, cols, ...((attrs as { consts: number[] }).consts ?? []));
        return outs;
      },
    });
  };
  return {
    run(inputs, consts = []) {
      if (!wasmKernelsEnabled() || tf.getBackend() !== 'wasm' || tf.engine().isTapeOn()) return undefined;
      if (inputs.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, inputs[0]!.shape))) return undefined;
      if (spec.layout === 'rows' && inputs[0]!.rank !== 2) return undefined;
      if (consts.length !== spec.consts.length) throw new Error(`fused kernel ${spec.name}: expected ${spec.consts.length} constants, got ${consts.length}`);
      register();
      const named = Object.fromEntries(spec.inputs.map((n, k) => [n, inputs[k]!]));
      return tf.engine().runKernel(spec.name, named, { consts: [...consts] } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
    },
  };
}
