// `symtele run teleport-generalization`: teleport once to change sharpness or curvature (Figure 4).
import path from 'node:path';
import type { Command } from 'commander';
import { TeleportGeneralizationConfig, runTeleportGeneralization } from '../../generalization/teleport-generalization.js';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { loadPresetConfigOrExit, presetHelp } from './_preset.js';

const EXPERIMENT = 'teleport-generalization';
const DEFAULT_PRESET = 'quick';

interface Flags {
  dataset?: string;
  preset?: string;
  config?: string;
  out?: string;
  dataDir?: string;
}

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('SGD with one teleport near convergence to raise / lower sharpness φ or curvature ψ; five arms × runs (paper Figure 4)')
    .option('--dataset <name>', 'mnist | fashion-mnist | cifar10 (the paper uses CIFAR-10)')
    .option('--preset <name>', presetHelp(EXPERIMENT, DEFAULT_PRESET, 'quick: minutes; full = the paper: CIFAR-10, 5 runs, teleport at epoch 20 with 5 batches of 2000'))
    .option('--config <file>', 'JSON config over the defaults (symtele config defaults teleport-generalization), or over --preset if given')
    .option('--out <dir>', 'output directory (results.json, plots, TensorBoard)')
    .option('--data-dir <dir>', 'directory of the dataset files (needed for CIFAR-10)')
    .action(
      runCommand(async (o: Flags, cmd: Command) => {
        const overrides = {
          seed: globalOptions(cmd).seed,
          dataset: { name: o.dataset, dir: o.dataDir },
          out: o.out ?? (o.dataset ? path.join('results', `${EXPERIMENT}-${o.dataset}-${o.preset ?? DEFAULT_PRESET}`) : undefined),
        };
        const cfg = await loadPresetConfigOrExit(TeleportGeneralizationConfig, EXPERIMENT, DEFAULT_PRESET, o, overrides);
        await useBackend(cmd, cfg.backend);
        await runTeleportGeneralization(cfg);
      }),
    );
}
