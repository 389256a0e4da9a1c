/**
 * Standard optimizers with and without teleportation on MNIST (paper section 5.1, Appendix
 * G.2, Figures 5 and 13). Each optimizer runs in two arms, without and with teleports, over the
 * same model ids: the same initial weights and the same mini-batch order (src/train/classifier.ts
 * derives both from the seed and the model id), so the two arms differ only by the teleport.
 *
 * The shared classifier loop trains the runs of an arm in lockstep ([B, ...] parameters); its
 * `beforeEpoch` hook is where the teleport runs. The toolkit's teleport works on one model, so
 * the hook slices model b out (weights and optimizer state), teleports it with the wrapper of
 * src/optim/teleporting.ts (state policy, AdaGrad accumulator) and stacks the results back.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { optimizer, withTeleport, mapState, disposeState, type OptimizerState, type TeleportEvent, type HandOptimizer } from '../optim/index.js';
import type { OptimizerConfig } from '../optim/config.js';
import { teleportOptions } from '../teleport/config.js';
import type { Batch as TeleportBatch } from '../teleport/objectives.js';
import { gatherColumns } from '../data/batches.js';
import type { Dataset, Split } from '../data/types.js';
import { stream } from '../rng/index.js';
import { initClassifier, modelTensors, trainClassifier, disposeClassifier, DivergenceError, type ClassifierState, type EpochRecord } from '../train/classifier.js';
import { createSummaryWriter } from '../logging/index.js';
import { savePlot } from '../report/plot.js';
import type { MnistConfig } from './config.js';
import { writeReport, bandSeries, markdownTable, meanStdCell, slug, stats } from './report.js';

export interface RunRecord {
  /** Model id (names its random streams). */
  model: number;
  trainLoss: number[];
  testLoss: number[];
  /** Training seconds per epoch of this run (the arm's epoch time / runs trained in lockstep). */
  epochSeconds: number[];
  /** Seconds of this run's teleports (0 without). */
  teleportSeconds: number;
  teleports: TeleportEvent[];
}

export interface ArmResult {
  optimizer: OptimizerConfig;
  teleport: boolean;
  runs: RunRecord[];
  /** Set when training diverged (NaN/Inf loss); the runs hold the epochs before it. */
  diverged?: string;
}

export interface MnistResults {
  config: MnistConfig;
  arms: ArmResult[];
}

/** The label of an optimizer in tables, plots and directory names. */
export const optimizerLabel = (o: OptimizerConfig) => `${o.name} lr ${o.lr}`;

/** `count` batches of `size` training samples for model `model`'s k-th teleport (its own stream). */
export function teleportBatches(split: Split, count: number, size: number, seed: number, model: number, k: number): TeleportBatch[] {
  if (count * size > split.n) throw new Error(`teleport needs ${count} x ${size} samples, the training split has ${split.n}`);
  const perm = stream(seed, 'teleport-data', model, k).permutation(split.n);
  return Array.from({ length: count }, (_, i) => {
    const idx = perm.subarray(i * size, (i + 1) * size);
    const y = Int32Array.from(idx, (j) => split.y[j]!);
    return { x: tf.tensor2d(gatherColumns(split, idx), [split.d, size]), target: tf.tensor1d(y, 'int32') };
  });
}

/** Slice b of every tensor of a batched state ([B, ...] -> [...]). */
const sliceState = (s: OptimizerState, b: number) => mapState(s, (t) => tf.tidy(() => tf.squeeze(tf.slice(t, [b, 0, 0], [1, -1, -1]), [0])));

/**
 * The teleport hook: teleport every model of the lockstep state. Returns the new state (the
 * old one is disposed), and per model its seconds and event.
 */
