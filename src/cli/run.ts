/**
 * Helpers for CLI commands: error handling and exit codes, config loading, global options,
 * backend start-up.
 *
 * A command (src/cli/commands/<name>.ts) looks like:
 *
 *     export function register(program: Command): void {
 *       program
 *         .command('teleport-demo')
 *         .description('...')
 *         .option('--config <file>', 'JSON config file')
 *         .option('--steps <n>', 'override steps', Number)
 *         .action(runCommand(async (opts: { config?: string; steps?: number }, cmd: Command) => {
 *           // 1. config first: an invalid one exits 2 before anything runs or is written
 *           const cfg = await loadConfigOrExit(DemoConfig, opts.config,
 *                                              { steps: opts.steps, seed: globalOptions(cmd).seed });
 *           // 2. then the backend (prints the choice to stderr once)
 *           await useBackend(cmd);
 *           ...
 *         }));
 *     }
 *
 * Exit codes: 0 success, 1 error (`symtele: <message>`, stack only with SYMTELE_DEBUG=1),
 * 2 invalid config (every problem listed), 130 stopped by SIGINT/SIGTERM (resumable).
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import nodePath from 'node:path';
import type * as t from 'io-ts';
import { initBackend, type BackendName, type Job } from '../backend/index.js';
import { ConfigError, decodeConfig, deepMerge, readJsonFile } from '../config/codec.js';
import { INTERRUPTED_EXIT, Interrupted } from '../meta/interrupt.js';
import { preflightOf } from '../config/registry.js';

export const EXIT_ERROR = 1;
export const EXIT_INVALID_CONFIG = 2;

/** Options of the program itself, available to every command. */
export interface GlobalOptions {
  backend?: string;
  seed?: number;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

function debugEnabled(): boolean {
  return process.env.SYMTELE_DEBUG === '1';
}

/** Print an invalid config's problems to stderr. */
export function reportConfigError(e: ConfigError): void {
  process.stderr.write(`symtele: invalid config ${e.source}:\n${e.problems.map((p) => `  ${p}\n`).join('')}`);
}

/** The command line that continues this one: the same arguments with --resume (and without --fresh). */
export function resumeCommand(): string {
  const args = process.argv.slice(2).filter((a) => a !== '--fresh');
  if (process.env.npm_lifecycle_event === 'start') {
    const extra = args.slice(1).filter((a) => a !== '--resume');
    return ['npm start --', ...extra, '--resume'].join(' ');
  }
  return ['symtele', ...args, ...(args.includes('--resume') ? [] : ['--resume'])].join(' ');
}

/** The first `code` (ENOSPC, EACCES, ...) of an error or of the errors that caused it. */
export function errorCode(e: unknown): string | undefined {
  for (let x = e; x instanceof Error; x = x.cause) {
    const code = (x as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Print an error as the CLI does and exit with the matching code (2 for configs, 130 when stopped by a signal, else 1). */
export function exitWithError(e: unknown): never {
  if (e instanceof ConfigError) {
    reportConfigError(e);
    process.exit(EXIT_INVALID_CONFIG);
  }
  if (e instanceof Interrupted) {
    process.stderr.write(`symtele: ${e.message}; logs flushed. Resume with: ${resumeCommand()}\n`);
    process.exit(INTERRUPTED_EXIT);
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`symtele: ${message}\n`);
  // a full disk stops a run where it stands: everything checkpointed so far is kept
  if (errorCode(e) === 'ENOSPC') process.stderr.write(`symtele: the disk is full. Free some space, then resume with: ${resumeCommand()}\n`);
  if (debugEnabled() && e instanceof Error && e.stack !== undefined) process.stderr.write(`${e.stack}\n`);
  process.exit(EXIT_ERROR);
}

/** Wrap a command action: errors are printed (`symtele: <message>`) and set the exit code. */
export function runCommand<Args extends unknown[]>(
  fn: (...args: Args) => Promise<void> | void,
): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await fn(...args);
    } catch (e) {
      exitWithError(e);
    }
  };
}

/**
 * Read the config file (if any; several are merged deeply, each over the ones before it), merge
 * `overrides` over it (deeply; `undefined` values are ignored, so unset flags can be passed as
 * they are), decode, run the codec's registered preflight (given `flags`, the options that name
 * outputs), and return the complete config. Any problem is printed and the process exits with
 * code 2.
 */
export async function loadConfigOrExit<A, O>(
  codec: t.Type<A, O, unknown>,
  path: string | readonly string[] | undefined,
  overrides?: unknown,
  flags?: Readonly<Record<string, unknown>>,
): Promise<A> {
  const paths = path === undefined ? [] : typeof path === 'string' ? [path] : path;
  let raw: unknown = {};
  for (const p of paths) {
    const read = await readJsonFile(p)();
    if (E.isLeft(read)) exitWithError(read.left);
    raw = deepMerge(raw, read.right);
  }
  const source = paths.length > 0 ? paths.join(' + ') : 'from flags';
  const overwritten = inputsOverwritten(paths, flags);
  if (overwritten.length > 0) exitWithError(new ConfigError(source, overwritten));
  const decoded = decodeConfig(codec, deepMerge(raw, overrides), source);
  if (E.isLeft(decoded)) exitWithError(decoded.left);
  // the checks `config check` runs too (output paths, sizes), before any work
  try {
    preflightOf(codec)?.(decoded.right, source, flags);
  } catch (e) {
    exitWithError(e);
  }
  return decoded.right;
}

/** Flags that name an output file which is one of the input configs (the run would overwrite its own config). */
export function inputsOverwritten(inputs: readonly string[], flags: Readonly<Record<string, unknown>> = {}): string[] {
  const ins = new Set(inputs.map((p) => nodePath.resolve(p)));
  return Object.entries(flags)
    .filter(([, v]) => typeof v === 'string' && ins.has(nodePath.resolve(v)))
    .map(([k, v]) => `--${k}: ${String(v)} is an input config: the output would overwrite it (write the output to another file)`);
}

let announced: BackendName | undefined;

/**
 * Initialise the backend chosen by --backend, else SYMTELE_BACKEND, else `preferred` (e.g. a
 * config's `backend`), else auto (resolved for `job`); say which one on stderr, once per process.
 */
export async function useBackend(cmd: Command, preferred?: string, job?: Job): Promise<BackendName> {
  const env = process.env.SYMTELE_BACKEND;
  const name = await initBackend(globalOptions(cmd).backend ?? (env !== undefined && env !== '' ? env : preferred), job);
  if (announced !== name) {
    const { version_core } = await import('@tensorflow/tfjs');
    process.stderr.write(`[symtele] backend: ${name} (tfjs ${version_core})\n`);
    announced = name;
  }
  return name;
}
