// `symtele run correlation`: sharpness and curvature versus validation loss (Table 1).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CorrelationConfig, runCorrelation, checkStudyConfig } from '../../generalization/correlation.js';
import { savedModels } from '../../train/checkpoint.js';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { loadPresetConfigOrExit, presetHelp } from './_preset.js';

const EXPERIMENT = 'correlation';
const DEFAULT_PRESET = 'quick';

interface Flags {
  dataset?: string;
  preset?: string;
  config?: string;
  json?: string;
  out?: string;
  dataDir?: string;
  resume?: boolean;
}

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('train N models, then Pearson correlation of sharpness φ / curvature ψ with validation loss (paper Table 1, Figs. 10-11)')
    .option('--dataset <name>', 'mnist | fashion-mnist | cifar10')
    .option('--preset <name>', presetHelp(EXPERIMENT, DEFAULT_PRESET, 'quick: minutes; full = the paper: 100 models × 40 epochs'))
    .option('--config <file>', 'JSON config over the defaults (symtele config defaults correlation), or over --preset if given')
    .option('--json <file>', 'write {dataset, models, pearson, ci95} here')
    .option('--out <dir>', 'output directory (checkpoints, results.json, plots, TensorBoard)')
    .option('--data-dir <dir>', 'directory of the dataset files (needed for CIFAR-10)')
    .option('--resume', 'reuse the checkpoints already in the output directory')
    .action(
      runCommand(async (o: Flags, cmd: Command) => {
        const overrides = {
          seed: globalOptions(cmd).seed,
          dataset: { name: o.dataset, dir: o.dataDir },
          out: o.out ?? (o.dataset ? path.join('results', `${EXPERIMENT}-${o.dataset}-${o.preset ?? DEFAULT_PRESET}`) : undefined),
        };
        const cfg = await loadPresetConfigOrExit(CorrelationConfig, EXPERIMENT, DEFAULT_PRESET, o, overrides);
        checkStudyConfig(cfg);
        const dir = path.join(cfg.out, 'models');
        if (!o.resume && fs.existsSync(dir) && savedModels(dir, cfg.models).length > 0) {
          throw new Error(`${dir} already holds trained models: pass --resume to continue that study, or choose another --out`);
        }
        await useBackend(cmd, cfg.backend);
        await runCorrelation(cfg, { json: o.json });
      }),
    );
}
