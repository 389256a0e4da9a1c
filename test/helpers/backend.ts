// Which backends a numerics test file runs on. SYMTELE_TEST_BACKEND (set by scripts/test.sh for
// its pass on each installed native backend) narrows the file to that one backend; otherwise
// the file's own defaults (wasm, and cpu where the file tests it) apply.
import { resolveBackendName, type BackendName } from '../../src/backend/index.js';

export function testBackends(defaults: readonly BackendName[]): BackendName[] {
  const env = process.env.SYMTELE_TEST_BACKEND;
  return env !== undefined && env !== '' ? [resolveBackendName(env)] : [...defaults];
}

/** The one backend of a file that runs on a single backend (wasm unless narrowed). */
export function testBackend(fallback: BackendName = 'wasm'): BackendName {
  return testBackends([fallback])[0];
}
