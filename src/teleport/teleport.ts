// Teleportation: gradient ascent (or descent) on group elements (paper sections 3 and 4.4).
//
// Each round, for every moving hidden layer m: T_m = 0, evaluate the objective at
// (I + T)·w, take G_m = d objective / d T_m at T = 0, then w <- (I + lr G)·w. With
// direction 'decrease' the step is w <- (I - lr G)·w. Rounds run on each data batch in turn.
import * as tf from '@tensorflow/tfjs';
import { groupAction, identityPlus, rescaleFrobenius, pushForward, type ActionKind } from '../symmetry/action.js';
import { mlpLoss, type LossKind } from '../nn/mlp.js';
import { DEFAULT_SLOPE } from '../ops/activations.js';
import { SingularMatrixError } from '../ops/linalg.js';
import type { Stream } from '../rng/index.js';
import {
  gradNormObjective,
  adagradNormObjective,
  sharpnessObjective,
  curvatureObjective,
  type Batch,
  type Objective,
  type ObjectiveName,
} from './objectives.js';
import { randomDirections, randomLieAlgebra, PAPER_DISPLACEMENTS } from '../symmetry/metrics.js';

export interface TeleportOptions {
  /** A named objective or any differentiable function of the weights on a batch. */
  objective: ObjectiveName | Objective;
  /** Gradient steps on the group elements per batch. */
  steps: number;
  /** Learning rate on the group elements. */
  lr: number;
  direction?: 'increase' | 'decrease';
  kind?: ActionKind;
  loss?: LossKind;
  slope?: number;
  /** Hidden layers to move (default: all). */
  layers?: number[];
  /** Further data batches; the rounds run on (x, target) first, then on each of these. */
  batches?: Batch[];
  /** Stop early once the objective passes this value (above it when increasing, below when decreasing). */
  cap?: number;
  /** Rescale each step lr·G_m to this Frobenius norm (a fixed-size move on the group). */
  stepNorm?: number;
  /** adagradNorm: the AdaGrad accumulator of squared gradients, one tensor per layer. */
  accumulator?: tf.Tensor[];
  eps?: number;
  /** sharpness: displacements (default the paper's 0.001..0.191) and directions or a count. */
  sharpness?: { displacements?: number[]; directions?: tf.Tensor2D; count?: number };
  /** curvature: the Lie-algebra elements of each curve, or a count of random curves on `layer`. */
  curvature?: { curves?: (tf.Tensor | null)[][]; count?: number; layer?: number };
  /** Randomness for directions / curves not given explicitly. */
  rng?: Stream;
  /**
   * Tangent vectors at w (each one tensor per layer, e.g. momentum buffers) to carry through
   * every group step with the action's derivative; returned as `tangents`.
   */
  tangents?: tf.Tensor[][];
}

export interface RoundReport {
  batch: number;
  step: number;
  /** Objective at the start of the round. */
  objective: number;
  /** Loss on the round's batch after its group step. */
  loss: number;
  /** Change of the batch loss caused by the round's group step (0 in the exact regime). */
  drift: number;
  /** ||g_m - I||_F for each moving layer. */
  distanceFromIdentity: number[];
}

export interface TeleportResult {
  weights: tf.Tensor2D[];
  rounds: RoundReport[];
  objectiveBefore: number;
  objectiveAfter: number;
  lossBefore: number;
  lossAfter: number;
  stoppedEarly: boolean;
  /** The `tangents` option pushed forward to the teleported point (empty when not given). */
  tangents: tf.Tensor[][];
  /**
   * Per moving layer, ||g - I||_F of the whole teleport's group element g (the product of every
   * round's step I + lr G): how far the teleport moved along the group.
   */
  distanceFromIdentity: number[];
}

/** Resolve a named objective with its settings (random parts drawn once, for the whole teleport). */
export function resolveObjective(ws: readonly tf.Tensor[], o: TeleportOptions): { objective: Objective; dispose: () => void } {
  const mlp = { loss: o.loss ?? 'mse', slope: o.slope ?? DEFAULT_SLOPE };
  const owned: tf.Tensor[] = [];
  const needRng = () => {
    if (!o.rng) throw new Error(`teleport: objective "${o.objective}" needs random draws: pass rng (a seeded stream) or explicit settings`);
    return o.rng;
  };
  if (typeof o.objective === 'function') return { objective: o.objective, dispose: () => {} };
  switch (o.objective) {
    case 'gradNorm':
      return { objective: gradNormObjective(mlp), dispose: () => {} };
    case 'adagradNorm':
      if (!o.accumulator) throw new Error('teleport: objective "adagradNorm" needs the AdaGrad accumulator (option accumulator)');
      return { objective: adagradNormObjective(o.accumulator, { ...mlp, eps: o.eps }), dispose: () => {} };
    case 'sharpness': {
      const s = o.sharpness ?? {};
      let directions = s.directions;
      if (!directions) owned.push((directions = randomDirections(ws, s.count ?? 200, needRng())));
      const objective = sharpnessObjective({ ...mlp, displacements: s.displacements ?? PAPER_DISPLACEMENTS, directions });
      return { objective, dispose: () => tf.dispose(owned) };
    }
    case 'curvature': {
      const c = o.curvature ?? {};
      let curves = c.curves;
      if (!curves) {
        const layer = c.layer ?? ws.length - 2;
        curves = Array.from({ length: c.count ?? 1 }, () => {
          const M = randomLieAlgebra(ws, layer, needRng());
          owned.push(M);
          return ws.slice(0, -1).map((_, m) => (m === layer ? M : null));
        });
      }
      return { objective: curvatureObjective(curves, { kind: o.kind ?? 'pinv', slope: mlp.slope }), dispose: () => tf.dispose(owned) };
    }
    default:
      throw new Error(`teleport: unknown objective "${String(o.objective)}"`);
  }
}

