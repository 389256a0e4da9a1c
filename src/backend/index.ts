// Backend selection. The embedded default is wasm (ships in its npm package, works offline);
// cpu is the pure-JS fallback; tensorflow / tensorflow-gpu load @tensorflow/tfjs-node(-gpu)
// when installed (they are not dependencies: their install downloads libtensorflow). They are
// found either where Node resolves them (`npm install @tensorflow/tfjs-node-gpu`) or in the
// package's .native/ folder, where `npm run setup:native` builds them offline.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { installOverrides } from '../ops/overrides.js';
import { chooseBackend, measuredSpeedup, JOB_LABELS, MARGIN, type Job, type JobKind } from './auto.js';
import { SPEED_TABLE } from './speed-table.js';

export type { Job, JobKind } from './auto.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
/** What a user may ask for: a backend, or `auto` (the default: see auto.ts). */
export const BACKEND_CHOICES = ['auto', ...BACKENDS] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

const NATIVE: Record<'tensorflow' | 'tensorflow-gpu', string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

export class BackendError extends Error {}

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

/** The backend named by an explicit choice, else SYMTELE_BACKEND, else auto. */
export function resolveBackendName(explicit?: string): BackendChoice {
  const env = process.env.SYMTELE_BACKEND;
  const name = explicit ?? (env !== undefined && env !== '' ? env : 'auto');
  if (name !== 'auto' && !isBackendName(name)) {
    throw new BackendError(`unknown backend "${name}": expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  return name;
}

export type NativeName = keyof typeof NATIVE;
export const isNative = (name: BackendName): name is NativeName => name in NATIVE;

/**
 * Where `npm run setup:native` installs the native packages: `.native/` in the package root,
 * or the folder SYMTELE_NATIVE_DIR names (a build shared between checkouts).
 */
const setupNativeDir = (): URL => {
  const dir = process.env.SYMTELE_NATIVE_DIR;
  return dir ? pathToFileURL(dir.endsWith('/') ? dir : dir + '/') : new URL('../../.native/', import.meta.url);
};

/**
 * Whether an installed native package has its addon (lib/napi-v<N>/tfjs_binding.node). A
 * package installed without it must not be imported: it registers its kernels before it looks
 * for the addon, and a later import of the other native package then registers them twice.
 */
function hasAddon(pkgJson: string): boolean {
  const lib = join(dirname(pkgJson), 'lib');
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')));
}

/**
 * The file Node loads for a native package: where Node resolves it, else in .native/; of the
 * two, the first that has its addon.
 */
function resolveNative(pkg: string): { entry: string; addon: boolean } | undefined {
  const found: { entry: string; addon: boolean }[] = [];
  for (const base of [import.meta.url, new URL('package.json', setupNativeDir()).href]) {
    try {
      const req = createRequire(base);
      found.push({ entry: req.resolve(pkg), addon: hasAddon(req.resolve(`${pkg}/package.json`)) });
    } catch {
      // not installed there
    }
  }
  return found.find((f) => f.addon) ?? found[0];
}

const nativeLoads = new Map<NativeName, Promise<void>>();

async function importNative(name: NativeName): Promise<void> {
  const pkg = NATIVE[name];
  const found = resolveNative(pkg);
  if (found === undefined) {
    throw new BackendError(
      `backend "${name}" needs the optional package ${pkg}, which is not installed. ` +
        `Build it offline with \`npm run setup:native${name === 'tensorflow-gpu' ? ' -- --gpu' : ''}\`, ` +
        `or (with internet) install it with: npm install ${pkg}@${tf.version_core}`,
    );
  }
  if (!found.addon) {
    throw new BackendError(
      `backend "${name}": ${pkg} is installed (${found.entry}) without its native addon. ` +
        `Build it offline with \`npm run setup:native${name === 'tensorflow-gpu' ? ' -- --gpu' : ''}\`, ` +
        `or (with internet) install it with: npm install ${pkg}@${tf.version_core}`,
    );
  }
  // libtensorflow prints INFO lines (CPU features, oneDNN) on load; the user's setting wins.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // Eager ops run one at a time, so an inter-op pool only adds scheduling: one inter-op thread
  // measured 1.4x faster meta-training at B = 16 than the default (docs/design/backends.md). The
  // user's setting wins.
  process.env.TF_NUM_INTEROP_THREADS ??= '1';
  try {
    await import(pathToFileURL(found.entry).href);
  } catch (e) {
    throw new BackendError(
      `backend "${name}": ${pkg} is installed (${found.entry}) but does not load: ${(e as Error).message.split('\n')[0]}. ` +
        `Rebuild it with \`npm run setup:native -- --force\``,
    );
  }
}

/**
 * Load a native package once per process (a failed load is retried on the next call). Both
 * packages register their kernels as tfjs's `tensorflow` backend, so only one can be loaded.
 */
