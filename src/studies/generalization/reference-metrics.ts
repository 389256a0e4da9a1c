/**
 * Sharpness phi and curvature psi as the authors' code computes them (correlation.py,
 * curvature_utils.py), next to the paper's definitions in ./metrics.ts:
 * - psi: per draw, a random M (entries U[0,1), Frobenius norm 1) on EVERY hidden layer; the
 *   curve's first and second derivatives are the sums of the per-layer closed forms
 *   (compute_gamma_12: each layer's term uses the unmoved weights), and kappa is computed from
 *   the summed tangents; psi = mean kappa over the draws.
 * - phi: per draw and per displacement t, a fresh direction with entries U[0,1) (torch.rand:
 *   all positive), normalised to norm t; phi = mean over draws and displacements of the mean
 *   cross-entropy of the perturbed model on the draw's batch. (correlation.py further divides
 *   by the batch size 200, a constant factor that leaves every correlation unchanged; not done.)
 * Each draw has a fresh batch of training samples.
 *
 * Departure (speed): draw i's batch, M's and directions are the same for every model (the
 * reference seeds M and the directions by the draw index, torch.manual_seed(12345 * i), so
 * those are shared there too; its batches come from one loader running on across models).
 * Sharing the batch lets x^+ (784 x 200) and the first layer's perturbation D1 x be computed
 * once per draw for all models.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../../data/types.js';
import { stream } from '../../rng/index.js';
import { pinv } from '../../ops/linalg.js';
import { leakyRelu, crossEntropy, DEFAULT_SLOPE } from '../../ops/activations.js';
import { analyticCurveDerivatives, curvatureFromDerivatives } from '../../symmetry/curve.js';
import { sampleColumns } from './data.js';

/** psi's curvature of one draw: M_m on every hidden layer m, tangents summed (compute_gamma_12). */
export function referenceCurvatureTensor(
  ws: readonly tf.Tensor2D[],
  x: tf.Tensor2D,
  ms: readonly tf.Tensor2D[],
  slope = DEFAULT_SLOPE,
  inputPinv?: tf.Tensor2D,
): tf.Scalar {
  if (ms.length !== ws.length - 1) throw new Error(`referenceCurvature: ${ms.length} Lie-algebra elements for ${ws.length - 1} hidden layers`);
  return tf.tidy(() => {
    const parts = ms.map((M, m) => analyticCurveDerivatives(ws, x, m, M, slope, inputPinv));
    const d1 = tf.addN(parts.map((p) => p[0]));
    const d2 = tf.addN(parts.map((p) => p[1]));
    return curvatureFromDerivatives(d1, d2);
  });
}

/**
 * Mean cross-entropy on (x, labels) of the models w + o_j, j = 1..T, where o_j is given per
 * layer as blocks[i] [T, r_i, c_i]; lin = blocks[0] x ([T, d1, k]) may be passed precomputed.
 * Returns [T] losses.
 */
export function perturbedLossesByLayer(
  ws: readonly tf.Tensor2D[],
  x: tf.Tensor2D,
  labels: tf.Tensor1D,
  blocks: readonly tf.Tensor3D[],
  slope = DEFAULT_SLOPE,
  lin?: tf.Tensor3D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const [T, d1, d0] = blocks[0]!.shape;
    const k = x.shape[1];
    const first = lin ?? (tf.reshape(tf.matMul(tf.reshape(blocks[0]!, [T * d1, d0]) as tf.Tensor2D, x), [T, d1, k]) as tf.Tensor3D);
    let h = tf.add(tf.matMul(ws[0]!, x), first) as tf.Tensor3D;
    for (let i = 1; i < ws.length; i++) h = tf.matMul(tf.add(ws[i]!, blocks[i]!) as tf.Tensor3D, leakyRelu(h, slope));
    return crossEntropy(h, tf.tile(tf.reshape(labels, [1, k]), [T, 1])) as tf.Tensor1D;
  });
}

/** Draw i's random quantities, the same for every model (seeded by the draw index). */
export interface ReferenceDraw {
  x: tf.Tensor2D;
  y: tf.Tensor1D;
  /** One M per hidden layer, entries U[0,1), Frobenius norm 1. */
  ms: tf.Tensor2D[];
  /** Per layer [T, r, c]: row j is t_j d_j, d_j with entries U[0,1) normalised over all layers. */
  blocks: tf.Tensor3D[];
}

