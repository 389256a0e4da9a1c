// The flags and overrides shared by the two generalization studies (correlation,
// teleport-generalization): the dataset and its files, the preset or config, the output folder.
import path from 'node:path';
import type { Command } from 'commander';
import { globalOptions } from '../run.js';
import { runPresetHelp, RUN_DEFAULT_PRESET, type PresetOptions } from './_preset.js';

export interface StudyFlags extends PresetOptions {
  dataset?: string;
  out?: string;
  dataDir?: string;
}

/** Add --dataset, --preset, --config, --out and --data-dir to a study command. */
export function studyOptions(c: Command, experiment: string, help: { dataset: string; preset: string; out: string }): Command {
  return c
    .option('--dataset <name>', help.dataset)
    .option('--preset <name>', runPresetHelp(experiment, help.preset))
    .option('--config <file>', `JSON config over the defaults (symtele config defaults ${experiment}), or over --preset if given`)
    .option('--out <dir>', help.out)
    .option('--data-dir <dir>', 'directory of the dataset files (CIFAR-10 default: $SYMTELE_DATA/cifar10, else data/cifar10, where `symtele data fetch cifar10` puts it)');
}

/** Config overrides from the flags; the output folder defaults to results/<experiment>-<dataset>-<preset>. */
export const studyOverrides = (experiment: string, o: StudyFlags, cmd: Command) => ({
  seed: globalOptions(cmd).seed,
  dataset: { name: o.dataset, dir: o.dataDir },
  out: o.out ?? (o.dataset ? path.join('results', `${experiment}-${o.dataset}-${o.preset ?? RUN_DEFAULT_PRESET}`) : undefined),
});
