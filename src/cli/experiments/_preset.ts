// Presets of `symtele run <experiment>`: a preset is the file experiments/<experiment>-<preset>.json
// of the package. A config is built in layers, each over the one before: the codec's defaults,
// the preset (the one named by --preset; the experiment's default preset when neither --preset
// nor --config is given), the --config file, then flags. So `--config F` alone is F over the
// defaults, and `--preset P --config F` is F over P. Any problem (an unknown preset included)
// exits with code 2 before anything runs.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { ConfigError } from '../../config/codec.js';
import { exitWithError, loadConfigOrExit } from '../run.js';

/** experiments/ of the package: the same folder from src/ and from dist/. */
const EXPERIMENTS = new URL('../../../experiments/', import.meta.url);

/**
 * The preset of every `symtele run` command when neither --preset nor --config is given: the
 * quick one (minutes), so that a first try never starts an hours-long run; the full one (the
 * paper's sizes) only when named.
 */
export const RUN_DEFAULT_PRESET = 'quick';

/** Help of a run command's --preset: the presets, the quick default and how to get the full run. */
export const runPresetHelp = (experiment: string, full: string) =>
  presetHelp(experiment, RUN_DEFAULT_PRESET, `quick: minutes; full only when named (--preset full: ${full})`);

/** Presets in order of size; others follow alphabetically. */
const ORDER = ['quick', 'medium', 'large', 'full'];
const rank = (p: string) => (ORDER.includes(p) ? ORDER.indexOf(p) : ORDER.length);

/** The presets of an experiment: the <preset> of every experiments/<experiment>-<preset>.json. */
export function listPresets(experiment: string): string[] {
  const prefix = `${experiment}-`;
  let files: string[] = [];
  try {
    files = fs.readdirSync(fileURLToPath(EXPERIMENTS));
  } catch {
    // no experiments/ folder: no presets
  }
  return files
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => f.slice(prefix.length, -'.json'.length))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The file of a preset, or a ConfigError naming the expected file and the presets there are. */
export function presetFile(experiment: string, preset: string): E.Either<ConfigError, string> {
  const file = fileURLToPath(new URL(`${experiment}-${preset}.json`, EXPERIMENTS));
  if (/^[\w-]+$/.test(preset) && fs.existsSync(file)) return E.right(file);
  const known = listPresets(experiment);
  return E.left(
    new ConfigError('--preset', [
      `unknown preset "${preset}" for ${experiment}: expected the file ${file}; presets: ${known.length > 0 ? known.join(', ') : 'none'}`,
    ]),
  );
}

/** Help text of an experiment's --preset option: the presets there are and the default. */
export function presetHelp(experiment: string, defaultPreset: string, note?: string): string {
  const list = listPresets(experiment).join(' | ');
  return `${list} (experiments/${experiment}-<name>.json; default: ${defaultPreset}${note === undefined ? '' : `; ${note}`})`;
}

export interface PresetOptions {
  /** --preset, undefined when not given */
  preset?: string;
  /** --config, undefined when not given */
  config?: string;
}

/** The config files to merge, in order: the preset's (if any), then --config (if any). */
export function configLayers(experiment: string, defaultPreset: string, o: PresetOptions): E.Either<ConfigError, string[]> {
  const config = o.config === undefined ? [] : [o.config];
  const preset = o.preset ?? (o.config === undefined ? defaultPreset : undefined);
  if (preset === undefined) return E.right(config);
  const file = presetFile(experiment, preset);
  return E.isLeft(file) ? file : E.right([file.right, ...config]);
}

/** The experiment's config: defaults, preset, --config file, then `overrides` (flags); its preflight sees `flags`; exits 2 on any problem. */
export async function loadPresetConfigOrExit<A, O>(
  codec: t.Type<A, O, unknown>,
  experiment: string,
  defaultPreset: string,
  o: PresetOptions,
  overrides?: unknown,
  flags?: Readonly<Record<string, unknown>>,
): Promise<A> {
  const files = configLayers(experiment, defaultPreset, o);
  if (E.isLeft(files)) exitWithError(files.left);
  return loadConfigOrExit(codec, files.right, overrides, flags);
}
