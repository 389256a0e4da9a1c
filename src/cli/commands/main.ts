// `symtele main`: the main job (`npm start`). Placeholder until the pipeline is in place.
import type { Command } from 'commander';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  program
    .command('main')
    .description('run the main job (what `npm start` runs)')
    .action(
      runCommand(async () => {
        process.stdout.write('main job not yet implemented\n');
      }),
    );
}
