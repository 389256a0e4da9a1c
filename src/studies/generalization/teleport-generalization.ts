/**
 * Teleporting for generalization (paper section 4.4, Appendix F.4, Figure 4): train with SGD,
 * teleport once near convergence to increase or decrease sharpness phi or curvature psi, and
 * continue training. Five arms (none, phi up, phi down, psi up, psi down) × runs.
 *
 * The arms of one run share everything but the teleport: the same initialisation, the same
 * mini-batch order (streams per run and epoch) and the same teleport data, so the first
 * `teleportEpoch` epochs are trained once and forked into the arms.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { strict, withDefaults, optional, oneOf, PositiveInt, NonNegativeInt, PositiveNumber, Finite, arrayOf, refineConfig } from '../../config/codec.js';
import { ActionKind } from '../../config/common.js';
import { registerConfig, registerPreflight } from '../../config/registry.js';
import { outDirPreflight, throwProblems } from '../../config/preflight.js';
import type { DatasetName } from '../../data/types.js';
import { optimizer } from '../../optim/index.js';
import { stream } from '../../rng/index.js';
import { PAPER_DISPLACEMENTS } from '../../symmetry/metrics.js';
import { teleport } from '../../teleport/teleport.js';
import { createSummaryWriter } from '../../logging/index.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { savePlot, meanStd, bandSeries, type Series } from '../../report/plot.js';
import { modelTensors } from '../../nn/batched.js';
import { initClassifier, trainClassifier, type ClassifierState, type EpochRecord } from '../../train/classifier.js';
import { loadLockstep, saveLockstep } from '../../train/classifier-checkpoint.js';
import { evaluateLoss } from '../../train/evaluate.js';
import { loadStudyData, sampleColumns } from './data.js';
import { STUDY_PROPS } from './data.js';
import { stateTensors, type OptimizerState } from '../../optim/state.js';
import { curveTeleport, type CurveStep } from './curve-teleport.js';
import { pairedDifference } from './stats.js';

export const ARMS = ['none', 'sharpness-up', 'sharpness-down', 'curvature-up', 'curvature-down'] as const;
export type Arm = (typeof ARMS)[number];

/** Figure 4 architecture: the study's network with hidden sizes 32 and 10. */
export const FIG4_DIMS: Record<DatasetName, number[]> = {
  mnist: [784, 32, 10, 10],
  'fashion-mnist': [784, 32, 10, 10],
  cifar10: [3072, 32, 10, 10],
};
const FIG4_LR: Record<DatasetName, number> = { mnist: 0.01, 'fashion-mnist': 0.01, cifar10: 0.02 };

/** The reference's curve step sizes (teleport_sharpness_curvature.py, lr_teleport_curvature). */
export const REFERENCE_CURVE_LR: Record<DatasetName, { increase: number; decrease: number }> = {
  mnist: { increase: 2e-1, decrease: 5e-2 },
  'fashion-mnist': { increase: 5e-3, decrease: 3e-3 },
  cifar10: { increase: 2e-1, decrease: 5e-2 },
};

