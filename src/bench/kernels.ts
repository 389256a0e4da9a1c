// Kernel calls of meta-training, counted with tf.profile: deterministic, unlike time, so they
// show what per-kernel dispatch costs whatever the machine's load. One count covers the first
// two truncation windows of B trajectories (forward under the tape and the meta-backward),
// divided by the inner steps they take.
import * as tf from '@tensorflow/tfjs';
import { resolveLearnedPreset } from '../meta/config.js';
import { buildRunParts, entryRunSpec } from '../meta/build.js';
import type { VariantConfig } from '../meta/variant.js';
import { disposeOuter, learnerStep, outerInit } from '../meta/learner.js';
import { moduleLr } from '../meta/train.js';
import { disposeMeta, mapMeta } from '../meta/params.js';

/** The paper's learned variants and recipes, as the presets name them (experiments/presets/). */
export type VariantName = 'LSTM(update)' | 'LSTM(lr,tele)' | 'LSTM(update,tele)';
export type Recipe = 'reference' | 'paper' | 'tuned';
import { moduleSpecs } from '../meta/learned/paper.js';
import { disposeTrajectories, startTrajectories, trajectoryTensors, unrollWindow } from '../meta/truncated.js';
import type { LstmSpec } from '../nn/lstm.js';
import { stream } from '../rng/index.js';
import { PAPER_REGRESSION_TASK, regressionFamily } from '../tasks/regression.js';

export interface KernelCount {
  /** Kernel calls per inner step, forward under the tape + meta-backward. */
  perStep: number;
  /** Kernel calls per inner step of the same forward without a tape. */
  forwardPerStep: number;
  /** Calls per inner step by kernel name (forward + backward), largest first. */
  byKernel: Record<string, number>;
  /** Calls per inner step whose output has fewer than 10k entries. */
  smallPerStep: number;
}

const perStep = (n: number, steps: number) => Math.round((n / steps) * 10) / 10;

/** The meta-estimate of `windows` truncation windows of B trajectories, to run under a profiler or a clock. */
interface MetaWindows {
  steps: number;
  /** Starts the trajectories (not counted) and returns the windows' estimate: forward under the tape and meta-backward. */
  estimate(): () => void;
  /** The same windows' forward alone, without a tape. */
  forward(): void;
  dispose(): void;
}

/** A preset's run parts on the paper's problem, B training problems and the initial meta-parameters. */
function presetSetUp(name: VariantName, recipe: Recipe, batch: number) {
  const p = resolveLearnedPreset(`${recipe}/${name}`);
  const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, p));
  const ids = Array.from({ length: batch }, (_, i) => i);
  const task = parts.family.sample(p.train.seed, 'train', ids);
  return { p, parts, ids, task, meta: parts.learned.init(stream(p.train.seed, 'meta-init'), task) };
}

function metaWindows(name: VariantName, batch: number, recipe: Recipe, windows: number): MetaWindows {
  const { p, parts, ids, task, meta } = presetSetUp(name, recipe, batch);
  return {
    steps: windows * p.train.unroll,
    estimate() {
      let state = parts.estimator.init(meta, task, { seed: p.train.seed, batch: 0, ids });
      return () => {
        for (let w = 0; w < windows; w++) {
          const r = parts.estimator.estimate(meta, task, state, p.train.unroll);
          state = r.state;
          disposeMeta(r.estimate.grads);
        }
        parts.estimator.dispose(state);
      };
    },
    forward() {
      let tr = startTrajectories(parts.learned.optimizer(meta, task), task);
      for (let w = 0; w < windows; w++) {
        const from = tr;
        tf.tidy(() => {
          tr = unrollWindow(parts.learned.optimizer(meta, task), task, from, p.train.unroll, p.train.lossWeighting).next;
          trajectoryTensors(tr).forEach((t) => tf.keep(t));
        });
        disposeTrajectories(from);
      }
      disposeTrajectories(tr);
    },
    dispose() {
      task.dispose();
      disposeMeta(meta);
    },
  };
}

/** The kernels dispatched by `f` (customGrad ops appear under their scope's name: those are left out). */
async function dispatchedKernels(f: () => void): Promise<Awaited<ReturnType<typeof tf.profile>>['kernels']> {
  // tf.profile returns one shared record: copy the kernel list before profiling again
  const kernels = (await tf.profile(f)).kernels.slice();
  const backend = tf.getBackend();
  return kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined);
}

/** Kernel calls of meta-training `name` at batch B over `windows` windows of the preset's unroll. */
export async function countKernels(name: VariantName, batch: number, recipe: Recipe = 'tuned', windows = 2): Promise<KernelCount> {
  const run = metaWindows(name, batch, recipe, windows);
  try {
    const kernels = await dispatchedKernels(run.estimate());
    const forward = await dispatchedKernels(() => run.forward());
    const byName: Record<string, number> = {};
    let small = 0;
    for (const k of kernels) {
      byName[k.name] = (byName[k.name] ?? 0) + 1;
      const out = k.outputShapes[0];
      if (out && out.reduce((a, b) => a * b, 1) < 10_000) small++;
    }
    const byKernel = Object.fromEntries(
      Object.entries(byName)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, perStep(v, run.steps)]),
    );
    return { perStep: perStep(kernels.length, run.steps), forwardPerStep: perStep(forward.length, run.steps), byKernel, smallPerStep: perStep(small, run.steps) };
  } finally {
    run.dispose();
  }
}

