// Bench section "reference": our LSTM(update,tele) meta-training against the authors' own
// function (Rose-STL-Lab/Teleportation-Optimization, learn-to-teleport/gradient_descent_mlp.py,
// train_meta_opt), called as it is by scripts/reference_meta_authors.py, side by side in one run,
// each with the whole machine in turn. Their code is not part of symtele: SYMTELE_AUTHORS_DIR
// names a checkout, and without it the section is skipped with the reason printed (as it is
// when no python3 with torch exists). The reference runs with torch threads 1 and 2, with the
// OpenBLAS tuning variables OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment
// (a wrong core type slows OpenBLAS down), and, when SYMTELE_OPENBLAS_DIR names a folder holding
// an OpenBLAS libblas.so.3, also with that BLAS first on the library path; ratios are taken
// against its best set-up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Section, Figures } from './section.js';
import { metaTrainThroughput } from './meta.js';

/** Where to look for a Python with torch: an explicit choice, the PATH's, then the system's (Debian's python3-torch). */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.SYMTELE_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
}

/** The first candidate that imports torch, or the reason none does. */
export function findTorchPython(candidates: string[]): { python: string } | { reason: string } {
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python };
    tried.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { reason: `no python3 with torch (${tried.join('; ')})` };
}

/**
 * Multiply-add FLOPs of one meta-training trajectory of LSTM(update,tele) on the paper's problem,
 * counting only the LSTM and head matrix products (the 20x20 problem's own products are ~1%):
 * forward once, backward twice (input and weight gradients). Two stacked LSTM cells of `hidden`
 * units each read `inputs` gradient entries; heads output `inputs` (update) and n*n (group element).
 */
export function lstmUpdateTeleFlops(o: { n: number; hidden: number; steps: number }): number {
  const inputs = 2 * o.n * o.n;
  const gates = 4 * o.hidden;
  const cells = 2 * (inputs * gates + o.hidden * gates) + 2 * (o.hidden * gates + o.hidden * gates);
  const forward = 2 * cells + 2 * o.hidden * inputs + 2 * o.hidden * o.n * o.n; // two LSTMs + two heads
  return 3 * forward * o.steps;
}

/** What the reference is, in the JSON: never a re-implementation. */
export const REFERENCE_IMPLEMENTATION = 'authors train_meta_opt';

/** The authors' checkout named by SYMTELE_AUTHORS_DIR, or why the section cannot run. */
export function authorsDir(env: NodeJS.ProcessEnv = process.env): { dir: string } | { reason: string } {
  const dir = env.SYMTELE_AUTHORS_DIR;
  const what = "the reference is the authors' train_meta_opt (Rose-STL-Lab/Teleportation-Optimization, not part of symtele)";
  if (!dir) return { reason: `SYMTELE_AUTHORS_DIR is not set: ${what}; set it to a checkout of their repository` };
  if (!existsSync(join(dir, 'learn-to-teleport', 'gradient_descent_mlp.py'))) {
    return { reason: `SYMTELE_AUTHORS_DIR (${dir}) holds no learn-to-teleport/gradient_descent_mlp.py: ${what}` };
  }
  return { dir };
}

export interface ReferenceRun {
  setup: string;
  threads: number;
  blas: string;
  updateTele: number; // trajectories/s of the LSTM(update,tele) call
  update: number; // and of the LSTM(update) call
  secondsPerTrajectory: ScriptOutput['updateTele']['secondsPerTrajectory'];
  raw: ScriptOutput;
}

interface TimedCall {
  call: Record<string, unknown>;
  callSeconds: number;
  trajectoriesPerSecond: number;
  secondsPerTrajectory: { mean: number; median: number; min: number; max: number; n: number };
}

/** What scripts/reference_meta_authors.py prints (the fields used here). */
export interface ScriptOutput {
  implementation: string;
  authorsSources: Record<string, string>;
  torch: string;
  threads: number;
  cpu: string;
  blas: { BLAS_INFO?: string; loaded?: string[] };
  updateTele: TimedCall;
  update: TimedCall;
  openblasEnv: Record<string, string>;
}

const SCRIPT = fileURLToPath(new URL('../../scripts/reference_meta_authors.py', import.meta.url));

/** The reference run from the script's stdout (its last line is the JSON object). */
export function parseReferenceOutput(stdout: string, threads: number): ReferenceRun {
  const raw = JSON.parse(stdout.trim().split('\n').pop() ?? '') as ScriptOutput;
  // only the authors' code is a reference
  if (raw.implementation !== 'authors') throw new Error(`reference script output is not the authors' code (implementation: ${raw.implementation})`);
  const loaded = raw.blas.loaded ?? [];
  const blas = loaded.some((l) => /openblas/i.test(l)) ? 'OpenBLAS' : loaded.some((l) => /mkl/i.test(l)) ? 'MKL' : `${raw.blas.BLAS_INFO ?? '?'} (${loaded.join(', ') || 'none loaded'})`;
  return {
    setup: `torch ${raw.torch}, ${threads} thread${threads > 1 ? 's' : ''}, ${blas}`,
    threads,
    blas,
    updateTele: raw.updateTele.trajectoriesPerSecond,
    update: raw.update.trajectoriesPerSecond,
    secondsPerTrajectory: raw.updateTele.secondsPerTrajectory,
    raw,
  };
}

