// Two replacements in tfjs's tape (installed by `installOverrides`), each a kernel call less
// per recorded op with the same numbers:
//
// 1. Saved tensors without a copy. While a tape records, the engine keeps every tensor a
//    gradient needs through `engine.clone`, which runs an Identity kernel (on wasm a full
//    copy of the data) and records an identity node so that a gradient taken of the backward
//    pass reaches the original. Here the clone shares the original's buffer (a reference
//    count, as a reshape does) and records the same node; nothing is dispatched.
// 2. Gradients of Multiply, Square, RealDiv, Sqrt and Log as tfjs-core writes them, less the
//    `cast(x, 'float32')` of an operand that is float32 already (one Cast kernel call each).
//    Built from ops only, so differentiable again to any order.
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
  addTapeNode(name: string, inputs: Record<string, Tensor>, outputs: Tensor[], grad: (dy: Tensor) => Record<string, () => Tensor>, saved: Tensor[], attrs: object): void;
  state: { activeScope: { name: string }; tensorInfo: { get(dataId: object): TensorInfoRecord | undefined } };
}

/**
 * A new tensor on `x`'s buffer (a reference count, no kernel call, no tape node); a copy where
 * the backend keeps no reference counts. Tensors are immutable, so sharing is a copy's value.
 */
export function shareBuffer<T extends Tensor>(x: T): T {
  const engine = tf.engine() as unknown as EngineLike;
  const info = engine.state.tensorInfo.get(x.dataId as object);
  if (info === undefined || typeof info.backend.incRef !== 'function') return tf.clone(x);
  info.backend.incRef(x.dataId as object);
  return engine.makeTensorFromTensorInfo({ dataId: x.dataId as object, shape: x.shape, dtype: x.dtype }, info.backend) as T;
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
    this.addTapeNode(this.state.activeScope.name, { x }, [y], (dy) => ({ x: () => tf.reshape(dy, dy.shape) }), [], {});
    return y;
  };
  clone[SHARED] = true;
  engine.clone = clone;
}

// ---------------------------------------------------------------------------------------------
// 2. Cast-free elementwise gradients

const f32 = (t: Tensor): Tensor => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

/** Sum a broadcast gradient back to `shape`. */
function unbroadcast(g: Tensor, shape: number[], outShape: number[]): Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, outShape);
  return axes.length > 0 ? tf.reshape(tf.sum(g, axes), shape) : g;
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

export const castFreeGradConfigs: readonly tf.GradConfig[] = [
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
  for (const c of castFreeGradConfigs) if (tf.getGradient(c.kernelName) !== c) tf.registerGradient(c);
}
