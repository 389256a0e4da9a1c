/**
 * The `symtele` program: global options and every command of src/cli/commands/.
 *
 * Command registry: each file src/cli/commands/<name>.ts exports `register(program)`, which
 * adds its command(s). Files are found at start-up (sorted by name), so adding a command needs
 * no edit here. Files starting with `_` are skipped (shared helpers).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readdir } from 'node:fs/promises';
import { BACKEND_CHOICES } from '../backend/index.js';
import { packageVersion } from './version.js';
import { loadPlugins } from '../config/plugins.js';

function parseSeed(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError('expected a non-negative integer.');
  }
  return n;
}

const COMMAND_FILE = /^[^_.][^/]*\.(?:ts|js|mjs)$/;

/** The command modules' file names, sorted. */
export async function commandFiles(dir: URL = new URL('./commands/', import.meta.url)): Promise<string[]> {
  const files = await readdir(dir);
  return files.filter((f) => COMMAND_FILE.test(f) && !f.endsWith('.d.ts') && !f.includes('.test.')).sort();
}

export async function buildProgram(): Promise<Command> {
  const program = new Command();
  program
    .name('symtele')
    .description('Parameter-space symmetry (teleportation) and learned optimizers on TensorFlow.js')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addOption(
      new Option('--backend <name>', 'tfjs backend (default: $SYMTELE_BACKEND, else auto: the fastest installed one for the job, by measured figures)').choices([...BACKEND_CHOICES]),
    )
    .option('--seed <n>', 'seed of every random stream (overrides the config)', parseSeed)
    .option('--plugin <file>', 'an ES module that registers your own parts (task families, learned optimizers, estimators, baselines) through the public API; loaded before any config is read (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError();

  // plugins register their parts before a command reads its config
  program.hook('preAction', async () => {
    await loadPlugins((program.opts().plugin as string[] | undefined) ?? []);
  });
  await registerAll(program, new URL('./commands/', import.meta.url));
  return program;
}

/** Import every module file of `dir` and call its `register(parent)`. */
export async function registerAll(parent: Command, dir: URL): Promise<void> {
  for (const file of await commandFiles(dir)) {
    const mod = (await import(new URL(file, dir).href)) as { register?: (p: Command) => void | Promise<void> };
    if (typeof mod.register !== 'function') {
      throw new Error(`command module ${file} does not export register(program)`);
    }
    await mod.register(parent);
  }
}
