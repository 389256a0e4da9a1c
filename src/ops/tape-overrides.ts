// Two replacements in tfjs's tape (installed by `installOverrides`), each a kernel call or
// more less per recorded op, with the same numbers:
//
// 1. Saved tensors without a copy. While a tape records, the engine keeps every tensor a
//    gradient needs through `engine.clone`, which runs an Identity kernel (on wasm a full
//    copy of the data) and records an identity node so that a gradient taken of the backward
//    pass reaches the original. Here the clone shares the original's buffer (a reference
//    count, as a reshape does) and records the same node; nothing is dispatched.
// 2. Gradients of Add, Sub, Multiply, RealDiv, Square, Sqrt, Log, Sum, Reshape and ExpandDims as
//    tfjs-core writes them, less the `cast(x, 'float32')` of an operand that is float32 already
//    and with reshapes that share the buffer instead of running a kernel (one call each).
//    Built from ops only while the backward is itself recorded, so differentiable again to any
//    order.
import * as tf from '@tensorflow/tfjs';

type Tensor = tf.Tensor;

// ---------------------------------------------------------------------------------------------
// 1. Saved tensors share their buffer

interface TensorInfoRecord {
  backend: { incRef(dataId: object): void };
}
interface EngineLike {
  clone(x: Tensor): Tensor;
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: tf.DataType }, backend?: unknown): Tensor;
  isTapeOn(): boolean;
  addTapeNode(name: string, inputs: Record<string, Tensor>, outputs: Tensor[], grad: (dy: Tensor) => Record<string, () => Tensor>, saved: Tensor[], attrs: object): void;
  state: { activeScope: { name: string }; tensorInfo: { get(dataId: object): TensorInfoRecord | undefined } };
}

/**
 * A new tensor on `x`'s buffer (a reference count, no kernel call, no tape node), with `shape`
 * when given (the same size); a copy where the backend keeps no reference counts. Tensors are
 * immutable, so sharing is a copy's value.
 */
export function shareBuffer<T extends Tensor>(x: T, shape: readonly number[] = x.shape): T {
  const engine = tf.engine() as unknown as EngineLike;
  const info = engine.state.tensorInfo.get(x.dataId as object);
  // a native backend's buffer is a tensor with its own shape: there only the same shape is shared
  const reshaped = shape.length !== x.shape.length || shape.some((d, i) => d !== x.shape[i]);
  if (info === undefined || typeof info.backend.incRef !== 'function' || (reshaped && !FLAT_BUFFERS.has(tf.getBackend()))) {
    return tf.reshape(tf.clone(x), [...shape]) as T;
  }
  info.backend.incRef(x.dataId as object);
  return engine.makeTensorFromTensorInfo({ dataId: x.dataId as object, shape: [...shape], dtype: x.dtype }, info.backend) as T;
}

/** Backends whose buffers are flat arrays, shared by tensors of any shape (as their Reshape kernels do). */
const FLAT_BUFFERS = new Set(['cpu', 'wasm']);

/** x again as a new tensor: its buffer shared where backends count references (no kernel), else a copy. */
export function shareOrClone<T extends Tensor>(x: T): T {
  return FLAT_BUFFERS.has(tf.getBackend()) ? shareBuffer(x) : (tf.clone(x) as T);
}

/**
 * x with `shape`, for a gradient function: no kernel call while the backward is not itself
 * recorded; a recorded reshape when it is (a gradient of the gradient must see the link).
 */
function reshapeInGrad(x: Tensor, shape: readonly number[]): Tensor {
  const same = shape.length === x.shape.length && shape.every((d, i) => d === x.shape[i]);
  if ((tf.engine() as unknown as EngineLike).isTapeOn() || !(same || FLAT_BUFFERS.has(tf.getBackend()))) return tf.reshape(x, [...shape]);
  return shareBuffer(x, shape);
}

const SHARED = Symbol('symtele.sharedClone');
type Clone = EngineLike['clone'] & { [SHARED]?: true };

function installSharedClone(): void {
  const engine = tf.engine() as unknown as EngineLike;
  if ((engine.clone as Clone)[SHARED]) return;
  const stock = engine.clone;
  const clone: Clone = function (this: EngineLike, x: Tensor): Tensor {
    const info = this.state.tensorInfo.get(x.dataId as object);
    if (info === undefined || typeof info.backend.incRef !== 'function') return stock.call(this, x);
    const y = shareBuffer(x);
    // the stock node: the identity's gradient, a new tensor (never the upstream one itself)
    this.addTapeNode(this.state.activeScope.name, { x }, [y], (dy) => ({ x: () => reshapeInGrad(dy, dy.shape) }), [], {});
    return y;
  };
  clone[SHARED] = true;
  engine.clone = clone;
}

// ---------------------------------------------------------------------------------------------
// 2. Gradients without same-dtype casts and reshape kernels

const f32 = (t: Tensor): Tensor => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

/** Sum a broadcast gradient back to `shape`; always a new tensor (g may be the upstream gradient itself). */
function unbroadcast(g: Tensor, shape: number[], outShape: number[]): Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, outShape);
  return reshapeInGrad(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

/** A binary op's gradient: each operand's (unreduced) term summed back to its shape, then `post`. */
const binary = (
  kernelName: string,
  derA: (dy: Tensor, b: Tensor) => Tensor,
  derB: (dy: Tensor, a: Tensor) => Tensor,
  postB: (reduced: Tensor, b: Tensor) => Tensor = (r) => r,
): tf.GradConfig => ({
  kernelName,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const g = dy as Tensor;
    const [a, b] = saved;
    const out = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    return { a: () => unbroadcast(derA(g, b), a.shape, out), b: () => postB(unbroadcast(derB(g, a), b.shape, out), b) };
  },
});

const unary = (kernelName: string, der: (dy: Tensor, x: Tensor) => Tensor): tf.GradConfig => ({
  kernelName,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => der(dy as Tensor, saved[0]) }),
});

export const leanGradConfigs: readonly tf.GradConfig[] = [
  binary('Add', (dy) => dy, (dy) => dy),
  binary('Sub', (dy) => dy, (dy) => dy, (r) => tf.neg(r)),
  { kernelName: 'Reshape', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => reshapeInGrad(dy as Tensor, x.shape) }) },
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const kept = [...x.shape];
      for (const a of tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape)) kept[a] = 1;
      return { x: () => tf.mul(reshapeInGrad(dy as Tensor, kept), tf.ones(x.shape)) };
    },
  },
  { kernelName: 'ExpandDims', inputsToSave: ['input'], gradFunc: (dy, [x]) => ({ input: () => reshapeInGrad(dy as Tensor, x.shape) }) },
  binary('Multiply', (dy, b) => tf.mul(dy, f32(b)), (dy, a) => tf.mul(dy, f32(a))),
  binary(
    'RealDiv',
    (dy, b) => tf.div(dy, f32(b)),
    (dy, a) => tf.mul(dy, f32(a)),
    (r, b) => tf.neg(tf.div(r, f32(tf.square(b)))),
  ),
  unary('Square', (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
  unary('Sqrt', (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  unary('Log', (dy, x) => tf.div(dy, f32(x))),
];

/** Install both; calling it again changes nothing. */
export function installTapeOverrides(): void {
  installSharedClone();
  for (const c of leanGradConfigs) if (tf.getGradient(c.kernelName) !== c) tf.registerGradient(c);
}
