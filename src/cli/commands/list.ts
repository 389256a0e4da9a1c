// `symtele list`: the registered parts (built-in and from --plugin), with their fields and
// defaults, and the named entry presets of the meta experiment.
import type { Command } from 'commander';
import type { PartRegistry } from '../../config/parts.js';
import { taskFamilies } from '../../tasks/registry.js';
import { learnedOptimizers } from '../../meta/learned/registry.js';
import { estimators } from '../../meta/estimators/registry.js';
import { baselines } from '../../meta/baselines.js';
import { entryPresetNames } from '../../meta/entry-presets.js';
import { runCommand } from '../run.js';

const REGISTRIES: [string, PartRegistry<unknown>][] = [
  ['task families (task: { kind, ... })', taskFamilies],
  ['learned optimizers (variants[i].learned: { kind, ... })', learnedOptimizers],
  ['gradient estimators (variants[i].estimator: { kind, ... })', estimators],
  ['baselines (variants[i].baseline: { kind, lr, ... })', baselines],
];

export function register(program: Command): void {
  program
    .command('list')
    .description('list the registered task families, learned optimizers, estimators and baselines with their fields and defaults, and the entry presets')
    .option('--json', 'as JSON')
    .action(
      runCommand(async (opts: { json?: boolean }) => {
        const all = Object.fromEntries(REGISTRIES.map(([title, r]) => [title, r.list()]));
        const presets = entryPresetNames();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...all, 'entry presets (variants[i].preset)': presets }, null, 2)}\n`);
          return;
        }
        const lines: string[] = [];
        for (const [title, entries] of Object.entries(all)) {
          lines.push(`${title}:`);
          for (const e of entries) {
            lines.push(`  ${e.kind}${e.description ? ` - ${e.description}` : ''}`);
            lines.push(`      fields: ${e.fields}`);
            if (e.defaults !== undefined) lines.push(`      defaults: ${JSON.stringify(e.defaults)}`);
          }
        }
        lines.push('entry presets (variants[i].preset):', ...presets.map((p) => `  ${p}`));
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
