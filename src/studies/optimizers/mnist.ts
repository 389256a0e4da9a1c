/**
 * Standard optimizers with and without teleportation on MNIST / Fashion-MNIST (paper section
 * 5.1, Appendix G.2, Figures 5 and 13), with arms that separate the teleport's effect from the
 * reset of the optimizer's state that the reference code does with it (see ARMS in config.ts).
 *
 * Pairing: every arm of an optimizer trains the same model ids; an id fixes the initial
 * weights, the mini-batch order (src/train/classifier.ts) and the teleport batches (stream
 * `teleport-data/<id>/<k>`), so arm - none differences are paired per id.
 *
 * The arms of an optimizer train in lockstep as one batched computation ([B, ...] parameters,
 * B = arms x runs). A reset restarts the optimizer's step count; the count is shared by the
 * lockstep, so for an optimizer whose update reads it (Adam's bias correction), the arms that
 * reset run in a lockstep of their own (`lockstepGroups`).
 *
 * Teleports follow the reference code's schedule: `count` teleports, one mini-batch each,
 * before the first `count` steps of epoch `epoch` (the classifier loop's `beforeStep` hook).
 */
import * as tf from '@tensorflow/tfjs';
import { optimizer, withTeleport, mapState, disposeState, type OptimizerState, type HandOptimizer } from '../../optim/index.js';
import type { OptimizerConfig } from '../../optim/config.js';
import { teleportOptions } from '../../teleport/config.js';
import { gradNormObjective, type Batch as TeleportBatch } from '../../teleport/objectives.js';
import { groupAction, identityPlus, rescaleFrobenius } from '../../symmetry/action.js';
import { mlpLoss } from '../../nn/mlp.js';
import { gatherColumns } from '../../data/batches.js';
import type { Dataset, DataSplit } from '../../data/types.js';
import { stream } from '../../rng/index.js';
import { modelTensors } from '../../nn/batched.js';
import { initClassifier, trainClassifier, disposeClassifier, DivergenceError, type ClassifierState } from '../../train/classifier.js';
import type { Arm, MnistConfig, MnistOptimizer } from './config.js';
import { referenceTeleport } from './reference-teleport.js';
import { loadLockstep, saveLockstep } from '../../train/classifier-checkpoint.js';

/** One teleport (or random move) of one run. */
export interface TeleportRecord {
  /** Teleport index within the schedule (0..count-1). */
  k: number;
  /** Optimizer steps completed before it, counted over the whole run. */
  atStep: number;
  /** ||grad L||^2 on the teleport batch before and after (the objective the teleport raises). */
  objectiveBefore: number;
  objectiveAfter: number;
  /** Loss on the teleport batch before and after (a perfect symmetry keeps it). */
  lossBefore: number;
  lossAfter: number;
  /** Per hidden layer, ||g - I||_F of the group element applied. */
  distanceFromIdentity: number[];
  seconds: number;
}

export interface RunRecord {
  /** Model id (names its random streams); the same ids in every arm. */
  model: number;
  trainLoss: number[];
  testLoss: number[];
  /** Training seconds per epoch of this run (the lockstep's step time / models in it). */
  epochSeconds: number[];
  /** Seconds of this run's teleports (0 without). */
  teleportSeconds: number;
  teleports: TeleportRecord[];
}

export interface ArmResult {
  arm: Arm;
  runs: RunRecord[];
  /** Set when training diverged (NaN/Inf loss); the runs hold the epochs before it. */
  diverged?: string;
}

export interface OptimizerResult {
  optimizer: OptimizerConfig;
  teleport: MnistOptimizer['teleport'];
  arms: ArmResult[];
  /** Epochs completed by every arm (less than the config's when stopped early). */
  epochs: number;
  complete: boolean;
}

export interface MnistResults {
  config: MnistConfig;
  optimizers: OptimizerResult[];
}

/** The label of an optimizer in tables, plots and directory names. */
export const optimizerLabel = (o: OptimizerConfig) => `${o.name} lr ${o.lr}`;

