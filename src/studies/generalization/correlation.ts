/**
 * The correlation study (paper section 4.3, Appendix F.3, Table 1, Figures 10 and 11): train
 * N models from different initialisations with SGD, keep each final model (a checkpoint per
 * model), then compute at the final point the validation loss, sharpness phi and curvature
 * psi, and the Pearson correlation of each metric with the validation loss (bootstrap 95%).
 *
 * Data of the metrics (the paper evaluates them on training data):
 * - phi on `sharpness.samples` training samples drawn once (the same for every model), with
 *   `sharpness.directions` random unit directions (Gaussian, normalised; also the same for
 *   every model), at the paper's 20 displacements;
 * - psi on `curvature.samples` training samples, `curvature.curves` random Lie-algebra
 *   elements (entries U[0,1), Frobenius norm 1) acting on hidden layer `curvature.layer`
 *   with the `inverse` action. That action keeps the loss invariant only when the layer's
 *   input h has full column rank (h^+ h = I), so the samples are at most the layer's input
 *   width: layer 0 (the GL(16) symmetry between W1 and W2, input = the 784 pixels) allows
 *   hundreds of samples, the last hidden layer only 16.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { strict, withDefaults, optional, oneOf, PositiveInt, NonNegativeInt, Finite, arrayOf, refineConfig } from '../../config/codec.js';
import { registerConfig, registerPreflight } from '../../config/registry.js';
import { outputsPreflight, throwProblems } from '../../config/preflight.js';
import { optimizer } from '../../optim/index.js';
import { stream } from '../../rng/index.js';
import { PAPER_DISPLACEMENTS, randomDirections, randomLieAlgebra } from '../../symmetry/metrics.js';
import { createSummaryWriter, progress } from '../../logging/index.js';
import { removeAtomic, writeJsonAtomic } from '../../run/atomic.js';
import { savePlot } from '../../report/plot.js';
import { modelWeights } from '../../nn/batched.js';
import { initClassifier, trainClassifier, type EpochRecord } from '../../train/classifier.js';
import { saveModel, loadModel, savedModels, type ModelCheckpoint } from '../../train/checkpoint.js';
import { loadLockstep, saveLockstep } from '../../train/classifier-checkpoint.js';
import { checkpointBackend, checkResumeBackend } from '../../backend/resume-check.js';
import { loadStudyData, sampleColumns, STUDY_DEFAULTS, PAPER_TABLE1, REFERENCE_DISPLACEMENTS } from './data.js';
import { referenceStudyMetrics } from './reference-metrics.js';
import { STUDY_PROPS } from './data.js';
import { studySharpness, studyCurvature } from './metrics.js';
import { pearson, bootstrapPearson } from './stats.js';

const CorrelationBase = withDefaults(
  strict(
    {
      ...STUDY_PROPS,
      models: PositiveInt,
      epochs: PositiveInt,
      batchSize: PositiveInt,
      /** Models trained in lockstep as one batched computation (and checkpointed together). */
      group: PositiveInt,
      sharpness: withDefaults(
        strict({ displacements: arrayOf(Finite, { min: 1 }), directions: PositiveInt, samples: PositiveInt, chunk: PositiveInt }),
        { displacements: PAPER_DISPLACEMENTS, directions: 200, samples: 1000, chunk: 50 },
      ),
      curvature: withDefaults(strict({ curves: PositiveInt, layer: NonNegativeInt, samples: PositiveInt }), { curves: 1, layer: 0, samples: 256 }),
      /**
       * What differs between the models: 'init' (one shared batch order, the same every epoch,
       * as the reference code's sequential loader), 'order' (one shared initialisation, own
       * reshuffled order), 'both' (own initialisation and own reshuffled order).
       */
      vary: oneOf(['init', 'order', 'both']),
      /** Extra checkpoints after these epochs (< epochs), so shorter training is measured on the same models. */
      snapshots: arrayOf(PositiveInt),
      /**
       * Which definitions of phi and psi: 'paper' (the paper's text: the `sharpness` and
       * `curvature` settings above) or 'reference' (the authors' correlation.py: `reference`
       * settings); `epoch`: measure the snapshot after that epoch instead of the final models.
       */
      metrics: withDefaults(strict({ mode: oneOf(['paper', 'reference']), epoch: optional(PositiveInt) }), { mode: 'paper' }),
      /**
       * The reference recipe: `curves` draws, each a fresh batch of `batchSize` training samples,
       * a fresh random M (entries U[0,1), Frobenius norm 1) on every hidden layer (tangents
       * summed) and, per displacement, a fresh torch.rand-like direction (entries U[0,1),
       * normalised). Displacements default per dataset (correlation.py).
       */
      reference: withDefaults(strict({ curves: PositiveInt, batchSize: PositiveInt, displacements: optional(arrayOf(Finite, { min: 1 })) }), {
        curves: 200,
        batchSize: 200,
      }),
      bootstrap: PositiveInt,
    },
    'CorrelationConfig',
  ),
  {
    seed: 0,
    out: 'results/correlation',
    dataset: {},
    models: 100,
    epochs: 40,
    batchSize: 20,
    group: 10,
    sharpness: {},
    curvature: {},
    vary: 'both',
    snapshots: [],
    metrics: {},
    reference: {},
    bootstrap: 2000,
  },
);
export type CorrelationConfig = t.TypeOf<typeof CorrelationBase>;
/** The study config; its checks across fields (studyProblems) are part of decoding. */
export const CorrelationConfig = refineConfig(CorrelationBase, studyProblems);
registerConfig('correlation', CorrelationConfig, 'symtele run correlation: sharpness / curvature vs validation loss (Table 1)');
registerPreflight(
  'correlation',
  outputsPreflight((c: CorrelationConfig, flags) => [
    { field: 'out', path: c.out, kind: 'dir' },
    { field: '--json', path: flags.json as string | undefined, kind: 'file' },
  ]),
);

