// Kernel calls of meta-training, counted with tf.profile: deterministic, unlike time, so they
// show what per-kernel dispatch costs whatever the machine's load. One count covers the first
// two truncation windows of B trajectories (forward under the tape and the meta-backward),
// divided by the inner steps they take.
import * as tf from '@tensorflow/tfjs';
import { resolveLearnedPreset } from '../meta/config.js';
import { buildRunParts, entryRunSpec } from '../meta/build.js';
import type { VariantConfig } from '../meta/variant.js';

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

/** Kernel calls of meta-training `name` at batch B over `windows` windows of the preset's unroll. */
export async function countKernels(name: VariantName, batch: number, recipe: Recipe = 'tuned', windows = 2): Promise<KernelCount> {
  const p = resolveLearnedPreset(`${recipe}/${name}`);
  const parts = buildRunParts(entryRunSpec(PAPER_REGRESSION_TASK, p));
  const ids = Array.from({ length: batch }, (_, i) => i);
  const task = parts.family.sample(p.train.seed, 'train', ids);
  const meta = parts.learned.init(stream(p.train.seed, 'meta-init'), task);
  const steps = windows * p.train.unroll;
  try {
    let state = parts.estimator.init(meta, task, { seed: p.train.seed, batch: 0, ids });
    // tf.profile returns one shared record: copy the kernel list before profiling again
    const kernels = (
      await tf.profile(() => {
        for (let w = 0; w < windows; w++) {
          const r = parts.estimator.estimate(meta, task, state, p.train.unroll);
          state = r.state;
          tf.dispose(Object.values(r.estimate.grads).flatMap((g) => Object.values(g)));
        }
      })
    ).kernels.slice();
    parts.estimator.dispose(state);
    const forward = await tf.profile(() => {
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
    });
    // customGrad ops appear under their scope's name: count only the kernels they dispatch
    const backend = tf.getBackend();
    const dispatched = kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined);
    const byName: Record<string, number> = {};
    let small = 0;
    for (const k of dispatched) {
      byName[k.name] = (byName[k.name] ?? 0) + 1;
      const out = k.outputShapes[0];
      if (out && out.reduce((a, b) => a * b, 1) < 10_000) small++;
    }
    const byKernel = Object.fromEntries(
      Object.entries(byName)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, perStep(v, steps)]),
    );
    return { perStep: perStep(dispatched.length, steps), forwardPerStep: perStep(forward.kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined).length, steps), byKernel, smallPerStep: perStep(small, steps) };
  } finally {
    task.dispose();
    tf.dispose(Object.values(meta).flatMap((m) => Object.values(m)));
  }
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