const TeleportGeneralizationBase = withDefaults(
  strict(
    {
      ...STUDY_PROPS,
      epochs: PositiveInt,
      /** Teleport before this epoch (0-based), i.e. after `teleportEpoch` epochs of SGD. */
      teleportEpoch: NonNegativeInt,
      batchSize: PositiveInt,
      runs: PositiveInt,
      arms: arrayOf(oneOf(ARMS), { min: 1 }),
      teleport: withDefaults(
        strict({
          batches: PositiveInt,
          batchSize: PositiveInt,
          lr: PositiveNumber,
          sharpnessSteps: NonNegativeInt,
          curvatureSteps: NonNegativeInt,
          /** Bound each group step lr·G to this Frobenius norm (curvature is very nonlinear in g). */
          stepNorm: optional(PositiveNumber),
          kind: ActionKind,
          sharpness: withDefaults(strict({ displacements: arrayOf(Finite, { min: 1 }), directions: PositiveInt }), {
            displacements: PAPER_DISPLACEMENTS,
            directions: 200,
          }),
          curvature: withDefaults(strict({ curves: PositiveInt, layer: optional(NonNegativeInt) }), { curves: 1 }),
          /**
           * How psi is changed: 'ascent' (ours, after the paper's text: gradient steps on psi over
           * every layer's group element, `curvatureSteps` per batch) or 'curve' (the reference:
           * one step t = ±curveLr·kappa'(0) along exp(tM)·w per batch, a fresh M on the last hidden layer).
           */
          curvatureMode: oneOf(['ascent', 'curve']),
          /** Step sizes of the curve mode; default per dataset (the reference's). */
          curveLr: optional(strict({ increase: PositiveNumber, decrease: PositiveNumber })),
          /** Ours: clip each curve step to ||t M||_F <= curveStepNorm (default: unbounded, as the reference). */
          curveStepNorm: optional(PositiveNumber),
        }),
        { batches: 5, batchSize: 2000, lr: 0.05, sharpnessSteps: 10, curvatureSteps: 1, kind: 'pinv', sharpness: {}, curvature: {}, curvatureMode: 'ascent' },
      ),
    },
    'TeleportGeneralizationConfig',
  ),
  { seed: 0, out: 'results/teleport-generalization', dataset: {}, epochs: 40, teleportEpoch: 20, batchSize: 20, runs: 5, arms: [...ARMS], teleport: {} },
);
export type TeleportGeneralizationConfig = t.TypeOf<typeof TeleportGeneralizationBase>;
/** The study config; its checks across fields (studyProblems) are part of decoding. */
export const TeleportGeneralizationConfig = refineConfig(TeleportGeneralizationBase, studyProblems);
registerConfig('teleport-generalization', TeleportGeneralizationConfig, 'symtele run teleport-generalization: Figure 4');
registerPreflight('teleport-generalization', outDirPreflight);

export interface ArmResult {
  arm: Arm;
  /** [run][epoch]: epochs 1..E. */
  trainLoss: number[][];
  validationLoss: number[][];
  /** Per run: validation and full-train loss just before / after the teleport. */
  jump: {
    validationBefore: number;
    validationAfter: number;
    trainBefore: number;
    trainAfter: number;
    objectiveBefore: number;
    objectiveAfter: number;
    seconds: number;
    /** Curve mode: each step's kappa(0), kappa'(0), t and kappa(t). */
    curveSteps?: CurveStep[];
  }[];
  finalValidation: { mean: number; std: number };
  /** Against the 'none' arm, paired by run: validation loss difference at the teleport and at the end (mean, 95% t-interval). */
  paired?: { atTeleport: PairedDiff; final: PairedDiff };
}

type PairedDiff = { mean: number; lo: number; hi: number; n: number };

export interface TeleportGeneralizationResult {
  config: TeleportGeneralizationConfig;
  dims: number[];
  arms: ArmResult[];
}

/** Checks across fields, each at its field; part of decoding. */
function studyProblems(cfg: TeleportGeneralizationConfig): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  if (cfg.teleportEpoch >= cfg.epochs) out.push({ path: 'teleportEpoch', message: `expected an epoch below epochs (${cfg.epochs}), got ${cfg.teleportEpoch}` });
  // each teleport batch is an independent draw without replacement (batches may overlap)
  if (cfg.teleport.batchSize > cfg.dataset.trainSize) {
    out.push({ path: 'teleport.batchSize', message: `expected at most dataset.trainSize (${cfg.dataset.trainSize}), got ${cfg.teleport.batchSize}` });
  }
  return out;
}

/** The checks of decoding, for a config built in code: a ConfigError listing every problem. */
function checkConfig(cfg: TeleportGeneralizationConfig): void {
  throwProblems('teleport-generalization config', studyProblems(cfg));
}

