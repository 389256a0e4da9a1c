// `symtele run optimizers-mnist`: AdaGrad, momentum, RMSProp and Adam on MNIST, each with and
// without one teleport at the first epoch (paper Figures 5 and 13, Appendix G.2).
import type { Command } from 'commander';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { mnistConfigCodec } from '../../optim-experiments/config.js';
import { runOptimizersMnist, mnistSummary, writeMnistReport } from '../../optim-experiments/mnist.js';
import { loadDataset } from '../../data/index.js';
import { loadPresetConfigOrExit } from './_preset.js';

interface Options {
  config?: string;
  preset?: string;
  out?: string;
}

export function register(run: Command): void {
  run
    .command('optimizers-mnist')
    .description('Figures 5 and 13: AdaGrad, momentum, RMSProp, Adam with and without one teleport on MNIST')
    .option('--config <file>', 'JSON config over the preset (experiments/fig5-paper.json, experiments/fig5-reference.json)')
    .option('--preset <name>', 'quick | full (the paper: 50k samples, 40 epochs, 5 runs)', 'full')
    .option('--out <dir>', 'output directory')
    .action(
      runCommand(async (opts: Options, cmd: Command) => {
        const { config } = await loadPresetConfigOrExit(mnistConfigCodec, opts.preset, opts.config, { out: opts.out, seed: globalOptions(cmd).seed });
        await useBackend(cmd, config.backend);
        const log = (s: string) => process.stderr.write(`[optimizers-mnist] ${s}\n`);
        const t0 = performance.now();
        const { dir, trainSize, validationSize, testSize } = config.data;
        const ds = loadDataset(config.data.name, { dir, seed: config.seed, trainSize, validationSize, testSize });
        const res = runOptimizersMnist(config, ds, log);
        const files = await writeMnistReport(res, config.out);
        process.stdout.write(`${mnistSummary(res)}\n\n`);
        log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${files.join(', ')}`);
      }),
    );
}
