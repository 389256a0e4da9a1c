// `symtele config ...`: validate config files against the registered codecs.
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, overridesFromAssignments, reportErrors } from '../../config/codec.js';
import '../../config/common.js'; // registers the shared kinds
import { getConfig, listConfigs, type RegisteredConfig } from '../../config/registry.js';
import { absentOptionalFields } from '../../config/optional-fields.js';
import { loadConfigOrExit, runCommand } from '../run.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function kindOrThrow(name: string): RegisteredConfig {
  const kind = getConfig(name);
  if (kind === undefined) {
    const known = listConfigs().map((k) => k.name);
    throw new Error(`unknown config kind "${name}": expected one of ${known.join(', ')}`);
  }
  return kind;
}

function setOverrides(sets: string[]): Record<string, unknown> {
  const r = overridesFromAssignments(sets);
  if (E.isLeft(r)) throw r.left;
  return r.right;
}

export function register(program: Command): void {
  const config = program.command('config').description('validate and inspect config files');

  config
    .command('check')
    .description('validate a JSON config file and print it as it runs: defaults filled in, presets applied')
    .argument('<file>', 'JSON config file')
    .requiredOption('--kind <name>', 'which config it is (see `symtele config list`)')
    .option('--set <key=value>', 'override a field before validation, e.g. heldout.steps=50 or variants.1.train.unroll=20 (repeatable)', collect, [])
    .option('--write <file>', 'also write the complete config to this file')
    .action(
      runCommand(async (file: string, opts: { kind: string; set: string[]; write?: string }) => {
        const kind = kindOrThrow(opts.kind);
        const overrides = setOverrides(opts.set);
        const decoded = await loadConfigOrExit(kind.codec, file, overrides);
        // loadConfigOrExit ran the kind's preflight, as its command does (exit 2 on problems);
        // run again here for its notes (the size estimate)
        const notes = kind.preflight?.(decoded, file);
        const text = `${JSON.stringify(kind.resolve ? kind.resolve(decoded, file) : kind.codec.encode(decoded), null, 2)}\n`;
        if (opts.write !== undefined) {
          await mkdir(dirname(opts.write), { recursive: true });
          await writeFile(opts.write, text);
        }
        process.stdout.write(text);
        process.stderr.write(`${file}: valid ${kind.name} config\n${notes ? `${notes}\n` : ''}`);
      }),
    );

  config
    .command('defaults')
    .description('print the defaults of a config kind as JSON, every field resolved (presets applied); optional fields without a default are listed on stderr, fields that must be given are reported')
    .argument('<kind>', 'config kind (see `symtele config list`)')
    .action(
      runCommand(async (name: string) => {
        const kind = kindOrThrow(name);
        const r = kind.codec.decode({});
        if (E.isRight(r)) {
          process.stdout.write(`${JSON.stringify(kind.resolve ? kind.resolve(r.right, `defaults of ${name}`) : kind.codec.encode(r.right), null, 2)}\n`);
          // optional fields without a default are absent from the JSON (it stays a valid config): list them
          const absent = absentOptionalFields(kind.codec, r.right);
          if (absent.length > 0) {
            const lines = absent.map((f) => `  ${f.path}: ${f.expects}${f.absent === undefined ? '' : `; absent: ${f.absent}`}`);
            process.stderr.write(`optional fields, absent above (set one in a config to use it):\n${lines.join('\n')}\n`);
          }
          return;
        }
        // Not every field has a default: show which ones must be given.
        throw new ConfigError(`defaults of ${name}`, reportErrors(r.left));
      }),
    );

  config
    .command('list')
    .description('list the registered config kinds')
    .action(
      runCommand(async () => {
        for (const k of listConfigs()) {
          process.stdout.write(k.description === '' ? `${k.name}\n` : `${k.name}\t${k.description}\n`);
        }
      }),
    );
}