/** Teleport model `run` of `state` as the arm says; returns its new weights and what changed. */
function teleportArm(
  cfg: TeleportGeneralizationConfig,
  arm: Arm,
  ws: tf.Tensor2D[],
  batches: { x: tf.Tensor2D; y: tf.Tensor1D }[],
  run: number,
): { weights: tf.Tensor2D[]; objectiveBefore: number; objectiveAfter: number; curveSteps?: CurveStep[] } {
  if (arm === 'none') return { weights: ws.map((w) => tf.clone(w)), objectiveBefore: NaN, objectiveAfter: NaN };
  const [objective, direction] = arm.split('-') as ['sharpness' | 'curvature', 'up' | 'down'];
  const s = cfg.teleport;
  if (objective === 'curvature' && s.curvatureMode === 'curve') {
    const dir = direction === 'up' ? 'increase' : 'decrease';
    const lr = (s.curveLr ?? REFERENCE_CURVE_LR[cfg.dataset.name])[dir];
    // the same M draws for both directions of a run
    const r = curveTeleport(ws, batches.map((b) => b.x), { lr, direction: dir, kind: s.kind, layer: s.curvature.layer, maxStepNorm: s.curveStepNorm, rng: stream(cfg.seed, 'teleport-generalization', 'curve', run) });
    // objective: mean kappa before and after over the steps taken
    const taken = r.steps.filter((c) => !c.skipped);
    const mean = (f: (c: CurveStep) => number) => (taken.length ? taken.reduce((a, c) => a + f(c), 0) / taken.length : NaN);
    return { weights: r.weights, objectiveBefore: mean((c) => c.kappaBefore), objectiveAfter: mean((c) => c.kappaAfter), curveSteps: r.steps };
  }
  const r = teleport(ws, batches[0]!.x, batches[0]!.y, {
    objective,
    steps: objective === 'sharpness' ? s.sharpnessSteps : s.curvatureSteps,
    lr: s.lr,
    stepNorm: s.stepNorm,
    direction: direction === 'up' ? 'increase' : 'decrease',
    kind: s.kind,
    loss: 'ce',
    batches: batches.slice(1).map((b) => ({ x: b.x, target: b.y })),
    sharpness: { displacements: s.sharpness.displacements, count: s.sharpness.directions },
    curvature: { count: s.curvature.curves, layer: s.curvature.layer },
    // the same directions / curves for both directions of an objective within a run
    rng: stream(cfg.seed, 'teleport-generalization', 'objective', objective, run),
  });
  return { weights: r.weights, objectiveBefore: r.objectiveBefore, objectiveAfter: r.objectiveAfter };
}

/** What the run keeps beside the weights after the teleport (the second phase's resume file). */
interface AfterTeleport {
  /** Epoch records before the teleport, and after it so far. */
  first: EpochRecord[];
  second: EpochRecord[];
  before: { validation: number[]; train: number[] };
  jumps: ArmResult['jump'][];
}

export interface TeleportGeneralizationHooks {
  log?: (s: string) => void;
  /** After each epoch of either phase, once its state is saved (tests stop a run here). */
  afterEpoch?: (phase: 'before-teleport' | 'after-teleport', epoch: number) => void;
  /** After each (arm, run) teleport, once its result is saved. */
  afterTeleport?: (arm: Arm, run: number) => void;
}

/**
 * Train, teleport every run as each arm says, and continue all arms to `epochs`. Resumable: after
 * every epoch the lockstep's weights and the records so far are saved in `out`
 * (before-teleport.lockstep/, then after-teleport.lockstep/, written right after the
 * teleports), each (arm, run) teleport's weights and record as soon as it is done
 * (teleports/<arm>-run<r>/: a φ teleport at the paper's size takes many minutes), and a rerun
 * of the same config continues from the last one with the numbers of an uninterrupted run.
 * The first phase's file is keyed by the settings that phase uses only, so runs that differ in
 * the teleport or the epochs after it (ascent and curve mode, say) can start from a copy of it.
 */
