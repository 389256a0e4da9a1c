// A minimal WebAssembly encoder: one exported function over an imported memory (env.memory),
// for the few kernels that tfjs's wasm backend lacks and that must run in place on its heap
// (see src/ops/wasm-kernels.ts, src/ops/wasm-gemv.ts). Instructions are byte sequences; only those
// used are named. `onHeap` instantiates such a module on the wasm backend's heap.
import type { TensorInfo } from '@tensorflow/tfjs';

export type Instr = number | readonly number[];
type ValType = 'i32' | 'f32' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const flat = (xs: readonly Instr[]): number[] => xs.flatMap((x) => (typeof x === 'number' ? [x] : [...x]));
const vec = (items: readonly (readonly number[])[]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...Buffer.from(s, 'utf8')].map((b) => [b]));
const section = (id: number, contents: number[]): number[] => [id, ...uleb(contents.length), ...contents];

export const localGet = (i: number): number[] => [0x20, ...uleb(i)];
export const localSet = (i: number): number[] => [0x21, ...uleb(i)];
export const i32 = {
  const: (n: number): number[] => [0x41, ...sleb(n)],
  add: 0x6a,
  mul: 0x6c,
  shl: 0x74,
  ltU: 0x49,
  leU: 0x4d,
} as const;
/** f32.const v. */
export const f32const = (v: number): number[] => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
/** f32.load / f32.store at the address on the stack (alignment hint 1 byte, offset 0). */
export const loadF32 = [0x2a, 0x00, 0x00] as const;
export const storeF32 = [0x38, 0x00, 0x00] as const;
/** 128-bit SIMD (prefix 0xfd). */
export const simd = {
  load: [0xfd, 0x00, 0x00, 0x00],
  store: [0xfd, 0x0b, 0x00, 0x00],
  splat: [0xfd, 0x13],
} as const;
const F32X4 = { sqrt: 0xe3, add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7 } as const;
export const f32x4 = (op: keyof typeof F32X4): number[] => [0xfd, ...uleb(F32X4[op])];

/** while (cond) body, cond leaving an i32 on the stack. */
export function loopWhile(cond: readonly Instr[], body: readonly Instr[]): number[] {
  // block { loop { if (!cond) break; body; continue } }
  return [0x02, 0x40, 0x03, 0x40, ...flat(cond), 0x45, 0x0d, 0x01, ...flat(body), 0x0c, 0x00, 0x0b, 0x0b];
}

export interface FunctionSpec {
  name: string;
  params: readonly ValType[];
  /** Locals after the parameters, in order. */
  locals: readonly ValType[];
  body: readonly Instr[];
}

/** A module importing env.memory and exporting one function with no results. */
export function moduleBytes(f: FunctionSpec): Uint8Array {
  const groups: number[][] = [];
  for (const t of f.locals) {
    const last = groups[groups.length - 1];
    if (last && last[1] === VALTYPE[t]) last[0]! += 1;
    else groups.push([1, VALTYPE[t]]);
  }
  const code = [...vec(groups.map(([n, t]) => [...uleb(n!), t!])), ...flat(f.body), 0x0b];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(f.params.map((t) => [VALTYPE[t]])), 0x00]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0x00]])),
    ...section(7, vec([[...name(f.name), 0x00, 0x00]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}

/** The WebAssembly API's parts used here (this project's TypeScript libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The parts of tfjs's wasm backend a kernel of our own uses: its heap, tensors' offsets in it, new outputs. */
export interface WasmHeapBackend {
  wasm: { asm: { memory: object } };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/** A tensor's byte offset in the wasm backend's heap. */
export const heapOffset = (b: WasmHeapBackend, t: TensorInfo): number => b.dataIdMap.get(t.dataId as object)!.memoryOffset;

export type HeapFunction = (...args: number[]) => void;

/**
 * The exported function `name` of the module `bytes()` builds, over a backend's heap: the module
 * is built on first use and instantiated once per heap (a WebAssembly.Memory).
 */
export function onHeap(name: string, bytes: () => Uint8Array): (backend: WasmHeapBackend) => HeapFunction {
  let module: object | undefined;
  const instances = new WeakMap<object, HeapFunction>();
  return (backend) => {
    const memory = backend.wasm.asm.memory;
    let fn = instances.get(memory);
    if (!fn) {
      module ??= new WA.Module(bytes());
      fn = new WA.Instance(module, { env: { memory } }).exports[name] as HeapFunction;
      instances.set(memory, fn);
    }
    return fn;
  };
}
