// Named entries an experiment entry may start from (`"preset": "tuned/LSTM(update)"`): plain
// JSON entries, merged under the entry's own fields. The built-in ones are the files of
// experiments/presets/ (the paper's variants under its recipes); a plugin registers its own.
import fs from 'node:fs';
import { isPlainObject } from '../config/codec.js';

const PRESETS = new Map<string, Record<string, unknown>>();

/** Register a named entry; a name registered twice is an error. */
export function registerEntryPreset(name: string, entry: Record<string, unknown>): void {
  if (name === '' || !isPlainObject(entry)) throw new Error(`registerEntryPreset: expected a name and an entry object, got ${JSON.stringify(name)}`);
  if (PRESETS.has(name)) throw new Error(`registerEntryPreset: "${name}" is already registered`);
  PRESETS.set(name, entry);
}

/** A copy of the named entry, or undefined. */
export const entryPreset = (name: string): Record<string, unknown> | undefined => {
  const e = PRESETS.get(name);
  return e && structuredClone(e);
};

export const entryPresetNames = (): string[] => [...PRESETS.keys()];

/** The package's experiments/presets/ (beside src/ and dist/ alike). */
const PRESET_DIR = new URL('../../experiments/presets/', import.meta.url);

/** Register every entry of a presets file `{ about, entries: { name: entry } }`. */
export function registerPresetFile(file: URL | string): void {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries?: unknown };
  if (!isPlainObject(doc.entries)) throw new Error(`${String(file)}: expected { "entries": { "<name>": <entry> } }`);
  for (const [name, entry] of Object.entries(doc.entries)) registerEntryPreset(name, entry as Record<string, unknown>);
}

for (const f of fs.readdirSync(PRESET_DIR).filter((f) => f.endsWith('.json')).sort()) registerPresetFile(new URL(f, PRESET_DIR));