export async function runTeleportGeneralization(cfg: TeleportGeneralizationConfig, hooks: TeleportGeneralizationHooks = {}): Promise<TeleportGeneralizationResult> {
  const log = hooks.log ?? ((s: string) => process.stdout.write(s + '\n'));
  checkConfig(cfg);
  const name = cfg.dataset.name;
  const dims = cfg.dims ?? FIG4_DIMS[name];
  const data = loadStudyData(cfg.dataset, cfg.seed);
  const split = { train: data.train, test: data.test };
  const lr = cfg.lr ?? FIG4_LR[name];
  const opt = optimizer({ name: 'sgd', lr });
  const runs = [...Array(cfg.runs).keys()];
  const common = { optimizer: opt, data: split, batchSize: cfg.batchSize, seed: cfg.seed };
  fs.mkdirSync(cfg.out, { recursive: true });
  const key = JSON.stringify({ ...cfg, out: null, dims });
  const firstKey = JSON.stringify({ phase: 'before-teleport', seed: cfg.seed, dataset: cfg.dataset, dims, lr, batchSize: cfg.batchSize, runs: cfg.runs, epochs: cfg.teleportEpoch });
  const beforeDir = path.join(cfg.out, 'before-teleport.lockstep');
  const afterDir = path.join(cfg.out, 'after-teleport.lockstep');
  const teleportsDir = path.join(cfg.out, 'teleports');
  const teleportDir = (arm: Arm, run: number) => path.join(teleportsDir, `${arm}-run${run}`);
  const saving = (phase: 'before-teleport' | 'after-teleport', dir: string, progress: (rec: EpochRecord) => unknown) => ({
    afterEpoch: (rec: EpochRecord, st: ClassifierState<OptimizerState>) => {
      saveLockstep(dir, phase === 'before-teleport' ? firstKey : key, st, progress(rec));
      hooks.afterEpoch?.(phase, rec.epoch);
    },
  });

  const resumed = loadLockstep<AfterTeleport>(afterDir, key);
  let forked: ClassifierState<OptimizerState>;
  let progress: AfterTeleport;
  if (resumed) {
    log(`${name}: resuming after the teleport at epoch ${resumed.state.epoch} (${afterDir})`);
    ({ state: forked, progress } = resumed);
  } else {
    ({ forked, progress } = trainAndTeleport());
    saveLockstep(afterDir, key, forked, progress);
  }

  /** Phases 1 and 2: the shared first epochs (resumable), then the teleports. */
  function trainAndTeleport(): { forked: ClassifierState<OptimizerState>; progress: AfterTeleport } {
    // 1. the shared first epochs
    const early = loadLockstep<{ history: EpochRecord[] }>(beforeDir, firstKey);
    const history = early?.progress.history ?? [];
    log(`${name}: training ${cfg.runs} runs for ${cfg.teleportEpoch} epochs before the teleport${early ? ` (resuming at epoch ${early.state.epoch})` : ''}`);
    const first = trainClassifier(early?.state ?? initClassifier({ dims, models: runs, seed: cfg.seed }, opt), {
      ...common,
      epochs: cfg.teleportEpoch,
      hooks: saving('before-teleport', beforeDir, (rec) => (history.push(rec), { history })),
    });
    const before = { validation: evaluateLoss(first.state.params, data.test), train: evaluateLoss(first.state.params, data.train) };

    // 2. teleport each run as each arm says
    const armWeights: tf.Tensor2D[][][] = [];
    const jumps: ArmResult['jump'][] = [];
    fs.mkdirSync(teleportsDir, { recursive: true });
    try {
      for (const arm of cfg.arms) {
        const perRun: tf.Tensor2D[][] = [];
        armWeights.push(perRun);
        const armJumps: ArmResult['jump'] = [];
        for (const run of runs) {
          const done = loadLockstep<ArmResult['jump'][number]>(teleportDir(arm, run), key);
          if (done) {
            perRun.push(done.state.params.map((p) => tf.squeeze(p, [0]) as tf.Tensor2D));
            tf.dispose([...done.state.params, ...stateTensors(done.state.opt)]);
            armJumps.push(done.progress);
            continue;
          }
          const dataRng = stream(cfg.seed, 'teleport-generalization', 'data', run);
          const batches = Array.from({ length: cfg.teleport.batches }, () => sampleColumns(data.train, cfg.teleport.batchSize, dataRng));
          const ws = modelTensors(first.state.params, run);
          const t0 = performance.now();
          const r = teleportArm(cfg, arm, ws, batches, run);
          const seconds = (performance.now() - t0) / 1000;
          tf.dispose([...ws, ...batches.flatMap((b) => [b.x, b.y])]);
          const stacked = r.weights.map((w) => tf.expandDims(w, 0) as tf.Tensor3D);
          const validationAfter = evaluateLoss(stacked, data.test)[0]!;
          const trainAfter = evaluateLoss(stacked, data.train)[0]!;
          const jump = {
            validationBefore: before.validation[run]!,
            validationAfter,
            trainBefore: before.train[run]!,
            trainAfter,
            objectiveBefore: r.objectiveBefore,
            objectiveAfter: r.objectiveAfter,
            seconds,
            ...(r.curveSteps ? { curveSteps: r.curveSteps } : {}),
          };
          // one model's weights in the lockstep format (SGD: no optimizer state to speak of)
          const one = { params: stacked, opt: opt.init(stacked), epoch: cfg.teleportEpoch, models: [run] };
          saveLockstep(teleportDir(arm, run), key, one, jump);
          tf.dispose([...stacked, ...stateTensors(one.opt)]);
          armJumps.push(jump);
          perRun.push(r.weights);
          if (arm !== 'none') log(`  ${arm} run ${run}: objective ${r.objectiveBefore.toPrecision(4)} -> ${r.objectiveAfter.toPrecision(4)}, validation loss ${before.validation[run]!.toFixed(4)} -> ${validationAfter.toFixed(4)} (${seconds.toFixed(1)} s)`);
          hooks.afterTeleport?.(arm, run);
        }
        jumps.push(armJumps);
      }
    } catch (e) {
      // a stop between teleports (the hook): what is done is on disk
      tf.dispose([...armWeights.flat(2), ...first.state.params]);
      throw e;
    }

    // the arms × runs lockstep of phase 3 (each keeps its run's batch order)
    const params = dims
      .slice(0, -1)
      .map((_, i) => tf.tidy(() => tf.concat(armWeights.flatMap((perRun) => perRun.map((ws) => tf.expandDims(ws[i]!, 0)))) as tf.Tensor3D));
    tf.dispose(armWeights.flat(2));
    tf.dispose(first.state.params);
    return { forked: { params, opt: opt.init(params), epoch: cfg.teleportEpoch, models: cfg.arms.flatMap(() => runs) }, progress: { first: history, second: [], before, jumps } };
  }

  // 3. continue all arms × runs in lockstep to the end (resumable)
  const A = cfg.arms.length;
  const { jumps } = progress;
  log(`${name}: continuing ${A} arms × ${cfg.runs} runs to epoch ${cfg.epochs}`);
  const second = trainClassifier(forked, { ...common, epochs: cfg.epochs, hooks: saving('after-teleport', afterDir, (rec) => (progress.second.push(rec), progress)) });
  tf.dispose(second.state.params);

  const curve = (h: EpochRecord[], field: 'trainLoss' | 'testLoss', idx: number) => h.map((r) => r[field][idx]!);
  const arms: ArmResult[] = cfg.arms.map((arm, a) => {
    const trainLoss = runs.map((r) => [...curve(progress.first, 'trainLoss', r), ...curve(progress.second, 'trainLoss', a * cfg.runs + r)]);
    const validationLoss = runs.map((r) => [...curve(progress.first, 'testLoss', r), ...curve(progress.second, 'testLoss', a * cfg.runs + r)]);
    const finals = validationLoss.map((v) => v.at(-1)!);
    const mean = finals.reduce((x, y) => x + y, 0) / finals.length;
    const std = Math.sqrt(finals.reduce((x, y) => x + (y - mean) ** 2, 0) / finals.length);
    return { arm, trainLoss, validationLoss, jump: jumps[a]!, finalValidation: { mean, std } };
  });
  const none = arms.find((a) => a.arm === 'none');
  if (none) {
    for (const a of arms) {
      if (a === none) continue;
      a.paired = {
        atTeleport: pairedDifference(a.jump.map((j) => j.validationAfter), none.jump.map((j) => j.validationAfter)),
        final: pairedDifference(a.validationLoss.map((v) => v.at(-1)!), none.validationLoss.map((v) => v.at(-1)!)),
      };
    }
  }
  const result: TeleportGeneralizationResult = { config: cfg, dims, arms };
  await writeOutputs(cfg, result);
  log(formatTeleportTable(result));
  return result;
}