/** Where the time of one inner step of meta-training goes, in milliseconds (forward under the tape + meta-backward). */
export interface KernelTime {
  /** Wall time per inner step, unprofiled (the fastest of `repeats`). */
  wallMs: number;
  /** The kernels' own time per inner step, as the backend's timer reports it under tf.profile. */
  kernelMs: number;
  /** Of which the matrix products (BatchMatMul). */
  productMs: number;
  /** Kernel time per inner step by kernel name, largest first. */
  byKernelMs: Record<string, number>;
  /** Kernel time per inner step by output size: < 10k entries, 10k-100k, >= 100k. */
  bySizeMs: Record<'small' | 'medium' | 'large', number>;
}

const ms3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Time per inner step of meta-training `name` at batch B: the wall time (best of `repeats`
 * unprofiled runs, after one warm-up) against the kernels' own time, so that what is not kernel
 * time (dispatch, the tape, JavaScript) shows as the difference.
 */
export async function timeKernels(name: VariantName, batch: number, recipe: Recipe = 'tuned', windows = 2, repeats = 3): Promise<KernelTime> {
  const run = metaWindows(name, batch, recipe, windows);
  try {
    run.estimate()();
    let wall = Infinity;
    for (let r = 0; r < repeats; r++) {
      const windows = run.estimate();
      const t0 = performance.now();
      windows();
      wall = Math.min(wall, performance.now() - t0);
    }
    const kernels = await dispatchedKernels(run.estimate());
    const times = await Promise.all(kernels.map(async (k) => Number(await k.kernelTimeMs)));
    const byName: Record<string, number> = {};
    const bySize = { small: 0, medium: 0, large: 0 };
    kernels.forEach((k, i) => {
      byName[k.name] = (byName[k.name] ?? 0) + times[i]!;
      const n = (k.outputShapes[0] ?? []).reduce((a, b) => a * b, 1);
      bySize[n < 10_000 ? 'small' : n < 100_000 ? 'medium' : 'large'] += times[i]!;
    });
    const per = (x: number) => ms3(x / run.steps);
    return {
      wallMs: per(wall),
      kernelMs: per(times.reduce((a, b) => a + b, 0)),
      productMs: per(byName.BatchMatMul ?? 0),
      byKernelMs: Object.fromEntries(Object.entries(byName).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, per(v)])),
      bySizeMs: { small: per(bySize.small), medium: per(bySize.medium), large: per(bySize.large) },
    };
  } finally {
    run.dispose();
  }
}

/**
 * Milliseconds of one outer step (the learner: gradient norms, clipping, Adam over every
 * meta-parameter), taken once per window whatever B: the best of `repeats` after one warm-up.
 */
export function timeLearnerStep(name: VariantName, recipe: Recipe = 'tuned', repeats = 5): number {
  const setUp = presetSetUp(name, recipe, 1);
  const p = setUp.p;
  let meta = setUp.meta;
  setUp.task.dispose();
  let outer = outerInit(meta);
  const grads = mapMeta(meta, (t) => tf.randomNormal(t.shape, 0, 1, 'float32', 1));
  let best = Infinity;
  for (let r = 0; r <= repeats; r++) {
    const t0 = performance.now();
    const s = learnerStep(meta, outer, { grads, weight: 1, metaLoss: 1, meanLoss: [], finite: true }, (mod) => moduleLr(p.train, mod), p.train.clip);
    if (r > 0) best = Math.min(best, performance.now() - t0);
    ({ meta, outer } = s);
  }
  disposeMeta(grads);
  disposeMeta(meta);
  disposeOuter(outer);
  return ms3(best);
}

/** Multiply-adds x 2 of one LSTM's products for B sequences, one step, forward only. */
function lstmForwardFlops(s: LstmSpec, batch: number): number {
  const gates = 4 * s.hidden;
  const cells = s.input * gates + s.hidden * gates + s.hidden * gates + s.hidden * gates;
  const heads = Object.values(s.heads).reduce((a, n) => a + s.hidden * n, 0);
  return 2 * batch * (cells + heads);
}

/**
 * The counted LSTM flops of meta-training one trajectory of `name` (forward once, backward
 * twice: input and weight gradients), per trajectory, at the paper's problem.
 */
export function lstmFlopsPerTrajectory(name: VariantName, recipe: Recipe = 'tuned', trajectoryLength = 100): number {
  const { kind: _, ...variant } = resolveLearnedPreset(`${recipe}/${name}`).learned;
  const task = regressionFamily(PAPER_REGRESSION_TASK).sample(0, 'train', [0]);
  const specs = moduleSpecs(variant as VariantConfig, task);
  task.dispose();
  const step = [specs.update, specs.tele].reduce((a, s) => a + (s ? lstmForwardFlops(s, 1) : 0), 0);
  return 3 * step * trajectoryLength;
}
