// Presets of the generalization experiments: experiments/<name>-<preset>.json of the package.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const EXPERIMENTS = new URL('../../../experiments/', import.meta.url);

/** The config file of a preset (the same path from src/ and dist/). */
export function presetFile(experiment: string, preset: string): string {
  const file = fileURLToPath(new URL(`${experiment}-${preset}.json`, EXPERIMENTS));
  if (!fs.existsSync(file)) throw new Error(`no preset "${preset}" for ${experiment} (expected ${file})`);
  return file;
}

/** --config wins over --preset; the quick preset when neither is given. */
export const configFileOf = (experiment: string, o: { config?: string; preset?: string }) =>
  o.config ?? presetFile(experiment, o.preset ?? 'quick');