const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sgn = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(4)}` : '—');

export function formatTeleportTable(r: TeleportGeneralizationResult): string {
  const lines = [
    `teleport for generalization, ${r.config.dataset.name} ${r.dims.join('-')}, teleport at epoch ${r.config.teleportEpoch}, ${r.config.runs} runs`,
    '| arm | final validation loss (mean ± std) | validation jump at teleport | train jump at teleport | objective before → after | final − none, paired [95% t] |',
    '|---|---|---|---|---|---|',
  ];
  for (const a of r.arms) {
    const dv = meanOf(a.jump.map((j) => j.validationAfter - j.validationBefore));
    const dt = meanOf(a.jump.map((j) => j.trainAfter - j.trainBefore));
    const ob = meanOf(a.jump.map((j) => j.objectiveBefore));
    const oa = meanOf(a.jump.map((j) => j.objectiveAfter));
    const obj = Number.isFinite(ob) ? `${ob.toPrecision(4)} → ${oa.toPrecision(4)}` : '—';
    const p = a.paired?.final;
    const paired = p ? `${sgn(p.mean)} [${sgn(p.lo)}, ${sgn(p.hi)}]` : '—';
    lines.push(`| ${a.arm} | ${a.finalValidation.mean.toFixed(4)} ± ${a.finalValidation.std.toFixed(4)} | ${sgn(dv)} | ${sgn(dt)} | ${obj} | ${paired} |`);
  }
  return lines.join('\n');
}

async function writeOutputs(cfg: TeleportGeneralizationConfig, r: TeleportGeneralizationResult): Promise<void> {
  writeJsonAtomic(path.join(cfg.out, 'results.json'), r);
  const tb = createSummaryWriter(path.join(cfg.out, 'tb'));
  for (const a of r.arms) {
    meanStd(a.trainLoss).mean.forEach((v, e) => tb.scalar(`${a.arm}/train_loss`, v, e + 1));
    meanStd(a.validationLoss).mean.forEach((v, e) => tb.scalar(`${a.arm}/validation_loss`, v, e + 1));
  }
  tb.text('summary', formatTeleportTable(r), 0);
  tb.close();
  const series = (a: ArmResult): Series[] =>
    (['trainLoss', 'validationLoss'] as const).map((key) => {
      const x = Array.from({ length: Math.max(...a[key].map((r) => r.length)) }, (_, e) => e + 1);
      return bandSeries(`${a.arm} ${key === 'trainLoss' ? 'train' : 'validation'}`, x, a[key], { dashed: key === 'validationLoss', unit: 'runs', xName: 'epoch' });
    });
  const none = r.arms.find((a) => a.arm === 'none');
  for (const objective of ['sharpness', 'curvature']) {
    const arms = r.arms.filter((a) => a.arm === 'none' || a.arm.startsWith(objective));
    if (arms.length === 0) continue;
    await savePlot(path.join(cfg.out, `teleport-${objective}`), {
      title: `${cfg.dataset.name}: teleport to change ${objective} at epoch ${cfg.teleportEpoch} (solid train, dashed validation)`,
      xLabel: 'epoch',
      yLabel: 'loss',
      series: arms.flatMap(series),
    });
    const moved = arms.filter((a) => a !== none);
    if (!none || moved.length === 0) continue;
    await savePlot(path.join(cfg.out, `teleport-${objective}-diff`), {
      title: `${cfg.dataset.name}: arm − none, paired, 95% t (epoch ${cfg.teleportEpoch}: right after the teleport; solid train, dashed validation)`,
      xLabel: 'epoch',
      yLabel: 'Δ loss',
      series: moved.flatMap((a) => differenceSeries(a, none, cfg.teleportEpoch)),
    });
  }
}

/**
 * The paired difference arm − none per epoch from the teleport on, train and validation, with
 * 95% t-intervals; the first point is the loss right after the teleport (before any step).
 */
function differenceSeries(a: ArmResult, none: ArmResult, teleportEpoch: number): Series[] {
  const epochs = Array.from({ length: a.validationLoss[0]!.length - teleportEpoch }, (_, i) => teleportEpoch + 1 + i);
  return (['train', 'validation'] as const).map((which) => {
    const curve = which === 'train' ? (x: ArmResult) => x.trainLoss : (x: ArmResult) => x.validationLoss;
    const after = (x: ArmResult) => x.jump.map((j) => (which === 'train' ? j.trainAfter : j.validationAfter));
    const at = [pairedDifference(after(a), after(none)), ...epochs.map((e) => pairedDifference(curve(a).map((v) => v[e - 1]!), curve(none).map((v) => v[e - 1]!)))];
    return { name: `${a.arm} ${which}`, x: [teleportEpoch, ...epochs], y: at.map((d) => d.mean), lo: at.map((d) => d.lo), hi: at.map((d) => d.hi), dashed: which === 'validation' };
  });
}