/** `count` batches of `size` training samples for model `model`'s k-th teleport (its own stream). */
export function teleportBatches(split: DataSplit, count: number, size: number, seed: number, model: number, k: number): TeleportBatch[] {
  if (count * size > split.n) throw new Error(`teleport needs ${count} x ${size} samples, the training split has ${split.n}`);
  const perm = stream(seed, 'teleport-data', model, k).permutation(split.n);
  return Array.from({ length: count }, (_, i) => {
    const idx = perm.subarray(i * size, (i + 1) * size);
    const y = Int32Array.from(idx, (j) => split.y[j]!);
    return { x: tf.tensor2d(gatherColumns(split, idx), [split.d, size]), target: tf.tensor1d(y, 'int32') };
  });
}

/** Arms whose optimizer state is reset at each teleport step. */
export const resetsState = (a: Arm) => a === 'teleport-reset' || a === 'reset' || a === 'random';

/**
 * Does a reset to the initial state, with the step count left running, give the same updates
 * as a fresh optimizer? Then reset and non-reset arms can share one lockstep step count.
 * SGD's buffer is created as the first gradient, equal to 0·momentum + (1 - dampening)·d only
 * with dampening 0; AdaGrad reads the step only through lrDecay; RMSprop never; Adam's bias
 * correction always does.
 */
export function resetKeepsStepCount(o: OptimizerConfig): boolean {
  switch (o.name) {
    case 'sgd':
    case 'momentum':
      return o.dampening === 0;
    case 'adagrad':
      return o.lrDecay === 0;
    case 'rmsprop':
      return true;
    default:
      return false;
  }
}

/** The lockstep groups of an optimizer's arms (in an order where 'random's source arm runs first). */
export function lockstepGroups(o: OptimizerConfig, arms: readonly Arm[]): Arm[][] {
  if (resetKeepsStepCount(o)) return [[...arms]];
  return [arms.filter((a) => !resetsState(a)), arms.filter(resetsState)].filter((g) => g.length > 0);
}

/** The arm whose teleports set the size of 'random''s moves. */
export const randomSource = (arms: readonly Arm[]): Arm => (arms.includes('teleport-reset') ? 'teleport-reset' : 'teleport');

/** Slice b of every tensor of a batched state ([B, ...] -> [...]). */
const sliceState = (s: OptimizerState, b: number) => mapState(s, (t) => tf.tidy(() => tf.squeeze(tf.slice(t, [b, 0, 0], [1, -1, -1]), [0])));

const scalar = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

/** Models in the largest lockstep the config trains (what the backend choice depends on). */
export const largestLockstep = (cfg: Pick<MnistConfig, 'optimizers' | 'arms' | 'runs'>): number =>
  Math.max(...cfg.optimizers.flatMap((o) => lockstepGroups(o.optimizer, cfg.arms).map((g) => g.length))) * cfg.runs;

/**
 * A random group element per hidden layer, I + R with R Gaussian rescaled to ||R||_F =
 * `distances[m]`, applied with the pinv action on the batch; returns the new weights and its record.
 */
export function randomMove(
  ws: readonly tf.Tensor2D[],
  batch: TeleportBatch,
  distances: readonly number[],
  o: { slope: number; rng: ReturnType<typeof stream>; k: number; atStep: number },
): { weights: tf.Tensor2D[]; record: TeleportRecord } {
  const t0 = performance.now();
  const objective = gradNormObjective({ loss: 'ce', slope: o.slope });
  const mlp = { loss: 'ce' as const, slope: o.slope };
  const objectiveBefore = scalar(tf.tidy(() => objective(ws, batch)));
  const lossBefore = scalar(tf.tidy(() => mlpLoss(ws, batch.x, batch.target, mlp)));
  const weights = tf.tidy(() => {
    const gs = ws.slice(0, -1).map((w, m) => {
      const d = w.shape[0];
      return identityPlus(rescaleFrobenius(tf.tensor2d(o.rng.normalArray(d * d), [d, d]), distances[m] ?? 0));
    });
    return groupAction(ws, batch.x, gs, { kind: 'pinv', slope: o.slope }) as tf.Tensor2D[];
  });
  const objectiveAfter = scalar(tf.tidy(() => objective(weights, batch)));
  const lossAfter = scalar(tf.tidy(() => mlpLoss(weights, batch.x, batch.target, mlp)));
  const record = { k: o.k, atStep: o.atStep, objectiveBefore, objectiveAfter, lossBefore, lossAfter, distanceFromIdentity: [...distances], seconds: (performance.now() - t0) / 1000 };
  return { weights, record };
}

