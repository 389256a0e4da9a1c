// `symtele main` (what `npm start` runs): the learning-to-teleport job on its default
// config, experiments/meta-default.json: meta-train the learned optimizers, evaluate them and
// gradient descent on held-out trajectories, print the table, write logs, checkpoints, plots.
import type { Command } from 'commander';
import { runCommand, globalOptions } from '../run.js';
import { runMainJob } from './meta.js';

export function register(program: Command): void {
  program
    .command('main')
    .description('the main job (npm start): meta-train and evaluate the learned optimizers on the default config')
    .option('--config <file>', 'another experiment config (default: experiments/meta-default.json)')
    .option('--json <file>', 'also write the held-out results here: { variants: { <name>: { loss: runs × steps } } }')
    .option('--quiet', 'no progress lines')
    .action(
      runCommand(async (opts: { config?: string; json?: string; quiet?: boolean }, cmd: Command) => {
        const backend = globalOptions(cmd).backend ?? (process.env.SYMTELE_BACKEND || undefined);
        await runMainJob({ ...opts, backend });
      }),
    );
}
