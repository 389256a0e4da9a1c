// `symtele run correlation`: sharpness and curvature versus validation loss (Table 1).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CorrelationConfig, runCorrelation } from '../../studies/generalization/correlation.js';
import { savedModels } from '../../train/checkpoint.js';
import { runCommand, useBackend } from '../run.js';
import { loadPresetConfigOrExit, RUN_DEFAULT_PRESET } from './_preset.js';
import { studyOptions, studyOverrides, type StudyFlags } from './_study.js';

const EXPERIMENT = 'correlation';

interface Flags extends StudyFlags {
  json?: string;
  resume?: boolean;
  trainOnly?: boolean;
  metricsOnly?: boolean;
  metrics?: string;
  atEpoch?: string;
}

export function register(run: Command): void {
  const command = run
    .command(EXPERIMENT)
    .description('train N models, then Pearson correlation of sharpness φ / curvature ψ with validation loss (paper Table 1, Figs. 10-11)');
  studyOptions(command, EXPERIMENT, {
    dataset: 'mnist | fashion-mnist | cifar10',
    preset: 'the paper, 100 models × 40 epochs',
    out: 'output directory (checkpoints, results.json, plots, TensorBoard)',
  })
    .option('--json <file>', 'write {dataset, models, pearson, ci95} here')
    .option('--resume', 'reuse the checkpoints already in the output directory')
    .option('--train-only', 'train (or resume) the models and stop before the metrics')
    .option('--metrics-only', 'recompute φ, ψ and r from the saved checkpoints, no training (fails if one is missing)')
    .option('--metrics <mode>', 'paper | reference: which definitions of φ and ψ (config metrics.mode)')
    .option('--at-epoch <n>', 'measure the checkpoints saved after epoch n (config metrics.epoch; one of snapshots or epochs)')
    .action(
      runCommand(async (o: Flags, cmd: Command) => {
        if (o.trainOnly && o.metricsOnly) throw new Error('--train-only and --metrics-only exclude each other');
        if (o.atEpoch !== undefined && !/^[1-9]\d*$/.test(o.atEpoch)) throw new Error(`--at-epoch: expected a positive integer, got "${o.atEpoch}"`);
        if (o.metrics !== undefined && o.metrics !== 'paper' && o.metrics !== 'reference') throw new Error(`--metrics: expected paper or reference, got "${o.metrics}"`);
        const metrics = { mode: o.metrics, epoch: o.atEpoch === undefined ? undefined : Number(o.atEpoch) };
        const cfg = await loadPresetConfigOrExit(CorrelationConfig, EXPERIMENT, RUN_DEFAULT_PRESET, o, {
          ...studyOverrides(EXPERIMENT, o, cmd),
          metrics,
        }, { json: o.json });
        const dir = path.join(cfg.out, 'models');
        // the first group's models are saved only when it finishes: its epochs so far are in group.lockstep/
        const inFlight = path.join(cfg.out, 'group.lockstep');
        if (!o.resume && !o.metricsOnly) {
          const what = fs.existsSync(inFlight)
            ? `${inFlight} holds a group of models in training`
            : fs.existsSync(dir) && savedModels(dir, cfg.models).length > 0
              ? `${dir} already holds trained models`
              : undefined;
          if (what) throw new Error(`${what}: pass --resume to continue that study, --metrics-only to recompute the metrics, or choose another --out`);
        }
        // training is a lockstep epoch job; the metrics alone are not measured (wasm unless asked)
        await useBackend(cmd, cfg.backend, o.metricsOnly ? undefined : { kind: 'classifierEpoch', batch: Math.min(cfg.group, cfg.models) });
        await runCorrelation(cfg, { json: o.json, stage: o.trainOnly ? 'train' : o.metricsOnly ? 'metrics' : 'all' });
      }),
    );
}
