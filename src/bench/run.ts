// `npm run bench`: measures and prints figures, asserts nothing. Sections are small modules;
// each returns named figures that go to the console and, with --json <file>, to a JSON file.
// Times on shared machines are noisy: compare ratios measured in the same run.
import { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { writeJsonAtomic } from '../logging/atomic.js';

export type Figures = Record<string, unknown>;
export interface Section {
  name: string;
  run(opts: { quick: boolean }): Promise<Figures>;
}

const SECTIONS: Record<string, () => Promise<Section>> = {
  teleport: async () => (await import('./teleport.js')).section,
  optim: async () => (await import('./optim.js')).section,
  meta: async () => (await import('./meta.js')).section,
  'classification-task': async () => (await import('./classification-task.js')).section,
};

async function main(): Promise<void> {
  const program = new Command()
    .name('symtele-bench')
    .option('--json <file>', 'also write the figures to this JSON file')
    .option('--backend <name>', 'tfjs backend', 'wasm')
    .option('--only <sections>', `comma-separated subset of: ${Object.keys(SECTIONS).join(', ')}`)
    .option('--quick', 'smaller sizes, for a smoke run')
    .parse();
  const o = program.opts<{ json?: string; backend: string; only?: string; quick?: boolean }>();
  const backend = await initBackend(o.backend);
  const names = o.only ? o.only.split(',') : Object.keys(SECTIONS);
  const all: Figures = { backend, node: process.version, date: new Date().toISOString() };
  for (const name of names) {
    const load = SECTIONS[name];
    if (!load) throw new Error(`unknown bench section "${name}" (have ${Object.keys(SECTIONS).join(', ')})`);
    let section: Section;
    try {
      section = await load();
    } catch (e) {
      process.stdout.write(`\n[${name}] not available: ${(e as Error).message.split('\n')[0]}\n`);
      continue;
    }
    process.stdout.write(`\n[${name}]\n`);
    const figures = await section.run({ quick: !!o.quick });
    for (const [k, v] of Object.entries(figures)) process.stdout.write(`  ${k}: ${typeof v === 'number' ? +v.toPrecision(4) : JSON.stringify(v)}\n`);
    Object.assign(all, figures);
  }
  all.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`\npeak RSS: ${all.peakRssMiB} MiB\n`);
  if (o.json) writeJsonAtomic(o.json, all);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
