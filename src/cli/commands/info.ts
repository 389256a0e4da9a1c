// `symtele info`: version, backend, tfjs version, memory.
import type { Command } from 'commander';
import { autoReport, backendInfo } from '../../backend/index.js';
import { runCommand, useBackend } from '../run.js';
import { packageVersion } from '../version.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('print the version, the backend in use, the tfjs version, memory use, the installed backends and what --backend auto picks per job')
    .option('--json', 'print as JSON')
    .action(
      runCommand(async (opts: { json?: boolean }, cmd: Command) => {
        await useBackend(cmd);
        const info = { symtele: packageVersion(), ...backendInfo(), node: process.version, ...autoReport() };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        const width = Math.max(...Object.keys(info).map((k) => k.length));
        for (const [k, v] of Object.entries(info)) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
      }),
    );
}