/** The `--json` output of the study. */
export interface CorrelationSummary {
  dataset: string;
  models: number;
  pearson: { sharpness: number; curvature: number };
  ci95: { sharpness: [number, number]; curvature: [number, number] };
}

export interface ModelMetrics {
  id: number;
  trainLoss: number;
  validationLoss: number;
  sharpness: number;
  curvature: number;
}

export interface CorrelationResult extends CorrelationSummary {
  config: CorrelationConfig;
  /** The metric definitions and the training length measured. */
  mode: 'paper' | 'reference';
  epoch: number;
  paper: { sharpness: number; curvature: number };
  /** Control: Pearson r of the final training loss (mean batch loss of the last epoch) with the validation loss. */
  control: { trainLoss: { r: number; ci95: [number, number] } };
  perModel: ModelMetrics[];
  trainSeconds: number;
  metricSeconds: number;
}

export const resolveStudy = (cfg: CorrelationConfig) => ({
  dims: cfg.dims ?? STUDY_DEFAULTS[cfg.dataset.name].dims,
  lr: cfg.lr ?? STUDY_DEFAULTS[cfg.dataset.name].lr,
});

/** What must match for a checkpoint to be reused. */
export function studyFingerprint(cfg: CorrelationConfig): string {
  const { dims, lr } = resolveStudy(cfg);
  const d = cfg.dataset;
  // `vary` joins the fingerprint only when it departs from the original 'both'
  const vary = cfg.vary === 'both' ? {} : { vary: cfg.vary };
  return JSON.stringify({ dataset: d.name, trainSize: d.trainSize, testSize: d.testSize ?? null, dims, lr, epochs: cfg.epochs, batchSize: cfg.batchSize, seed: cfg.seed, ...vary });
}

