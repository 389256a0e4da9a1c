// Where a worker (thread, process or remote machine) gets its task family and estimator: a
// builder function, named by module URL and export, called with the run's plain-JSON spec.
// The built-in builder is the meta-learning core's `buildShardWorkerParts`; tests and
// benchmarks name another module (a worker process only ever loads the builder given on its
// own command line, never one named by the queue).
import type { ShardWorkerParts } from '../../meta/shards.js';
import type { RunSpec } from '../../meta/build.js';
import { importModule, loadPlugins } from '../../config/plugins.js';

export type { RunSpec };

export interface PartsSource {
  /** URL of an ES module. */
  module: string;
  /** Name of its export `(spec) => ShardWorkerParts`, given the run's plain-JSON spec. */
  export: string;
}

/** A module beside this one, as .ts when running from source (tsx) and .js when built. */
export const siblingUrl = (rel: string, base: string = import.meta.url): string =>
  new URL(base.endsWith('.ts') ? rel.replace(/\.js$/, '.ts') : rel, base).href;

/** The meta-learning core's builder (src/meta/build.ts). */
export const BUILTIN_PARTS: PartsSource = { module: siblingUrl('../../meta/build.js'), export: 'buildShardWorkerParts' };

/** The toy quadratic parts of tests and transport benchmarks. */
export const TOY_PARTS: PartsSource = { module: siblingUrl('./toy.js'), export: 'buildToyParts' };

/** The parts a run's spec describes, built in this thread once `plugins` (URLs) are loaded here. */
export async function loadParts(src: PartsSource, spec: unknown, plugins: readonly string[] = []): Promise<ShardWorkerParts> {
  await loadPlugins(plugins);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(src.module);
  } catch (e) {
    throw new Error(`worker parts: cannot load module ${src.module}: ${(e as Error).message.split('\n')[0]}`);
  }
  const build = mod[src.export];
  if (typeof build !== 'function') throw new Error(`worker parts: module ${src.module} has no function export "${src.export}"`);
  return (build as (s: unknown) => ShardWorkerParts)(spec);
}
