// Run the CLI (src/cli/main.ts through tsx) in a child process from the repository root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function symtele(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, SYMTELE_BACKEND: undefined, SYMTELE_DEBUG: undefined, ...env };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: childEnv as NodeJS.ProcessEnv,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Assert that `text` (e.g. a command's stderr) contains every one of `lines`. */
export function assertIncludesAll(text: string, lines: readonly string[]): void {
  for (const l of lines) assert.ok(text.includes(l), `missing "${l}" in:\n${text}`);
}

const DIST_CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * Run the built CLI (dist/, as an installed package runs) on wasm; `onLine` sees each stderr line
 * as it comes and may send the process a signal (a kill mid-run).
 */
export function symteleBuilt(args: string[], onLine: (line: string, kill: (s: NodeJS.Signals) => void) => void = () => {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DIST_CLI, ...args], { cwd: ROOT, env: { ...process.env, SYMTELE_BACKEND: 'wasm' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      stderr += s;
      for (const line of s.split('\n')) onLine(line, (sig) => child.kill(sig));
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