/** The folder of the checkpoints after `epoch` (the final models: `models/`). */
export const modelsDir = (cfg: CorrelationConfig, epoch = cfg.epochs) => path.join(cfg.out, epoch === cfg.epochs ? 'models' : `models-epoch-${epoch}`);

/** The epoch the metrics measure. */
export const metricEpoch = (cfg: CorrelationConfig) => cfg.metrics.epoch ?? cfg.epochs;

/** Checks across fields (the model shape, the dataset size), each at its field; part of decoding. */
function studyProblems(cfg: CorrelationConfig): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const { dims } = resolveStudy(cfg);
  const layer = cfg.curvature.layer;
  if (layer > dims.length - 3) out.push({ path: 'curvature.layer', message: `expected a hidden layer of ${dims.join('-')} (0..${dims.length - 3}), got ${layer}` });
  else if (cfg.curvature.samples > dims[layer]!) {
    out.push({
      path: 'curvature.samples',
      message: `expected at most the input width ${dims[layer]} of hidden layer ${layer} (the inverse action needs h^+ h = I), got ${cfg.curvature.samples}`,
    });
  }
  for (const [path, n] of [['sharpness.samples', cfg.sharpness.samples], ['curvature.samples', cfg.curvature.samples], ['reference.batchSize', cfg.reference.batchSize]] as const) {
    if (n > cfg.dataset.trainSize) out.push({ path, message: `expected at most dataset.trainSize ${cfg.dataset.trainSize}, got ${n}` });
  }
  const bad = cfg.snapshots.find((e) => e >= cfg.epochs);
  if (bad !== undefined) out.push({ path: 'snapshots', message: `expected epochs before the last (${cfg.epochs}), got ${bad}` });
  const e = metricEpoch(cfg);
  if (e !== cfg.epochs && !cfg.snapshots.includes(e)) {
    out.push({ path: 'metrics.epoch', message: `expected ${cfg.epochs} or one of snapshots [${cfg.snapshots.join(', ')}] (no checkpoints after other epochs), got ${e}` });
  }
  if (cfg.metrics.mode === 'reference' && cfg.reference.batchSize > dims[0]!) {
    out.push({ path: 'reference.batchSize', message: `expected at most the input width ${dims[0]} (the inverse action on hidden layer 0 needs x^+ x = I), got ${cfg.reference.batchSize}` });
  }
  return out;
}

/** The checks of decoding, for a config built in code: a ConfigError listing every problem. */
export function checkStudyConfig(cfg: CorrelationConfig): void {
  throwProblems('correlation config', studyProblems(cfg));
}

export interface StudyHooks {
  log?: (s: string) => void;
  /** Called after each group of models is checkpointed (tests stop a study here). */
  afterGroup?: (done: number[]) => void;
  /** Called after each epoch of a group, once it is saved (tests stop a study mid-group here). */
  afterEpoch?: (ids: number[], epoch: number) => void;
  progressMode?: 'auto' | 'bar' | 'lines' | 'quiet';
}