interface Slot {
  arm: Arm;
  /** Index of the run within its arm. */
  run: number;
}

/** What a teleport step needs beyond the lockstep state. */
interface TeleportContext {
  cfg: MnistConfig;
  schedule: MnistOptimizer['teleport'];
  inner: HandOptimizer;
  data: DataSplit;
  slots: readonly Slot[];
  /** ||g - I|| per layer of the source arm's k-th teleport, by run id: runId -> k -> distances. */
  distances: Map<number, number[][]>;
  sourceArm: Arm;
  /** Per slot, the records collected. */
  records: TeleportRecord[][];
  seconds: number[];
}

/**
 * The k-th teleport step of a lockstep: every slot by its arm (teleport, random move, reset or
 * nothing). Returns a new state; the given one is left untouched (the loop releases it).
 */
export function teleportStep(state: ClassifierState<OptimizerState>, ctx: TeleportContext, k: number): ClassifierState<OptimizerState> {
  const { cfg, schedule, inner, slots } = ctx;
  const B = slots.length;
  const newParams: tf.Tensor2D[][] = new Array(B);
  const newStates: OptimizerState[] = new Array(B);
  // the source arm's slots first: 'random' needs their distances of this step
  const order = [...slots.keys()].sort((a, b) => Number(slots[b]!.arm === ctx.sourceArm) - Number(slots[a]!.arm === ctx.sourceArm));
  for (const b of order) {
    const { arm } = slots[b]!;
    const model = state.models[b]!;
    const ws = modelTensors(state.params, b);
    const st = sliceState(state.opt, b);
    const atStep = st.step;
    if ((arm === 'teleport' || arm === 'teleport-reset') && schedule.hiddenUpdate === 'reference') {
      const t0 = performance.now();
      const [batch] = teleportBatches(ctx.data, 1, schedule.batchSize, cfg.seed, model, k);
      try {
        const s = schedule.settings;
        const r = referenceTeleport(ws, batch!, { steps: s.steps, lr: s.direction === 'increase' ? s.lr : -s.lr, cap: s.cap, slope: cfg.slope });
        newParams[b] = r.weights;
        newStates[b] = mapState(st, (t) => tf.clone(t));
        const seconds = (performance.now() - t0) / 1000;
        const { objectiveBefore, objectiveAfter, lossBefore, lossAfter, distanceFromIdentity } = r;
        ctx.records[b]!.push({ k, atStep, objectiveBefore, objectiveAfter, lossBefore, lossAfter, distanceFromIdentity, seconds });
        ctx.seconds[b]! += seconds;
        if (arm === ctx.sourceArm) ctx.distances.set(model, Object.assign(ctx.distances.get(model) ?? [], { [k]: distanceFromIdentity }));
      } finally {
        tf.dispose([...ws, batch!.x, batch!.target]);
        disposeState(st);
      }
    } else if (arm === 'teleport' || arm === 'teleport-reset') {
      const t0 = performance.now();
      const batches = teleportBatches(ctx.data, 1, schedule.batchSize, cfg.seed, model, k);
      const opt = withTeleport(inner, {
        at: [st.step],
        data: () => batches,
        teleport: teleportOptions(schedule.settings, { loss: 'ce', slope: cfg.slope, rng: stream(cfg.seed, 'teleport', model, k) }),
        state: arm === 'teleport' ? 'transport' : 'keep',
      });
      try {
        const r = opt.teleport(ws, { inner: st, steps: st.step, teleports: 0, lastTeleportStep: -1 });
        newParams[b] = r.params as tf.Tensor2D[];
        newStates[b] = r.state.inner;
        const e = r.event;
        const seconds = (performance.now() - t0) / 1000;
        ctx.records[b]!.push({ k, atStep, objectiveBefore: e.objectiveBefore, objectiveAfter: e.objectiveAfter, lossBefore: e.lossBefore, lossAfter: e.lossAfter, distanceFromIdentity: e.distanceFromIdentity, seconds });
        ctx.seconds[b]! += seconds;
        if (arm === ctx.sourceArm) {
          const perK = ctx.distances.get(model) ?? [];
          perK[k] = e.distanceFromIdentity;
          ctx.distances.set(model, perK);
        }
      } finally {
        tf.dispose([...ws, ...batches.flatMap((q) => [q.x, q.target])]);
        disposeState(st);
      }
    } else if (arm === 'random') {
      const distances = ctx.distances.get(model)?.[k];
      if (!distances) throw new Error(`random arm: no ${ctx.sourceArm} teleport ${k} of model ${model} to take the size of its move from`);
      const t0 = performance.now();
      const [batch] = teleportBatches(ctx.data, 1, schedule.batchSize, cfg.seed, model, k);
      const r = randomMove(ws, batch!, distances, { slope: cfg.slope, rng: stream(cfg.seed, 'random-teleport', model, k), k, atStep });
      tf.dispose([...ws, batch!.x, batch!.target]);
      newParams[b] = r.weights;
      newStates[b] = st;
      ctx.records[b]!.push(r.record);
      ctx.seconds[b]! += (performance.now() - t0) / 1000;
    } else {
      newParams[b] = ws;
      newStates[b] = st;
    }
    if (resetsState(arm)) {
      const fresh = inner.init(newParams[b]!);
      disposeState(newStates[b]!);
      newStates[b] = fresh;
    }
  }
  const params = state.params.map((_, i) => tf.stack(newParams.map((p) => p[i]!)) as tf.Tensor3D);
  // a lockstep of reset arms only restarts its step count (see resetKeepsStepCount)
  const allReset = slots.every((s) => resetsState(s.arm));
  const opt = {
    step: allReset ? 0 : state.opt.step,
    slots: mapState(state.opt, (_, ref) => tf.stack(newStates.map((s) => s.slots[ref.slot]![ref.index]!))).slots,
  };
  tf.dispose(newParams.flat());
  newStates.forEach(disposeState);
  return { params, opt, epoch: state.epoch, models: state.models };
}