export function teleportModels(
  state: ClassifierState<OptimizerState>,
  inner: HandOptimizer,
  cfg: MnistConfig,
  data: Split,
  k: number,
): { state: ClassifierState<OptimizerState>; seconds: number[]; events: TeleportEvent[] } {
  const settings = cfg.teleport.settings;
  const params: tf.Tensor[][] = [];
  const states: OptimizerState[] = [];
  const seconds: number[] = [];
  const events: TeleportEvent[] = [];
  state.models.forEach((model, b) => {
    const t0 = performance.now();
    const batches = teleportBatches(data, cfg.teleport.batches, cfg.teleport.batchSize, cfg.seed, model, k);
    const ws = modelTensors(state.params, b);
    const st = sliceState(state.opt, b);
    const opt = withTeleport(inner, {
      at: [st.step],
      data: () => batches,
      teleport: teleportOptions(settings, { loss: 'ce', slope: cfg.slope, rng: stream(cfg.seed, 'teleport', model, k) }),
      state: cfg.teleport.state,
    });
    try {
      const r = opt.teleport(ws, { inner: st, teleports: 0, lastTeleportStep: -1 });
      params.push(r.params);
      states.push(r.state.inner);
      events.push(r.event);
    } finally {
      tf.dispose([...ws, ...batches.flatMap((q) => [q.x, q.target])]);
      disposeState(st);
    }
    seconds.push((performance.now() - t0) / 1000);
  });
  const stacked = params[0]!.map((_, i) => tf.stack(params.map((p) => p[i]!)) as tf.Tensor3D);
  // every model took the same steps; a reset state starts its count again
  const opt = { step: states[0]!.step, slots: mapState(state.opt, (_, ref) => tf.stack(states.map((s) => s.slots[ref.slot]![ref.index]!))).slots };
  tf.dispose(params.flat());
  states.forEach(disposeState);
  disposeClassifier(state, disposeState);
  return { state: { ...state, params: stacked, opt }, seconds, events };
}

/** Train one arm (an optimizer, with or without teleports) on the given model ids. */
export function runArm(
  cfg: MnistConfig,
  ds: Pick<Dataset, 'train' | 'test'>,
  optConfig: OptimizerConfig,
  teleport: boolean,
  models: number[],
  onEpoch: (record: EpochRecord, runs: RunRecord[]) => void = () => {},
): ArmResult {
  const inner = optimizer(optConfig);
  const runs: RunRecord[] = models.map((model) => ({ model, trainLoss: [], testLoss: [], epochSeconds: [], teleportSeconds: 0, teleports: [] }));
  const teleportEpochs = new Set(teleport ? cfg.teleport.epochs : []);
  let k = 0;
  const state0 = initClassifier({ dims: cfg.dims, models, seed: cfg.seed }, inner);
  try {
    const { state } = trainClassifier(state0, {
      optimizer: inner,
      data: { train: ds.train, test: ds.test },
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      seed: cfg.seed,
      slope: cfg.slope,
      disposeState,
      hooks: {
        beforeEpoch: (epoch, s) => {
          if (!teleportEpochs.has(epoch)) return s;
          const r = teleportModels(s, inner, cfg, ds.train, k++);
          r.seconds.forEach((sec, b) => (runs[b]!.teleportSeconds += sec));
          r.events.forEach((e, b) => runs[b]!.teleports.push(e));
          return r.state;
        },
        afterEpoch: (record) => {
          runs.forEach((run, b) => {
            run.trainLoss.push(record.trainLoss[b]!);
            run.testLoss.push(record.testLoss[b]!);
            run.epochSeconds.push(record.seconds / models.length);
          });
          onEpoch(record, runs);
        },
      },
    });
    disposeClassifier(state, disposeState);
    return { optimizer: optConfig, teleport, runs };
  } catch (e) {
    if (e instanceof DivergenceError) return { optimizer: optConfig, teleport, runs, diverged: e.message };
    throw e;
  }
}

/** Every optimizer, without then with teleport; runs batched per arm or one at a time. */
export function runOptimizersMnist(cfg: MnistConfig, ds: Pick<Dataset, 'train' | 'test'>, log: (s: string) => void = () => {}): MnistResults {
  const ids = Array.from({ length: cfg.runs }, (_, i) => i);
  const groups = cfg.batchRuns ? [ids] : ids.map((i) => [i]);
  const arms: ArmResult[] = [];
  for (const o of cfg.optimizers) {
    for (const teleport of [false, true]) {
      const parts = groups.map((models) =>
        runArm(cfg, ds, o, teleport, models, (r) =>
          log(`${optimizerLabel(o)}${teleport ? ' + teleport' : ''} [runs ${models.join(',')}] epoch ${r.epoch + 1}/${cfg.epochs}: train ${meanStdCell(r.trainLoss)} test ${meanStdCell(r.testLoss)} (${r.seconds.toFixed(1)} s)`),
        ),
      );
      const diverged = parts.find((p) => p.diverged)?.diverged;
      arms.push({ optimizer: o, teleport, runs: parts.flatMap((p) => p.runs), ...(diverged ? { diverged } : {}) });
      if (diverged) log(`${optimizerLabel(o)}${teleport ? ' + teleport' : ''}: ${diverged}`);
    }
  }
  return { config: cfg, arms };
}

