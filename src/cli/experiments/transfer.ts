// `symtele run transfer`: size-agnostic learned optimizers (coordinate-wise LSTM update,
// with and without the learned teleport) meta-trained on regression, evaluated on unseen task
// families against tuned GD, momentum and Adam. Resumes from what its output folder holds.
import type { Command } from 'commander';
import { TransferStudyConfig, runTransferStudy } from '../../meta/study-transfer.js';
import { globalOptions, runCommand, useBackend } from '../run.js';
import { loadPresetConfigOrExit, runPresetHelp, RUN_DEFAULT_PRESET, type PresetOptions } from './_preset.js';

const EXPERIMENT = 'transfer';

interface Flags extends PresetOptions {
  out?: string;
}

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('learned optimizers that transfer: meta-train on regression, evaluate on unseen widths, depths and datasets')
    .option('--preset <name>', runPresetHelp(EXPERIMENT, 'the documented run'))
    .option('--config <file>', 'JSON config over the defaults, or over --preset if given')
    .option('--out <dir>', 'output directory (units, summary.md, results.json)')
    .action(
      runCommand(async (o: Flags, cmd: Command) => {
        const cfg = await loadPresetConfigOrExit(TransferStudyConfig, EXPERIMENT, RUN_DEFAULT_PRESET, o, { out: o.out, seed: globalOptions(cmd).seed });
        await useBackend(cmd);
        const r = await runTransferStudy(cfg, (s) => process.stderr.write(`[transfer] ${s}\n`));
        process.stdout.write(`${r.summary}\n`);
      }),
    );
}