/** What a lockstep group keeps beside its tensors from one epoch to the next (resume). */
interface GroupProgress {
  /** The run records of the group's slots, in slot order. */
  runs: RunRecord[];
  /** Teleport seconds per slot. */
  teleportSeconds: number[];
  /** ||g - I|| per layer of the random arm's source teleports: [model, per k, per layer]. */
  distances: Array<[number, number[][]]>;
}

/** Train one lockstep group of arms; calls `onEpoch` with the arms' runs after each epoch. */
function runGroup(
  cfg: MnistConfig,
  ds: Pick<Dataset, 'train' | 'test'>,
  o: MnistOptimizer,
  arms: readonly Arm[],
  distances: Map<number, number[][]>,
  onEpoch: (epoch: number, arms: ArmResult[]) => void,
  resumeFrom?: LockstepFile,
): ArmResult[] {
  const inner = optimizer(o.optimizer);
  const ids = Array.from({ length: cfg.runs }, (_, i) => i);
  const slots: Slot[] = arms.flatMap((arm) => ids.map((run) => ({ arm, run })));
  const models = slots.map((s) => ids[s.run]!);
  const saved = resumeFrom ? loadLockstep<GroupProgress>(resumeFrom.dir, resumeFrom.key) : undefined;
  const resumed = saved?.progress;
  if (saved && (resumed!.runs.length !== slots.length || saved.state.models.some((m, b) => m !== models[b]))) {
    throw new Error(`${resumeFrom!.dir}: holds models [${saved.state.models}], this lockstep runs [${models}]`);
  }
  const runs: RunRecord[] = resumed?.runs ?? slots.map((s) => ({ model: ids[s.run]!, trainLoss: [], testLoss: [], epochSeconds: [], teleportSeconds: 0, teleports: [] }));
  for (const [model, perK] of resumed?.distances ?? []) distances.set(model, perK);
  const results: ArmResult[] = arms.map((arm) => ({ arm, runs: runs.filter((_, b) => slots[b]!.arm === arm) }));
  const ctx: TeleportContext = {
    cfg,
    schedule: o.teleport,
    inner,
    data: ds.train,
    slots,
    distances,
    sourceArm: randomSource(cfg.arms),
    records: runs.map((r) => r.teleports),
    seconds: resumed?.teleportSeconds ?? slots.map(() => 0),
  };
  const acting = slots.some((s) => s.arm !== 'none');
  let hookSeconds = 0;
  const state0 = saved?.state ?? initClassifier({ dims: cfg.dims, models, seed: cfg.seed }, inner);
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
        beforeStep: (step, s) => {
          if (!acting || s.epoch !== o.teleport.epoch || step >= o.teleport.count) return s;
          const t0 = performance.now();
          const next = teleportStep(s, ctx, step);
          hookSeconds += (performance.now() - t0) / 1000;
          return next;
        },
        afterEpoch: (record, state) => {
          const stepSeconds = (record.seconds - hookSeconds) / slots.length;
          hookSeconds = 0;
          runs.forEach((run, b) => {
            run.trainLoss.push(record.trainLoss[b]!);
            run.testLoss.push(record.testLoss[b]!);
            run.epochSeconds.push(stepSeconds);
            run.teleportSeconds = ctx.seconds[b]!;
          });
          if (resumeFrom) saveLockstep<GroupProgress>(resumeFrom.dir, resumeFrom.key, state, { runs, teleportSeconds: ctx.seconds, distances: [...distances] });
          onEpoch(record.epoch, results);
        },
      },
    });
    disposeClassifier(state, disposeState);
    return results;
  } catch (e) {
    if (e instanceof DivergenceError) return results.map((r) => ({ ...r, diverged: e.message }));
    throw e;
  }
}

