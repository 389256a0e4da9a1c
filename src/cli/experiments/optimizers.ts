// `symtele run optimizers-mnist`: AdaGrad, momentum, RMSProp and Adam on MNIST, each with and
// without one teleport at the first epoch (paper Figures 5 and 13, Appendix G.2).
import type { Command } from 'commander';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { MnistConfig } from '../../optim-experiments/config.js';
import { runOptimizersMnist, mnistSummary, writeMnistReport } from '../../optim-experiments/mnist.js';
import { loadDataset } from '../../data/index.js';
import { loadPresetConfigOrExit, presetHelp } from './_preset.js';

const EXPERIMENT = 'optimizers-mnist';
const DEFAULT_PRESET = 'full';

interface Options {
  config?: string;
  preset?: string;
  out?: string;
}

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('Figures 5 and 13: AdaGrad, momentum, RMSProp, Adam with and without one teleport on MNIST')
    .option('--preset <name>', presetHelp(EXPERIMENT, DEFAULT_PRESET, 'full = the paper: 50k samples, 40 epochs, 5 runs'))
    .option('--config <file>', 'JSON config over the defaults, or over --preset if given (e.g. experiments/fig5-paper.json, fig5-reference.json)')
    .option('--out <dir>', 'output directory')
    .action(
      runCommand(async (opts: Options, cmd: Command) => {
        const config = await loadPresetConfigOrExit(MnistConfig, EXPERIMENT, DEFAULT_PRESET, opts, { out: opts.out, seed: globalOptions(cmd).seed });
        await useBackend(cmd, config.backend, { kind: 'classifierEpoch' });
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
