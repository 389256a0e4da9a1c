// `symtele main` (what `npm start` runs): the learning-to-teleport job on its default
// config, experiments/meta-default.json: meta-train the learned optimizers, evaluate them and
// gradient descent on held-out trajectories, print the table, write logs, checkpoints, plots.
import type { Command } from 'commander';
import { mainJob, presetOption, runDirOptions, withExperiment } from './meta.js';
import { addPoolOptions } from './_pool.js';

export function register(program: Command): void {
  runDirOptions(addPoolOptions(presetOption(program.command('main'))))
    .description('the main job (npm start): meta train on the default preset (experiments/meta-default.json)')
    .option('--json <file>', 'also write the held-out results here: { variants: { <name>: { loss: runs × steps } } }')
    .option('--quiet', 'no progress bar or lines')
    .action(withExperiment(mainJob));
}