export interface RunHooks {
  log?: (s: string) => void;
  /** A finished result of this optimizer from an earlier, interrupted run (resume), if any. */
  load?: (o: MnistOptimizer) => OptimizerResult | undefined;
  /** Called after every epoch with the partial result (for saving as it goes). */
  save?: (r: OptimizerResult) => void;
  /**
   * Where a lockstep group of an optimizer keeps its state after every epoch, and resumes from
   * (see train/classifier-checkpoint.ts); without it an interrupted optimizer starts over.
   */
  lockstep?: (o: MnistOptimizer, arms: readonly Arm[]) => LockstepFile;
}

/** A lockstep group's checkpoint directory and the key of the config it belongs to. */
export interface LockstepFile {
  dir: string;
  key: string;
}

/** One optimizer: its arms, in one or two lockstep groups. */
export function runOptimizer(cfg: MnistConfig, ds: Pick<Dataset, 'train' | 'test'>, o: MnistOptimizer, hooks: RunHooks = {}): OptimizerResult {
  const log = hooks.log ?? (() => {});
  const distances = new Map<number, number[][]>();
  const done: ArmResult[] = [];
  const snapshot = (partial: ArmResult[], complete: boolean): OptimizerResult => {
    const arms = cfg.arms.map((a) => [...done, ...partial].find((r) => r.arm === a)).filter((r): r is ArmResult => r !== undefined);
    const epochs = Math.min(...arms.map((a) => (a.runs.length ? Math.min(...a.runs.map((r) => r.trainLoss.length)) : 0)));
    return { optimizer: o.optimizer, teleport: o.teleport, arms, epochs, complete };
  };
  for (const group of lockstepGroups(o.optimizer, cfg.arms)) {
    const t0 = performance.now();
    const res = runGroup(cfg, ds, o, group, distances, (epoch, partial) => {
      log(`${optimizerLabel(o.optimizer)} [${group.join(', ')}] epoch ${epoch + 1}/${cfg.epochs} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      hooks.save?.(snapshot(partial, false));
    }, hooks.lockstep?.(o, group));
    done.push(...res);
    const diverged = res.find((r) => r.diverged);
    if (diverged) log(`${optimizerLabel(o.optimizer)} [${group.join(', ')}]: ${diverged.diverged}`);
  }
  const result = snapshot([], true);
  hooks.save?.(result);
  return result;
}

/** Every optimizer of the config, one after the other (resuming finished ones through `hooks.load`). */
export function runOptimizersMnist(cfg: MnistConfig, ds: Pick<Dataset, 'train' | 'test'>, hooks: RunHooks = {}): MnistResults {
  const optimizers = cfg.optimizers.map((o) => {
    const prior = hooks.load?.(o);
    if (prior?.complete) {
      hooks.log?.(`${optimizerLabel(o.optimizer)}: done in an earlier run, reusing its results`);
      return prior;
    }
    return runOptimizer(cfg, ds, o, hooks);
  });
  return { config: cfg, optimizers };
}