/**
 * The objective at w and its gradient w.r.t. the group element of each moving layer at the
 * identity: G_m = d objective((I + T)·w) / d T_m at T = 0. Returns [d_m, d_m] per layer.
 */
export function groupGradient(
  ws: readonly tf.Tensor[],
  batch: Batch,
  objective: Objective,
  opts: { layers?: number[]; kind?: ActionKind; slope?: number } = {},
): { value: tf.Scalar; grads: tf.Tensor2D[] } {
  const layers = opts.layers ?? [...Array(ws.length - 1).keys()];
  const zeros = layers.map((m) => tf.zeros([ws[m].shape[0], ws[m].shape[0]]) as tf.Tensor2D);
  const moved = (ts: readonly tf.Tensor[]) => {
    const gs = ws.slice(0, -1).map((_, m) => {
      const i = layers.indexOf(m);
      return i < 0 ? null : identityPlus(ts[i]);
    });
    return groupAction(ws, batch.x, gs, { kind: opts.kind, slope: opts.slope });
  };
  if (objective.weightGrads) {
    // chain rule: G_m = d<(I + T)·w, dObj/dw'>/dT_m at T = 0, with dObj/dw' taken at w' = I·w
    const at = tf.tidy(() => moved(zeros));
    const { value, grads: dw } = objective.weightGrads(at, batch);
    const grads = tf.grads((...ts: tf.Tensor[]) => tf.addN(moved(ts).map((w, i) => tf.sum(tf.mul(w, dw[i])))) as tf.Scalar)(zeros);
    tf.dispose([...at, ...dw, ...zeros]);
    return { value, grads: grads as tf.Tensor2D[] };
  }
  const res = tf.valueAndGrads((...ts: tf.Tensor[]) => objective(moved(ts), batch))(zeros);
  return { value: res.value as tf.Scalar, grads: res.grads as tf.Tensor2D[] };
}

const scalarOf = (t: tf.Tensor) => tf.sum(t).dataSync()[0];

/** A singular matrix inside the action during a teleport means the group step was too large. */
function singularAsDivergence<T>(batch: number, step: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SingularMatrixError) {
      throw new Error(`teleport diverged at batch ${batch}, step ${step}: ${e.message}. Lower lr or set stepNorm to bound each group step`);
    }
    throw e;
  }
}

/** tf.tidy for a function returning a plain object that holds tensors among other values. */
const tidyValue = <T>(fn: () => T): T => tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;

