// `symtele run <experiment>`: the paper's experiments. Each file of src/cli/experiments/
// exports `register(run)` and adds its experiment as a subcommand of `run`.
import type { Command } from 'commander';
import { registerAll } from '../program.js';

export async function register(program: Command): Promise<void> {
  const run = program.command('run').description("run one of the paper's experiments (symtele run --help lists them)");
  await registerAll(run, new URL('../experiments/', import.meta.url));
}