function loadNative(name: NativeName): Promise<void> {
  let p = nativeLoads.get(name);
  const other = [...nativeLoads.keys()].find((n) => n !== name);
  if (p === undefined && other !== undefined) {
    return Promise.reject(new BackendError(`backend "${name}": this process has already loaded ${NATIVE[other]} (backend "${other}"); both register tfjs's "tensorflow" backend, so one process runs only one of them`));
  }
  if (p === undefined) {
    p = importNative(name);
    p.catch(() => nativeLoads.delete(name));
    nativeLoads.set(name, p);
  }
  return p;
}

/**
 * The backends this installation has, without loading any: wasm and cpu always, a native one
 * when its package and addon are present (loading it can still fail: see probeBackend).
 */
export function installedBackends(): BackendName[] {
  const out: BackendName[] = ['wasm', 'cpu'];
  for (const name of Object.keys(NATIVE) as NativeName[]) if (resolveNative(NATIVE[name])?.addon) out.push(name);
  return out;
}

/** Whether a backend can be initialised here, and if not why (loads a native package). */
export async function probeBackend(name: BackendName): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!isNative(name)) return { ok: true };
  try {
    await loadNative(name);
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * The backend `auto` picks for a job: the installed backend the speed table measured fastest
 * for it (by at least MARGIN over wasm), else wasm. Only tensorflow competes: tensorflow-gpu
 * built by setup:native runs the same CPU library, and a GPU build has no figures here. A
 * native pick that fails to load falls back to wasm with a warning.
 */
export async function autoBackend(job?: Job): Promise<BackendName> {
  const candidates = installedBackends().filter((b) => b === 'tensorflow');
  const pick = chooseBackend(candidates, job);
  if (pick !== 'wasm') {
    const probe = await probeBackend(pick);
    if (!probe.ok) {
      process.stderr.write(`[symtele] auto: ${pick} is installed but does not load, using wasm (${probe.reason})\n`);
      return 'wasm';
    }
  }
  return pick;
}

/** What auto finds and would pick per job kind (for `symtele info`). */
export function autoReport(): Record<string, string> {
  const installed = installedBackends();
  const out: Record<string, string> = { installed: installed.join(', '), speedTable: SPEED_TABLE.source };
  const show = (job: Job) => {
    const pick = chooseBackend(installed.filter((b) => b === 'tensorflow'), job);
    const s = measuredSpeedup('tensorflow', job);
    // the figures only matter where the native backend can be chosen at all
    if (!installed.includes('tensorflow')) return `${pick} (tensorflow is not installed${s === undefined ? '' : `; measured x${s} of wasm where it is`})`;
    return `${pick}${s === undefined ? ' (tensorflow not measured)' : ` (tensorflow measured x${s} of wasm; needs x${MARGIN})`}`;
  };
  for (const kind of Object.keys(JOB_LABELS) as JobKind[]) {
    const batches = kind === 'metaTrain' ? [1, 16, 64] : kind === 'classifierEpoch' ? [1, 10, 25, 100] : null;
    if (batches) for (const batch of batches) out[`auto: ${JOB_LABELS[kind]} B=${batch}`] = show({ kind, batch });
    else out[`auto: ${JOB_LABELS[kind]}`] = show({ kind });
  }
  return out;
}

/** tfjs's name of a backend: both native packages register theirs as `tensorflow`. */
const registryName = (name: BackendName): string => (isNative(name) ? 'tensorflow' : name);
/** The backend initBackend last set (see currentBackend). */
let chosen: BackendName | undefined;

/**
 * Initialise tfjs on the chosen backend (`auto` resolved for `job`; with no job, auto is wasm);
 * returns the name actually in use.
 */
export async function initBackend(explicit?: string, job?: Job): Promise<BackendName> {
  const choice = resolveBackendName(explicit);
  const name = choice === 'auto' ? await autoBackend(job) : choice;
  if (isNative(name)) await loadNative(name);
  const ok = await tf.setBackend(registryName(name));
  if (!ok) throw new BackendError(`backend "${name}" failed to initialise`);
  chosen = name;
  await tf.ready();
  // The cpu backend prints an advert for tfjs-node on first use; the CLI already says which
  // backend runs and how to install the native ones.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  installOverrides();
  return name;
}

/**
 * The backend in use, by its symtele name (what checkpoints record and workers are started on):
 * tf.getBackend() says `tensorflow` for tensorflow-gpu too.
 */
export function currentBackend(): string {
  const now = tf.getBackend();
  return chosen !== undefined && registryName(chosen) === now ? chosen : now;
}

export function backendInfo(): Record<string, string | number> {
  const mem = tf.memory();
  return {
    backend: currentBackend(),
    tfjs: tf.version_core,
    numTensors: mem.numTensors,
    numBytes: mem.numBytes,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}