/** Train the models that have no checkpoint yet, in groups; returns training seconds. */
export function trainStudyModels(cfg: CorrelationConfig, hooks: StudyHooks = {}): number {
  const log = hooks.log ?? (() => {});
  const { dims, lr } = resolveStudy(cfg);
  const dir = modelsDir(cfg);
  const fingerprint = studyFingerprint(cfg);
  // a model is done when its final checkpoint and every snapshot exist
  const done = savedModels(dir, cfg.models).filter((i) => cfg.snapshots.every((e) => savedModels(modelsDir(cfg, e), cfg.models).includes(i)));
  for (const id of done) {
    const c = loadModel(dir, id)!;
    if (c.fingerprint !== fingerprint) {
      throw new Error(`${dir} holds models trained with other settings (model ${id}); use another --out or delete it`);
    }
    checkResumeBackend(`${dir} model ${id}`, c.backend);
  }
  const todo = [...Array(cfg.models).keys()].filter((i) => !done.includes(i));
  if (todo.length === 0) return 0;
  if (done.length > 0) log(`resuming: ${done.length} of ${cfg.models} models already trained`);
  const data = loadStudyData(cfg.dataset, cfg.seed);
  const opt = optimizer({ name: 'sgd', lr });
  const tb = createSummaryWriter(path.join(cfg.out, 'tb', 'training'));
  const bar = progress(`training ${cfg.dataset.name} models`, todo.length * cfg.epochs, { mode: hooks.progressMode });
  const groupDir = path.join(cfg.out, 'group.lockstep');
  let seconds = 0;
  try {
    for (let g = 0; g < todo.length; g += cfg.group) {
      const ids = todo.slice(g, g + cfg.group);
      // the group in flight is saved after every epoch: a kill loses at most one epoch
      const key = JSON.stringify({ fingerprint, ids });
      const inFlight = loadLockstep<{ history: EpochRecord[] }>(groupDir, key);
      if (inFlight) log(`resuming models ${ids[0]}-${ids[ids.length - 1]} at epoch ${inFlight.state.epoch}`);
      const state = inFlight?.state ?? initClassifier({ dims, models: ids, seed: cfg.seed, sameInit: cfg.vary === 'order' }, opt);
      const history: EpochRecord[] = inFlight?.progress.history ?? [];
      if (history.length > 0) bar.tick(ids.length * history.length);
      const backend = checkpointBackend();
      const save = (d: string, params: readonly tf.Tensor[]) =>
        ids.forEach((id, b) => {
          const trainLoss = history.map((h) => h.trainLoss[b]!);
          const testLoss = history.map((h) => h.testLoss[b]!);
          const secs = history.map((h) => h.seconds / ids.length);
          saveModel(d, { id, dims, fingerprint, backend, trainLoss, testLoss, seconds: secs, weights: modelWeights(params, b) });
        });
      const run = trainClassifier(state, {
        optimizer: opt,
        data: { train: data.train, test: data.test },
        epochs: cfg.epochs,
        batchSize: cfg.batchSize,
        seed: cfg.seed,
        order: cfg.vary === 'init' ? 'shared' : 'per-model',
        hooks: {
          afterEpoch: (r, st) => {
            history.push(r);
            if (cfg.snapshots.includes(r.epoch + 1)) save(modelsDir(cfg, r.epoch + 1), st.params);
            saveLockstep(groupDir, key, st, { history });
            hooks.afterEpoch?.(ids, r.epoch);
            bar.tick(ids.length, { loss: r.trainLoss[0]! });
          },
        },
      });
      ids.forEach((id, b) => {
        history.forEach((h, e) => tb.scalar(`model${id}/train_loss`, h.trainLoss[b]!, e + 1));
        history.forEach((h, e) => tb.scalar(`model${id}/validation_loss`, h.testLoss[b]!, e + 1));
      });
      save(dir, run.state.params);
      removeAtomic(groupDir);
      seconds += history.reduce((a, h) => a + h.seconds, 0);
      tf.dispose(run.state.params);
      tb.flush();
      hooks.afterGroup?.(ids);
    }
  } finally {
    bar.stop();
    tb.close();
  }
  return seconds;
}

/** The checkpoints the metrics measure (the final models or a snapshot); throws naming a missing one. */
export function loadStudyModels(cfg: CorrelationConfig): ModelCheckpoint[] {
  const dir = modelsDir(cfg, metricEpoch(cfg));
  return [...Array(cfg.models).keys()].map((id) => {
    const c = loadModel(dir, id);
    if (!c) throw new Error(`model ${id} has no checkpoint in ${dir}`);
    return c;
  });
}

