// `symtele run teleport-integration`: teleportation inside momentum and AdaGrad on the small
// regression problem of Appendix G.1 (Figure 12).
import type { Command } from 'commander';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { IntegrationConfig } from '../../studies/optimizers/config.js';
import { runIntegration, integrationSummary, writeIntegrationReport } from '../../studies/optimizers/integration.js';
import { loadPresetConfigOrExit, runPresetHelp, RUN_DEFAULT_PRESET } from './_preset.js';

const EXPERIMENT = 'teleport-integration';

interface Options {
  config?: string;
  preset?: string;
  out?: string;
  tuneGroupLr?: boolean;
}

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('Figure 12: momentum (transport / keep / reset) and AdaGrad (||grad||_2 vs ||grad||_A) with one teleport')
    .option('--preset <name>', runPresetHelp(EXPERIMENT, 'the paper, 5 repeats, 40 epochs'))
    .option('--config <file>', 'JSON config over the defaults (the full sizes; without --preset), or over --preset if given (e.g. experiments/fig12-integration.json)')
    .option('--out <dir>', 'output directory')
    .option('--tune-group-lr', 'also search the largest non-diverging group learning rates (2 significant figures)')
    .action(
      runCommand(async (opts: Options, cmd: Command) => {
        const config = await loadPresetConfigOrExit(IntegrationConfig, EXPERIMENT, RUN_DEFAULT_PRESET, opts, {
          out: opts.out,
          seed: globalOptions(cmd).seed,
          tuneGroupLr: opts.tuneGroupLr,
        });
        // full-batch GD steps of small regression MLPs, one model at a time: the gdStep figure
        await useBackend(cmd, config.backend, { kind: 'gdStep' });
        const log = (s: string) => process.stderr.write(`[integration] ${s}\n`);
        const t0 = performance.now();
        const res = runIntegration(config, log);
        const files = await writeIntegrationReport(res, config.out);
        process.stdout.write(`${integrationSummary(res)}\n\n`);
        log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${files.join(', ')}`);
      }),
    );
}
