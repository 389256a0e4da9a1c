// `symtele run optimizers-mnist`: AdaGrad, momentum, RMSProp and Adam on MNIST or
// Fashion-MNIST, each in paired arms (no teleport, teleport, teleport with reset, reset only,
// random move; paper Figures 5 and 13, Appendix G.2). Resumable at the last finished epoch:
// each optimizer's result and each lockstep group's weights and optimizer states are saved
// after every epoch under <out>/runs/; a rerun with the same config continues from there and
// reuses finished optimizers.
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runCommand, useBackend, globalOptions } from '../run.js';
import { MnistConfig, type MnistOptimizer } from '../../studies/optimizers/config.js';
import { largestLockstep, runOptimizersMnist, optimizerLabel, type OptimizerResult } from '../../studies/optimizers/mnist.js';
import { mnistMarkdown, mnistSummary, writeMnistReport } from '../../studies/optimizers/mnist-report.js';
import { slug } from '../../run/slug.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { loadDataset } from '../../data/index.js';
import { loadPresetConfigOrExit, runPresetHelp, RUN_DEFAULT_PRESET } from './_preset.js';

const EXPERIMENT = 'optimizers-mnist';

interface Options {
  reportOnly?: boolean;
  config?: string;
  preset?: string;
  out?: string;
}

/** What must match for a saved optimizer result to be reused. */
const runKey = (c: MnistConfig, o: MnistOptimizer) =>
  JSON.stringify({ seed: c.seed, data: c.data, dims: c.dims, slope: c.slope, batchSize: c.batchSize, epochs: c.epochs, runs: c.runs, arms: c.arms, o });

export function register(run: Command): void {
  run
    .command(EXPERIMENT)
    .description('Figures 5 and 13: AdaGrad, momentum, RMSProp, Adam in paired arms (none, teleport, teleport-reset, reset, random) on MNIST / Fashion-MNIST')
    .option('--preset <name>', runPresetHelp(EXPERIMENT, 'the paper, 50k samples, 40 epochs, 5 runs'))
    .option('--config <file>', 'JSON config over the defaults (the full sizes; without --preset), or over --preset if given (e.g. experiments/fig5-reference.json, fig5-paper.json)')
    .option('--out <dir>', 'output directory')
    .option('--report-only', 'run nothing: write the report from the results saved so far under <out>/runs (partial ones too)')
    .action(
      runCommand(async (opts: Options, cmd: Command) => {
        const config = await loadPresetConfigOrExit(MnistConfig, EXPERIMENT, RUN_DEFAULT_PRESET, opts, { out: opts.out, seed: globalOptions(cmd).seed });
        await useBackend(cmd, config.backend, { kind: 'classifierEpoch', batch: largestLockstep(config) });
        const log = (s: string) => process.stderr.write(`[optimizers-mnist] ${s}\n`);
        const t0 = performance.now();
        const { dir, trainSize, validationSize, testSize } = config.data;
        const ds = loadDataset(config.data.name, { dir, seed: config.seed, trainSize, validationSize, testSize });
        const file = (o: MnistOptimizer) => path.join(config.out, 'runs', `${slug(optimizerLabel(o.optimizer))}.json`);
        const read = (o: MnistOptimizer) => (existsSync(file(o)) ? (JSON.parse(readFileSync(file(o), 'utf8')) as { key: string; result: OptimizerResult }) : undefined);
        // resume only from a run of exactly this config
        const load = (o: MnistOptimizer) => {
          const saved = read(o);
          return saved?.key === runKey(config, o) ? saved.result : undefined;
        };
        if (opts.reportOnly) {
          // a report takes what was saved for each optimizer, saying when its config differed
          const saved = config.optimizers.flatMap((o) => {
            const s = read(o);
            if (!s || s.result.epochs === 0) return [];
            if (s.key !== runKey(config, o)) log(`${optimizerLabel(o.optimizer)}: the saved result was run with another config version (${file(o)})`);
            return [s.result];
          });
          // the saved results hold the config's optimizer objects by value: point them back at the config's
          const optimizers = saved.map((r) => ({ ...r, optimizer: config.optimizers.find((o) => JSON.stringify(o.optimizer) === JSON.stringify(r.optimizer))!.optimizer }));
          const files = await writeMnistReport({ config, optimizers }, config.out);
          process.stdout.write(`${mnistMarkdown(mnistSummary({ config, optimizers }))}\n`);
          log(`report of ${optimizers.length} saved optimizer result(s) (${optimizers.map((o) => `${optimizerLabel(o.optimizer)}: ${o.epochs} epochs`).join(', ')}); wrote ${files.join(', ')}`);
          return;
        }
        const res = runOptimizersMnist(config, ds, {
          log,
          load,
          // each lockstep group's weights and optimizer states after every epoch: a rerun resumes there
          lockstep: (o, arms) => ({ dir: path.join(config.out, 'runs', `${slug(optimizerLabel(o.optimizer))}.${arms.join('+')}.lockstep`), key: runKey(config, o) }),
          save: (r) => {
            const o = config.optimizers.find((q) => q.optimizer === r.optimizer)!;
            writeJsonAtomic(file(o), { key: runKey(config, o), result: r });
          },
        });
        const files = await writeMnistReport(res, config.out);
        process.stdout.write(`${mnistMarkdown(mnistSummary(res))}\n`);
        log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${files.join(', ')}`);
      }),
    );
}