/** phi and psi of every checkpointed model (recomputed from the checkpoints, no training). */
export function studyMetrics(cfg: CorrelationConfig, hooks: StudyHooks = {}): ModelMetrics[] {
  if (cfg.metrics.mode === 'reference') {
    const models = loadStudyModels(cfg);
    const data = loadStudyData(cfg.dataset, cfg.seed);
    const r = cfg.reference;
    const values = referenceStudyMetrics(
      models.map((c) => c.weights.map((w, i) => ({ data: w, shape: [c.dims[i + 1]!, c.dims[i]!] as [number, number] }))),
      data.train,
      {
        curves: r.curves,
        batchSize: r.batchSize,
        displacements: r.displacements ?? REFERENCE_DISPLACEMENTS[cfg.dataset.name],
        seed: cfg.seed,
        onCurve: hooks.progressMode === 'quiet' ? undefined : (i) => i % 20 === 19 && process.stderr.write(`reference metrics: ${i + 1}/${r.curves} draws\n`),
      },
    );
    return models.map((c, i) => ({ id: c.id, trainLoss: c.trainLoss.at(-1)!, validationLoss: c.testLoss.at(-1)!, ...values[i]! }));
  }
  const { dims } = resolveStudy(cfg);
  const dir = modelsDir(cfg, metricEpoch(cfg));
  const data = loadStudyData(cfg.dataset, cfg.seed);
  const sh = sampleColumns(data.train, cfg.sharpness.samples, stream(cfg.seed, 'correlation', 'sharpness-data'));
  const cu = sampleColumns(data.train, cfg.curvature.samples, stream(cfg.seed, 'correlation', 'curvature-data'));
  const shapes = dims.slice(0, -1).map((d, i) => tf.zeros([dims[i + 1]!, d]) as tf.Tensor2D);
  const directions = randomDirections(shapes, cfg.sharpness.directions, stream(cfg.seed, 'correlation', 'directions'));
  const lieRng = stream(cfg.seed, 'correlation', 'lie-algebra');
  const curves = Array.from({ length: cfg.curvature.curves }, () => randomLieAlgebra(shapes, cfg.curvature.layer, lieRng));
  const bar = progress(`metrics ${cfg.dataset.name}`, cfg.models, { mode: hooks.progressMode });
  try {
    return [...Array(cfg.models).keys()].map((id) => {
      const c = loadModel(dir, id);
      if (!c) throw new Error(`model ${id} has no checkpoint in ${dir}`);
      const ws = c.weights.map((w, i) => tf.tensor2d(w, [dims[i + 1]!, dims[i]!]));
      const sharpness = studySharpness(ws, sh.x, sh.y, { displacements: cfg.sharpness.displacements, directions, chunk: cfg.sharpness.chunk });
      const curvature = studyCurvature(ws, cu.x, curves, cfg.curvature.layer);
      tf.dispose(ws);
      bar.tick(1, { phi: sharpness, psi: curvature });
      return { id, trainLoss: c.trainLoss.at(-1)!, validationLoss: c.testLoss.at(-1)!, sharpness, curvature };
    });
  } finally {
    bar.stop();
    tf.dispose([sh.x, sh.y, cu.x, cu.y, directions, ...curves, ...shapes]);
  }
}

/** Pearson correlations with the validation loss and their bootstrap intervals. */
export function summarize(dataset: string, perModel: readonly ModelMetrics[], seed: number, resamples: number): CorrelationSummary {
  const v = perModel.map((m) => m.validationLoss);
  const of = (key: 'sharpness' | 'curvature') => {
    const x = perModel.map((m) => m[key]);
    return { r: pearson(x, v), ci: bootstrapPearson(x, v, { rng: stream(seed, 'correlation', 'bootstrap', key), samples: resamples }) };
  };
  const s = of('sharpness');
  const c = of('curvature');
  return { dataset, models: perModel.length, pearson: { sharpness: s.r, curvature: c.r }, ci95: { sharpness: s.ci, curvature: c.ci } };
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : String(x));

