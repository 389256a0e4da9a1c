// Plugins: a user's own parts (task families, learned optimizers, estimators, baselines, entry
// presets) in an ES module that registers them through the public API when imported. The CLI
// loads them before reading any config (`symtele --plugin ./my-parts.js ...`); worker threads
// load the same modules before building parts, so a unit or shard trains there as here.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const loaded: string[] = [];
let tsHooks: Promise<unknown> | null = null;

/**
 * Import a module by URL; a .ts one (running from source, as the tests do) through tsx's hooks,
 * registered here because worker threads do not inherit the parent's module hooks.
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  if (url.endsWith('.ts')) {
    const api = 'tsx/esm/api'; // a variable: the built package never needs tsx
    tsHooks ??= import(api).then((m: { register: () => unknown }) => m.register());
    await tsHooks;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** The URL of a plugin given as a path (relative to the working directory) or a URL. */
export const pluginUrl = (file: string): string => (/^[a-z]+:/i.test(file) && !/^[a-z]:[\\/]/i.test(file) ? file : pathToFileURL(path.resolve(file)).href);

/** Load a plugin once (a second load of the same file is a no-op); an error names the file. */
export async function loadPlugin(file: string): Promise<void> {
  const url = pluginUrl(file);
  if (loaded.includes(url)) return;
  try {
    await importModule(url);
  } catch (e) {
    throw new Error(`plugin ${file}: cannot load it: ${(e as Error).message.split('\n')[0]}`);
  }
  loaded.push(url);
}

export async function loadPlugins(files: readonly string[]): Promise<void> {
  for (const f of files) await loadPlugin(f);
}

/** The URLs of the plugins loaded in this thread, in order (what a worker thread loads too). */
export const loadedPlugins = (): string[] => [...loaded];
