// `npm run bench`: measures and prints figures, asserts nothing. Sections are small modules;
// each returns named figures that go to the console and, with --json, to JSON.
// Times on shared machines are noisy: compare ratios measured in the same run. By default every
// installed backend is measured, one child process each (so that each has its own peak RSS and
// thread pools), one after the other, and the figures come side by side with their ratios to
// wasm; --backend measures one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { initBackend, installedBackends, type BackendName } from '../backend/index.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { speedTableOf, writeSpeedTable } from './speed-table.js';

import type { Figures, Section } from './section.js';
export type { Figures, Section };

const SECTIONS: Record<string, () => Promise<Section>> = {
  teleport: async () => (await import('./teleport.js')).section,
  optim: async () => (await import('./optim.js')).section,
  meta: async () => (await import('./meta.js')).section,
  times: async () => (await import('./times.js')).section,
  'classification-task': async () => (await import('./classification-task.js')).section,
  workers: async () => (await import('./workers.js')).section,
  reference: async () => (await import('./reference.js')).section,
  faults: async () => (await import('./faults.js')).section,
};

interface Options {
  json?: string | true;
  backend?: string;
  only?: string;
  quick?: boolean;
  cpu?: boolean;
  writeTable?: boolean;
  batches?: string;
  backends?: string;
}

/** --batches "1,16" as numbers (an error names the option). */
function batchesOf(o: Options): number[] | undefined {
  if (o.batches === undefined) return undefined;
  const bs = o.batches.split(',').map(Number);
  if (bs.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`--batches: expected positive integers separated by commas, got "${o.batches}"`);
  return bs;
}

/** The sections a run measures when --only does not say (teleport repeats optim's teleport on synthetic data). */
const DEFAULT_SECTIONS = ['optim', 'meta'];

const print = (s: string) => process.stdout.write(s);

/** Run the sections on one backend in this process. */
async function runHere(o: Options): Promise<Figures> {
  const backend = await initBackend(o.backend);
  const names = o.only ? o.only.split(',') : DEFAULT_SECTIONS;
  const all: Figures = { backend, node: process.version, date: new Date().toISOString() };
  for (const name of names) {
    const load = SECTIONS[name];
    if (!load) throw new Error(`unknown bench section "${name}" (have ${Object.keys(SECTIONS).join(', ')})`);
    let section: Section;
    try {
      section = await load();
    } catch (e) {
      print(`\n[${name}] not available: ${(e as Error).message.split('\n')[0]}\n`);
      continue;
    }
    print(`\n[${backend}: ${name}]\n`);
    const figures = await section.run({ quick: !!o.quick, batches: batchesOf(o) });
    for (const [k, v] of Object.entries(figures)) print(`  ${k}: ${typeof v === 'number' ? +v.toPrecision(4) : JSON.stringify(v)}\n`);
    all[name] = figures;
  }
  all.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  print(`\npeak RSS (${backend}): ${all.peakRssMiB} MiB\n`);
  return all;
}

/** Every numeric leaf of `a` divided by the same leaf of `b` (nested records kept). */
function ratios(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return b === 0 ? null : a / b;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) {
      const r = ratios(v, (b as Record<string, unknown>)[k]);
      if (r !== undefined) out[k] = r;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return undefined;
}

/** One child process per installed backend; figures side by side plus ratios to wasm. */
async function runAll(o: Options): Promise<Figures> {
  const backends = installedBackends();
  const asked = o.backends?.split(',');
  for (const b of asked ?? []) if (!backends.includes(b as BackendName)) throw new Error(`--backends: "${b}" is not installed here (installed: ${backends.join(', ')})`);
  const measured = asked ? backends.filter((b) => asked.includes(b)) : backends.filter((b) => b !== 'cpu' || o.cpu);
  print(`bench: backends ${measured.join(', ')} (installed: ${backends.join(', ')})\n`);
  const dir = mkdtempSync(join(tmpdir(), 'symtele-bench-'));
  const byBackend: Record<string, Figures> = {};
  try {
    for (const b of measured) {
      const file = join(dir, `${b}.json`);
      const args = [fileURLToPath(import.meta.url), '--backend', b, '--json', file];
      if (o.only) args.push('--only', o.only);
      if (o.quick) args.push('--quick');
      if (o.batches) args.push('--batches', o.batches);
      // with --json and no file the figures go to stdout as JSON: keep the children's logs off it
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', o.json === true ? 'ignore' : 'inherit', 'inherit'] });
      if (r.status !== 0) throw new Error(`the ${b} bench exited with ${r.status ?? r.signal}`);
      byBackend[b] = JSON.parse(readFileSync(file, 'utf8')) as Figures;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratioToWasm: Record<string, unknown> = {};
  if (byBackend.wasm) {
    for (const [b, f] of Object.entries(byBackend)) if (b !== 'wasm') ratioToWasm[b] = ratios(f, byBackend.wasm);
  }
  return { date: new Date().toISOString(), node: process.version, backends: measured, byBackend, ratioToWasm };
}

async function main(): Promise<void> {
  const program = new Command()
    .name('symtele-bench')
    .option('--json [file]', 'write the figures as JSON to this file (to stdout without one)')
    .option('--backend <name>', 'measure this backend only, in this process (default: every installed one)')
    .option('--cpu', 'also measure the (slow) pure-JS cpu backend')
    .option('--only <sections>', `comma-separated subset of: ${Object.keys(SECTIONS).join(', ')} (default: ${DEFAULT_SECTIONS.join(', ')})`)
    .option('--quick', 'smaller sizes, for a smoke run')
    .option('--batches <list>', 'batch sizes of the meta-training timings, e.g. 1,16 (default 1,16,64,256)')
    .option('--backends <list>', 'measure these installed backends, each in its own process (default: every installed one but cpu)')
    .option('--write-table', 'rewrite src/backend/speed-table.ts (what --backend auto reads) from this run')
    .parse();
  const o = program.opts<Options>();
  // with --json to stdout, every human-readable line (the sections' too) goes to stderr
  const out = process.stdout.write.bind(process.stdout);
  if (o.json === true) process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  if (o.writeTable && (o.backend !== undefined || o.quick || o.batches || o.backends)) throw new Error('--write-table needs the full run on every backend (no --backend, --backends, --batches or --quick)');
  const figures = o.backend !== undefined ? await runHere(o) : await runAll(o);
  if (o.writeTable) {
    const file = fileURLToPath(new URL('../../src/backend/speed-table.ts', import.meta.url));
    const table = speedTableOf(figures.byBackend as Record<string, Figures>, { date: figures.date as string, node: process.version });
    writeSpeedTable(file, table);
    process.stderr.write(`bench: wrote ${file}\n`);
  }
  if (o.json === true) out(`${JSON.stringify(figures, null, 2)}\n`);
  else if (typeof o.json === 'string') writeJsonAtomic(o.json, figures);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