export function formatSummary(r: CorrelationResult): string {
  const row = (name: string, key: 'sharpness' | 'curvature') =>
    `| ${name} | ${f3(r.pearson[key])} | [${f3(r.ci95[key][0])}, ${f3(r.ci95[key][1])}] | ${f3(r.paper[key])} |`;
  return [
    `correlation with validation loss, ${r.dataset}, ${r.models} models after ${r.epoch} of ${r.config.epochs} epochs (train ${r.config.dataset.trainSize}), ${r.mode} metrics`,
    '| metric | Pearson r | bootstrap 95% | paper (Table 1) |',
    '|---|---|---|---|',
    row('sharpness φ', 'sharpness'),
    row('curvature ψ', 'curvature'),
    `| control: training loss | ${f3(r.control.trainLoss.r)} | [${f3(r.control.trainLoss.ci95[0])}, ${f3(r.control.trainLoss.ci95[1])}] | — |`,
  ].join('\n');
}

/** The whole study: train what is missing, metrics, correlations, plots, JSON, TensorBoard. */
export async function runCorrelation(
  cfg: CorrelationConfig,
  hooks: StudyHooks & { json?: string; stage?: 'all' | 'train' | 'metrics' } = {},
): Promise<CorrelationResult | null> {
  const log = hooks.log ?? ((s: string) => process.stdout.write(s + '\n'));
  checkStudyConfig(cfg);
  fs.mkdirSync(cfg.out, { recursive: true });
  const stage = hooks.stage ?? 'all';
  const trainSeconds = stage === 'metrics' ? 0 : trainStudyModels(cfg, { ...hooks, log });
  if (stage === 'train') return null;
  const t0 = performance.now();
  const perModel = studyMetrics(cfg, hooks);
  const metricSeconds = (performance.now() - t0) / 1000;
  const summary = summarize(cfg.dataset.name, perModel, cfg.seed, cfg.bootstrap);
  const mode = cfg.metrics.mode;
  const epoch = metricEpoch(cfg);
  const t = perModel.map((m) => m.trainLoss);
  const v = perModel.map((m) => m.validationLoss);
  const control = { trainLoss: { r: pearson(t, v), ci95: bootstrapPearson(t, v, { rng: stream(cfg.seed, 'correlation', 'bootstrap', 'train-loss'), samples: cfg.bootstrap }) } };
  const result: CorrelationResult = { ...summary, config: cfg, mode, epoch, paper: PAPER_TABLE1[cfg.dataset.name], control, perModel, trainSeconds, metricSeconds };
  const tag = `${mode}-epoch${epoch}`;

  writeJsonAtomic(path.join(cfg.out, 'results.json'), result);
  writeJsonAtomic(path.join(cfg.out, `results-${tag}.json`), result);
  if (hooks.json) writeJsonAtomic(hooks.json, summary);
  const tb = createSummaryWriter(path.join(cfg.out, 'tb', `metrics-${tag}`));
  perModel.forEach((m) => {
    tb.scalar('study/validation_loss', m.validationLoss, m.id);
    tb.scalar('study/sharpness', m.sharpness, m.id);
    tb.scalar('study/curvature', m.curvature, m.id);
  });
  tb.text('summary', formatSummary(result), 0);
  tb.close();
  for (const key of ['sharpness', 'curvature'] as const) {
    await savePlot(path.join(cfg.out, `${tag}-${key}`), {
      title: `${cfg.dataset.name}, ${mode} ${key === 'sharpness' ? 'φ' : 'ψ'}, epoch ${epoch}: r = ${f3(summary.pearson[key])}`,
      xLabel: `${key === 'sharpness' ? 'sharpness φ' : 'curvature ψ'} (${mode})`,
      yLabel: 'validation loss',
      points: perModel.map((m) => ({ x: m[key], y: m.validationLoss })),
    });
  }
  log(formatSummary(result));
  log(`train ${trainSeconds.toFixed(0)} s, metrics ${metricSeconds.toFixed(0)} s; results: ${path.join(cfg.out, `results-${tag}.json`)}`);
  return result;
}