// ---------------------------------------------------------------------------------------------
// Report.

const cumulative = (xs: number[], start: number) => xs.reduce<number[]>((acc, v) => [...acc, (acc.length ? acc[acc.length - 1]! : start) + v], []);

/** Seconds since the start of the run at the end of each epoch, teleport time included. */
export const runClock = (r: RunRecord) => cumulative(r.epochSeconds, r.teleportSeconds);

/** Per optimizer, with vs without: losses at the table epochs and the end, teleport and epoch seconds. */
export function mnistSummary(res: MnistResults): string {
  const cfg = res.config;
  const cols = [...new Set([...cfg.tableEpochs.filter((e) => e < cfg.epochs), cfg.epochs])];
  const rows: string[][] = [];
  for (const arm of res.arms) {
    const at = (key: 'trainLoss' | 'testLoss', e: number) => meanStdCell(arm.runs.map((r) => r[key][e - 1] ?? NaN));
    rows.push([
      optimizerLabel(arm.optimizer),
      arm.teleport ? 'yes' : 'no',
      ...cols.flatMap((e) => [at('trainLoss', e), at('testLoss', e)]),
      arm.teleport ? meanStdCell(arm.runs.map((r) => r.teleportSeconds)) : '-',
      meanStdCell(arm.runs.map((r) => stats(r.epochSeconds).mean)),
      arm.diverged ? 'diverged' : '',
    ]);
  }
  return [
    `Loss on MNIST (mean ± std over ${cfg.runs} runs; train = mean mini-batch loss of the epoch, test = after the epoch)`,
    '',
    markdownTable(['optimizer', 'teleport', ...cols.flatMap((e) => [`train @${e}`, `test @${e}`]), 'teleport s', 'epoch s', ''], rows),
  ].join('\n');
}

/** results.json, summary.md, per optimizer a plot against epochs (Fig. 5) and seconds (Fig. 13), TensorBoard runs. */
export async function writeMnistReport(res: MnistResults, out: string): Promise<string[]> {
  const files: string[] = [];
  const cfg = res.config;
  const epochs = (r: RunRecord) => r.trainLoss.map((_, i) => i + 1);
  for (const o of cfg.optimizers) {
    const arms = res.arms.filter((a) => a.optimizer === o);
    const name = slug(optimizerLabel(o));
    const series = (x: (r: RunRecord) => number[]) =>
      arms.flatMap((a) => {
        const tag = a.teleport ? 'teleport' : 'no teleport';
        const xs = a.runs.map(x);
        // x of the band: the mean over runs (epochs are the same; seconds differ slightly)
        const mx = (xs[0] ?? []).map((_, i) => stats(xs.map((q) => q[i] ?? NaN)).mean);
        return [bandSeries(`${tag}, train`, mx, a.runs.map((r) => r.trainLoss)), bandSeries(`${tag}, test`, mx, a.runs.map((r) => r.testLoss), true)];
      });
    const title = `${optimizerLabel(o)} on MNIST (mean ± std, ${cfg.runs} runs)`;
    files.push(...(await savePlot(path.join(out, `fig5-${name}`), { title, xLabel: 'epoch', yLabel: 'loss', series: series(epochs) })));
    files.push(...(await savePlot(path.join(out, `fig13-${name}`), { title, xLabel: 'seconds', yLabel: 'loss', series: series(runClock) })));
    for (const a of arms) {
      for (const r of a.runs) {
        const tb = createSummaryWriter(path.join(out, 'tb', name, a.teleport ? 'teleport' : 'no-teleport', `run${r.model}`));
        const clock = runClock(r);
        r.trainLoss.forEach((l, i) => {
          tb.scalar('loss/train', l, i + 1);
          tb.scalar('loss/test', r.testLoss[i]!, i + 1);
          tb.scalar('seconds', clock[i]!, i + 1);
        });
        r.teleports.forEach((e) => {
          tb.scalar('teleport/objective_before', e.objectiveBefore, e.atStep);
          tb.scalar('teleport/objective_after', e.objectiveAfter, e.atStep);
          tb.scalar('teleport/loss_drift', e.lossAfter - e.lossBefore, e.atStep);
        });
        tb.scalar('teleport/seconds', r.teleportSeconds, 0);
        tb.close();
      }
    }
  }
  files.push(...writeReport(out, mnistSummary(res), res), path.join(out, 'tb'));
  return files;
}
