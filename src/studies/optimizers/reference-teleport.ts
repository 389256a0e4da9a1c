/**
 * The reference code's teleport with its approximate bookkeeping of the hidden layers
 * (`hiddenUpdate: 'reference'` of a teleport schedule). The hidden inputs h_m of the layers are
 * computed once per teleport from the weights it starts from; each step acts on the layer pairs
 * in turn with those stored values (U <- U s(V h_m) s(g V h_m)^+, V <- g V), then updates them
 * as h_m <- (I + T_{m-1}) h_m, which is not the new hidden state after a LeakyReLU. The
 * toolkit's `teleport` instead recomputes them from the current weights at every step and
 * propagates the transformed layers' outputs inside the action (exact bookkeeping).
 *
 * With one hidden layer the two coincide (h_0 = x never changes): the test compares them there.
 * Only the gradient-norm objective, as in the reference; the state is never transported.
 */
import * as tf from '@tensorflow/tfjs';
import { gradNormObjective, type Batch } from '../../teleport/objectives.js';
import { mlpLoss } from '../../nn/mlp.js';
import { leakyRelu } from '../../ops/activations.js';
import { pinv } from '../../ops/linalg.js';

const mm = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);

/** The pairs (ws[m], ws[m+1]) acted on in order m = 0, 1, ..., each with the stored hs[m]. */
export function actWithStoredHidden(ws: readonly tf.Tensor[], hs: readonly tf.Tensor[], gs: readonly tf.Tensor[], slope: number): tf.Tensor[] {
  const out = [...ws];
  gs.forEach((g, m) => {
    const pre = mm(out[m]!, hs[m]!);
    out[m + 1] = mm(mm(out[m + 1]!, leakyRelu(pre, slope)), pinv(leakyRelu(mm(g, pre), slope)));
    out[m] = mm(g, out[m]!);
  });
  return out;
}

export interface ReferenceTeleportResult {
  weights: tf.Tensor2D[];
  objectiveBefore: number;
  objectiveAfter: number;
  lossBefore: number;
  lossAfter: number;
  /** Per hidden layer, ||prod_s (I + T_s) - I||_F. */
  distanceFromIdentity: number[];
  steps: number;
}

const value = (t: tf.Tensor) => t.dataSync()[0]!;

/** `steps` ascent steps on ||dL/dW||^2 over g_m = I + T_m (every hidden layer), stopping once it passes `cap`. */
export function referenceTeleport(
  ws0: readonly tf.Tensor2D[],
  batch: Batch,
  o: { steps: number; lr: number; cap?: number; slope: number },
): ReferenceTeleportResult {
  const objective = gradNormObjective({ loss: 'ce', slope: o.slope });
  const measure = (ws: readonly tf.Tensor[]) =>
    tf.tidy(() => [value(objective(ws, batch)), value(mlpLoss(ws, batch.x, batch.target, { loss: 'ce', slope: o.slope }))]);
  const [objectiveBefore, lossBefore] = measure(ws0);
  const hidden = ws0.length - 1;
  const dims = ws0.slice(0, -1).map((w) => w.shape[0]);
  let ws: tf.Tensor2D[] = ws0.map((w) => tf.clone(w));
  // the hidden inputs of the pairs, computed once (the reference's h_list)
  let hs: tf.Tensor[] = tf.tidy(() => {
    const out: tf.Tensor[] = [batch.x];
    for (let m = 0; m < hidden - 1; m++) out.push(leakyRelu(mm(ws0[m]!, out[m]!), o.slope));
    return out.map((h) => (h === batch.x ? tf.clone(h) : h));
  });
  let composed: tf.Tensor[] = dims.map((d) => tf.eye(d));
  let steps = 0;
  try {
    for (let s = 0; s < o.steps; s++) {
      type Step = { next: tf.Tensor2D[]; nextHs: tf.Tensor[]; nextComposed: tf.Tensor[] } | { stop: true };
      const r = tf.tidy((): tf.TensorContainer => {
        const zeros = dims.map((d) => tf.zeros([d, d]));
        const f = (...ts: tf.Tensor[]) => objective(actWithStoredHidden(ws, hs, ts.map((t) => tf.add(tf.eye(t.shape[0]!), t)), o.slope), batch);
        const { value: obj, grads } = tf.valueAndGrads(f)(zeros);
        const objValue = value(obj);
        if (!Number.isFinite(objValue)) throw new Error(`reference teleport: objective is ${objValue} at step ${s}`);
        if (o.cap !== undefined && objValue > o.cap) return { stop: true } as unknown as tf.TensorContainer;
        const gs = grads.map((g) => tf.add(tf.eye(g.shape[0]!), tf.mul(g, o.lr)));
        const next = actWithStoredHidden(ws, hs, gs, o.slope) as tf.Tensor2D[];
        // h_m <- (I + T_{m-1}) h_m, the reference's update of the stored hidden inputs
        const nextHs = hs.map((h, m) => (m === 0 ? tf.clone(h) : mm(gs[m - 1]!, h)));
        return { next, nextHs, nextComposed: gs.map((g, m) => mm(g, composed[m]!)) } as unknown as tf.TensorContainer;
      }) as unknown as Step;
      if ('stop' in r) break;
      tf.dispose([...ws, ...hs, ...composed]);
      ws = r.next;
      hs = r.nextHs;
      composed = r.nextComposed;
      steps++;
    }
    const [objectiveAfter, lossAfter] = measure(ws);
    const distanceFromIdentity = composed.map((g) => tf.tidy(() => value(tf.norm(tf.sub(g, tf.eye(g.shape[0]!))))));
    return { weights: ws, objectiveBefore, objectiveAfter, lossBefore, lossAfter, distanceFromIdentity, steps };
  } catch (e) {
    tf.dispose(ws);
    throw e;
  } finally {
    tf.dispose([...hs, ...composed]);
  }
}