/** Runs the authors' train_meta_opt through the timing script once; its environment lacks the OpenBLAS tuning variables. */
export function runReference(
  python: string,
  threads: number,
  o: { authorsDir: string; blasDir?: string; steps: number; trajectories: number; warmup: boolean },
): ReferenceRun {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (o.blasDir) env.LD_LIBRARY_PATH = [o.blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const args = [SCRIPT, '--authors-dir', o.authorsDir, '--threads', String(threads), '--steps', String(o.steps), '--trajectories', String(o.trajectories)];
  if (o.warmup) args.push('--warmup');
  const r = spawnSync(python, args, { env, encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`reference script failed (threads ${threads}): ${r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return parseReferenceOutput(r.stdout, threads);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const section: Section = {
  name: 'reference',
  async run({ quick }): Promise<Figures> {
    const skipped = (reason: string): Figures => {
      process.stdout.write(`  skipped: ${reason}\n`);
      return { referenceSkipped: reason };
    };
    // the authors' checkout first: without it there is no reference, whatever python exists
    const authors = authorsDir();
    if ('reason' in authors) return skipped(authors.reason);
    const found = findTorchPython(pythonCandidates());
    if ('reason' in found) return skipped(found.reason);
    const steps = quick ? 20 : 100;
    const opts = { authorsDir: authors.dir, steps, trajectories: quick ? 1 : 5, warmup: true };
    const flops = lstmUpdateTeleFlops({ n: 20, hidden: 300, steps });

    // ours: the reference recipe (same shapes, sum of losses, one window per 10 steps) at B = 1
    // (median of 3, one trajectory each) and B = 16, and the tuned recipe at B = 16
    const ours: Record<string, number> = {};
    const b1: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) b1.push((await metaTrainThroughput('LSTM(update,tele)', 1, steps, 'reference')).wall);
    ours['reference recipe, B=1'] = median(b1);
    ours['reference recipe, B=16'] = (await metaTrainThroughput('LSTM(update,tele)', 16, steps, 'reference')).wall;
    ours['tuned recipe, B=16'] = (await metaTrainThroughput('LSTM(update,tele)', 16, steps, 'tuned')).wall;
    for (const [k, v] of Object.entries(ours)) process.stdout.write(`  ours ${k}: ${v.toFixed(3)} trajectories/s\n`);

    const runs: ReferenceRun[] = [];
    const blasDirs: (string | undefined)[] = [undefined];
    if (process.env.SYMTELE_OPENBLAS_DIR) blasDirs.push(process.env.SYMTELE_OPENBLAS_DIR);
    for (const blasDir of blasDirs) {
      for (const threads of [1, 2]) {
        const run = runReference(found.python, threads, { ...opts, blasDir });
        process.stdout.write(`  reference (${REFERENCE_IMPLEMENTATION}) ${run.setup}: ${run.updateTele.toFixed(3)} trajectories/s (LSTM(update) ${run.update.toFixed(3)}/s)\n`);
        runs.push(run);
      }
    }
    const best = runs.reduce((a, b) => (b.updateTele > a.updateTele ? b : a));
    const ratio: Record<string, number> = {};
    const gflops: Record<string, number> = {};
    for (const [k, v] of Object.entries(ours)) {
      ratio[k] = v / best.updateTele;
      gflops[k] = (v * flops) / 1e9;
    }
    return {
      referenceImplementation: REFERENCE_IMPLEMENTATION,
      referenceCall: best.raw.updateTele.call,
      referenceAuthorsSources: best.raw.authorsSources,
      referenceCpu: best.raw.cpu,
      referenceTorch: best.raw.torch,
      referenceTrajectoryLength: steps,
      referenceTimedTrajectories: opts.trajectories,
      oursUpdateTeleTrajectoriesPerSecond: ours,
      referenceUpdateTeleTrajectoriesPerSecond: Object.fromEntries(runs.map((r) => [r.setup, r.updateTele])),
      referenceUpdateTeleTrajectoriesPerSecondByThreads: Object.fromEntries(
        [...new Set(runs.map((r) => r.threads))].map((t) => [String(t), Math.max(...runs.filter((r) => r.threads === t).map((r) => r.updateTele))]),
      ),
      referenceUpdateTrajectoriesPerSecond: Object.fromEntries(runs.map((r) => [r.setup, r.update])),
      referenceSecondsPerTrajectory: Object.fromEntries(runs.map((r) => [r.setup, r.secondsPerTrajectory])),
      referenceBest: best.setup,
      referenceBestThreads: best.threads,
      referenceBestTrajectoriesPerSecond: best.updateTele,
      oursOverBestReference: ratio,
      flopsPerTrajectory: flops,
      oursGflopsPerSecond: gflops,
      bestReferenceGflopsPerSecond: (best.updateTele * flops) / 1e9,
    };
  },
};