/** Teleport the weights on (x, target) (and any further batches). Inputs are not disposed. */
export function teleport(ws: readonly tf.Tensor2D[], x: tf.Tensor, target: tf.Tensor, opts: TeleportOptions): TeleportResult {
  if (!(Number.isInteger(opts.steps) && opts.steps >= 0)) throw new Error(`teleport: steps must be a non-negative integer, got ${opts.steps}`);
  if (!Number.isFinite(opts.lr)) throw new Error(`teleport: lr must be a finite number, got ${opts.lr}`);
  const kind = opts.kind ?? 'pinv';
  const slope = opts.slope ?? DEFAULT_SLOPE;
  const mlp = { loss: opts.loss ?? 'mse', slope };
  const hidden = ws.length - 1;
  const layers = opts.layers ?? [...Array(hidden).keys()];
  for (const m of layers) if (!(Number.isInteger(m) && m >= 0 && m < hidden)) throw new Error(`teleport: no hidden layer ${m} (the network has ${hidden})`);
  const sign = (opts.direction ?? 'increase') === 'increase' ? 1 : -1;
  const batches: Batch[] = [{ x, target }, ...(opts.batches ?? [])];
  const { objective, dispose } = resolveObjective(ws, opts);
  const passedCap = (v: number) => opts.cap !== undefined && (sign > 0 ? v >= opts.cap : v <= opts.cap);

  const rounds: RoundReport[] = [];
  let current: tf.Tensor2D[] = [...ws];
  const given = opts.tangents ?? [];
  let tangents: tf.Tensor[][] = given.map((v) => [...v]);
  const replaceTangents = (next: tf.Tensor[][]) => {
    for (const v of tangents) for (const t of v) if (!given.some((g) => g.includes(t))) t.dispose();
    tangents = next;
  };
  const replace = (next: tf.Tensor2D[]) => {
    for (const w of current) if (!ws.includes(w)) w.dispose();
    current = next;
  };
  // the product of the rounds' group elements, per moving layer
  let composed: tf.Tensor2D[] = layers.map((m) => tf.eye(ws[m].shape[0]) as tf.Tensor2D);
  const objectiveBefore = tf.tidy(() => scalarOf(objective(current, batches[0])));
  const lossBefore = tf.tidy(() => scalarOf(mlpLoss(current, x, target, mlp)));
  let stoppedEarly = false;

  try {
    outer: for (let b = 0; b < batches.length; b++) {
      const batch = batches[b];
      for (let s = 0; s < opts.steps; s++) {
        const res = singularAsDivergence(b, s, () => tidyValue(() => {
          const { value: obj, grads } = groupGradient(current, batch, objective, { layers, kind, slope });
          const objValue = obj.dataSync()[0];
          if (!Number.isFinite(objValue)) throw new Error(`teleport: objective is ${objValue} at batch ${b}, step ${s}`);
          if (passedCap(objValue)) return { objValue, next: null as tf.Tensor2D[] | null, carried: [] as tf.Tensor[][], loss: NaN, drift: 0, dist: [] as number[], product: [] as tf.Tensor2D[] };
          const moves = grads.map((g) => {
            const step = tf.mul(g, sign * opts.lr);
            return opts.stepNorm !== undefined ? rescaleFrobenius(step, opts.stepNorm) : step;
          });
          const gs = current.slice(0, -1).map((_, m) => {
            const i = layers.indexOf(m);
            return i < 0 ? null : identityPlus(moves[i]);
          });
          const lossPrev = scalarOf(mlpLoss(current, batch.x, batch.target, mlp));
          const next = groupAction(current, batch.x, gs, { kind, slope }) as tf.Tensor2D[];
          const carried = tangents.length ? pushForward(current, batch.x, gs, tangents, { kind, slope }) : [];
          const loss = scalarOf(mlpLoss(next, batch.x, batch.target, mlp));
          const dist = moves.map((mv) => tf.norm(mv).dataSync()[0]);
          const product = layers.map((m, i) => tf.matMul(gs[m]!, composed[i]!) as tf.Tensor2D);
          return { objValue, next, carried, loss, drift: loss - lossPrev, dist, product };
        }));
        if (res.next === null) {
          stoppedEarly = true;
          rounds.push({ batch: b, step: s, objective: res.objValue, loss: NaN, drift: 0, distanceFromIdentity: [] });
          break outer;
        }
        if (!Number.isFinite(res.loss)) {
          tf.dispose([...res.next, ...res.product]);
          throw new Error(`teleport: loss became ${res.loss} at batch ${b}, step ${s}: lower lr or set stepNorm`);
        }
        replace(res.next);
        replaceTangents(res.carried);
        tf.dispose(composed);
        composed = res.product;
        rounds.push({ batch: b, step: s, objective: res.objValue, loss: res.loss, drift: res.drift, distanceFromIdentity: res.dist });
      }
    }
    const objectiveAfter = tf.tidy(() => scalarOf(objective(current, batches[0])));
    const lossAfter = tf.tidy(() => scalarOf(mlpLoss(current, x, target, mlp)));
    // Hand back tensors the caller may dispose independently of its inputs.
    const weights = current.map((w) => (ws.includes(w) ? tf.clone(w) : w));
    const carried = tangents.map((v) => v.map((t) => (given.some((g) => g.includes(t)) ? tf.clone(t) : t)));
    const distanceFromIdentity = composed.map((g) => tf.tidy(() => scalarOf(tf.norm(tf.sub(g, tf.eye(g.shape[0]))))));
    return { weights, rounds, objectiveBefore, objectiveAfter, lossBefore, lossAfter, stoppedEarly, tangents: carried, distanceFromIdentity };
  } catch (e) {
    replace([]);
    replaceTangents([]);
    throw e;
  } finally {
    tf.dispose(composed);
    dispose();
  }
}

/**
 * A random teleport: g_m = I + T_m with T_m a random normal matrix rescaled to Frobenius norm
 * `magnitude`, applied to the chosen hidden layers.
 */
export function randomTeleport(
  ws: readonly tf.Tensor2D[],
  x: tf.Tensor,
  opts: { magnitude: number; rng: Stream; kind?: ActionKind; slope?: number; layers?: number[] },
): tf.Tensor2D[] {
  const hidden = ws.length - 1;
  const layers = opts.layers ?? [...Array(hidden).keys()];
  return tf.tidy(() => {
    const gs = ws.slice(0, -1).map((w, m) => {
      if (!layers.includes(m)) return null;
      const d = w.shape[0];
      return identityPlus(rescaleFrobenius(tf.tensor2d(opts.rng.normalArray(d * d), [d, d]), opts.magnitude));
    });
    return groupAction(ws, x, gs, { kind: opts.kind, slope: opts.slope }) as tf.Tensor2D[];
  });
}