/** The layer shapes [rows, cols] of a network with widths dims. */
export const layerShapes = (dims: readonly number[]) => dims.slice(0, -1).map((d, i) => [dims[i + 1]!, d] as [number, number]);

/**
 * Per layer [T, r, c] blocks of the perturbations t_j d_j / |d_j| (raw: [T, n] directions over
 * the flattened weights, layer by layer, row-major).
 */
export function directionBlocks(raw: tf.Tensor2D, displacements: readonly number[], shapes: readonly [number, number][]): tf.Tensor3D[] {
  const T = displacements.length;
  if (raw.shape[0] !== T) throw new Error(`directionBlocks: ${raw.shape[0]} directions for ${T} displacements`);
  return tf.tidy(() => {
    const scaled = tf.mul(tf.div(raw, tf.norm(raw, 'euclidean', 1, true)), tf.tensor2d([...displacements], [T, 1]));
    let start = 0;
    return shapes.map(([r, c]) => {
      const b = tf.reshape(tf.slice(scaled, [0, start], [T, r * c]), [T, r, c]) as tf.Tensor3D;
      start += r * c;
      return b;
    });
  });
}

export function referenceDraw(train: DataSplit, dims: readonly number[], displacements: readonly number[], batchSize: number, seed: number, i: number): ReferenceDraw {
  const { x, y } = sampleColumns(train, batchSize, stream(seed, 'reference-metrics', 'batch', i));
  const lie = stream(seed, 'reference-metrics', 'lie', i);
  const shapes = layerShapes(dims);
  const T = displacements.length;
  const n = shapes.reduce((a, [r, c]) => a + r * c, 0);
  const dirRng = stream(seed, 'reference-metrics', 'directions', i);
  return tf.tidy(() => {
    const ms = dims.slice(1, -1).map((d) => {
      const m = tf.tensor2d(lie.uniformArray(d * d), [d, d]);
      return tf.div(m, tf.norm(m)) as tf.Tensor2D;
    });
    const blocks = directionBlocks(tf.tensor2d(dirRng.uniformArray(T * n), [T, n]), displacements, shapes);
    return { x, y, ms, blocks };
  });
}

export interface ReferenceMetricOptions {
  /** Draws (200 in the reference), each a fresh batch, fresh M's and fresh directions. */
  curves: number;
  /** Samples per draw (200 in the reference). */
  batchSize: number;
  displacements: readonly number[];
  seed: number;
  slope?: number;
  /** Called after each draw (progress). */
  onCurve?: (i: number) => void;
}

export interface WeightData {
  data: Float32Array;
  shape: [number, number];
}

/** phi and psi (reference definitions) of every model, the draws shared by all models. */
export function referenceStudyMetrics(
  models: readonly (readonly WeightData[])[],
  train: DataSplit,
  o: ReferenceMetricOptions,
): { sharpness: number; curvature: number }[] {
  if (models.length === 0) return [];
  const slope = o.slope ?? DEFAULT_SLOPE;
  const dims = [models[0]![0]!.shape[1], ...models[0]!.map((w) => w.shape[0])];
  const phi = new Float64Array(models.length);
  const psi = new Float64Array(models.length);
  const wsAll = models.map((m) => m.map((w) => tf.tensor2d(w.data, w.shape)));
  try {
    for (let i = 0; i < o.curves; i++) {
      const draw = referenceDraw(train, dims, o.displacements, o.batchSize, o.seed, i);
      const xp = pinv(draw.x);
      const T = o.displacements.length;
      const [, d1, d0] = draw.blocks[0]!.shape;
      const lin = tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(draw.blocks[0]!, [T * d1, d0]) as tf.Tensor2D, draw.x), [T, d1, o.batchSize]) as tf.Tensor3D);
      wsAll.forEach((ws, b) => {
        const [p, k] = tf.tidy(() => [
          tf.mean(perturbedLossesByLayer(ws, draw.x, draw.y, draw.blocks, slope, lin)),
          referenceCurvatureTensor(ws, draw.x, draw.ms, slope, xp),
        ]);
        phi[b] += p!.dataSync()[0]! / o.curves;
        psi[b] += k!.dataSync()[0]! / o.curves;
        tf.dispose([p!, k!]);
      });
      tf.dispose([draw.x, draw.y, ...draw.ms, ...draw.blocks, xp, lin]);
      o.onCurve?.(i);
    }
  } finally {
    tf.dispose(wsAll);
  }
  return models.map((_, b) => ({ sharpness: phi[b]!, curvature: psi[b]! }));
}
