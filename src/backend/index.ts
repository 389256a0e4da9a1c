// Backend selection. The embedded default is wasm (ships in its npm package, works offline);
// cpu is the pure-JS fallback; tensorflow / tensorflow-gpu load @tensorflow/tfjs-node(-gpu)
// when the user has installed them (they are not dependencies: their install downloads
// libtensorflow).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { installOverrides } from '../ops/overrides.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

const NATIVE: Record<'tensorflow' | 'tensorflow-gpu', string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

export class BackendError extends Error {}

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

/** The backend named by an explicit choice, else SYMTELE_BACKEND, else wasm. */
export function resolveBackendName(explicit?: string): BackendName {
  const name = explicit ?? process.env.SYMTELE_BACKEND ?? 'wasm';
  if (!isBackendName(name)) {
    throw new BackendError(`unknown backend "${name}": expected one of ${BACKENDS.join(', ')}`);
  }
  return name;
}

async function loadNative(name: 'tensorflow' | 'tensorflow-gpu'): Promise<void> {
  const pkg = NATIVE[name];
  try {
    // A variable specifier keeps TypeScript from requiring the optional package at build time.
    await import(pkg);
  } catch (e) {
    throw new BackendError(
      `backend "${name}" needs the optional package ${pkg}, which is not installed ` +
        `(${(e as Error).message.split('\n')[0]}). Install it with: npm install ${pkg}@${tf.version_core}`,
    );
  }
}

/** Initialise tfjs on the chosen backend; returns the name actually in use. */
export async function initBackend(explicit?: string): Promise<BackendName> {
  const name = resolveBackendName(explicit);
  if (name === 'tensorflow' || name === 'tensorflow-gpu') await loadNative(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`backend "${name}" failed to initialise`);
  await tf.ready();
  // The cpu backend prints an advert for tfjs-node on first use; the CLI already says which
  // backend runs and how to install the native ones.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  installOverrides();
  return name;
}

export function backendInfo(): Record<string, string | number> {
  const mem = tf.memory();
  return {
    backend: tf.getBackend(),
    tfjs: tf.version_core,
    numTensors: mem.numTensors,
    numBytes: mem.numBytes,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}
