// Bench section "reference": our LSTM(update,tele) meta-training against the PyTorch reference
// implementation's protocol (scripts/reference_meta_speed.py), side by side in one run, each
// with the whole machine in turn. The reference runs with torch threads 1 and 2, with the
// OpenBLAS tuning variables OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment
// (a wrong core type slows OpenBLAS down), and, when SYMTELE_OPENBLAS_DIR names a folder holding
// an OpenBLAS libblas.so.3, also with that BLAS first on the library path; ratios are taken
// against its best set-up. Skipped, with the reason printed, when no python3 with torch exists.
import { spawnSync } from 'node:child_process';
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

export interface ReferenceRun {
  setup: string;
  threads: number;
  blas: string;
  updateTele: number; // trajectories/s
  update: number;
  gdStepMs: number;
  secondsPerTrajectory: { median: number; min: number; max: number; n: number };
  raw: ScriptOutput;
}

/** What scripts/reference_meta_speed.py prints (the fields used here). */
interface ScriptOutput {
  torch: string;
  cpu: string;
  blas: { BLAS_INFO?: string; loaded?: string[] };
  updateTele: { trajectoriesPerSecond: number; secondsPerTrajectory: { median: number; min: number; max: number; n: number } };
  update: { trajectoriesPerSecond: number };
  gdStepMs: number;
  openblasEnv: Record<string, string>;
}

const SCRIPT = fileURLToPath(new URL('../../scripts/reference_meta_speed.py', import.meta.url));

/** Runs the reference timing script once; its environment lacks the OpenBLAS tuning variables. */
export function runReference(python: string, threads: number, o: { blasDir?: string; steps: number; trajectories: number; warmup: number }): ReferenceRun {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (o.blasDir) env.LD_LIBRARY_PATH = [o.blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const args = [SCRIPT, '--threads', String(threads), '--steps', String(o.steps), '--trajectories', String(o.trajectories), '--warmup', String(o.warmup)];
  const r = spawnSync(python, args, { env, encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`reference script failed (threads ${threads}): ${r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const raw = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ScriptOutput;
  const loaded = raw.blas.loaded ?? [];
  const blas = loaded.some((l) => /openblas/i.test(l)) ? 'OpenBLAS' : loaded.some((l) => /mkl/i.test(l)) ? 'MKL' : `${raw.blas.BLAS_INFO ?? '?'} (${loaded.join(', ') || 'none loaded'})`;
  return {
    setup: `torch ${raw.torch}, ${threads} thread${threads > 1 ? 's' : ''}, ${blas}`,
    threads,
    blas,
    updateTele: raw.updateTele.trajectoriesPerSecond,
    update: raw.update.trajectoriesPerSecond,
    gdStepMs: raw.gdStepMs,
    secondsPerTrajectory: raw.updateTele.secondsPerTrajectory,
    raw,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const section: Section = {
  name: 'reference',
  async run({ quick }): Promise<Figures> {
    const found = findTorchPython(pythonCandidates());
    if ('reason' in found) {
      process.stdout.write(`  skipped: ${found.reason}\n`);
      return { referenceSkipped: found.reason };
    }
    const steps = quick ? 20 : 100;
    const opts = { steps, trajectories: quick ? 1 : 3, warmup: 1 };
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
        process.stdout.write(`  reference ${run.setup}: ${run.updateTele.toFixed(3)} trajectories/s (LSTM(update) ${run.update.toFixed(3)}/s, GD step ${run.gdStepMs.toFixed(3)} ms)\n`);
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
      referenceCpu: best.raw.cpu,
      referenceTorch: best.raw.torch,
      referenceTrajectoryLength: steps,
      referenceTimedTrajectories: opts.trajectories,
      oursUpdateTeleTrajectoriesPerSecond: ours,
      referenceUpdateTeleTrajectoriesPerSecond: Object.fromEntries(runs.map((r) => [r.setup, r.updateTele])),
      referenceUpdateTrajectoriesPerSecond: Object.fromEntries(runs.map((r) => [r.setup, r.update])),
      referenceGdStepMs: Object.fromEntries(runs.map((r) => [r.setup, r.gdStepMs])),
      referenceSecondsPerTrajectory: Object.fromEntries(runs.map((r) => [r.setup, r.secondsPerTrajectory])),
      referenceBest: best.setup,
      oursOverBestReference: ratio,
      flopsPerTrajectory: flops,
      oursGflopsPerSecond: gflops,
      bestReferenceGflopsPerSecond: (best.updateTele * flops) / 1e9,
    };
  },
};
