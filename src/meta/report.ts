// Held-out results: the machine-readable JSON, the summary table (mean ± std at chosen steps)
// and the log-scale loss plot, one line per variant.
import { savePlot, bandSeries } from '../report/plot.js';
import { writeFileAtomic } from '../run/atomic.js';
import { keepNonFinite } from '../run/tensors.js';
import { tInterval, type Interval } from '../report/intervals.js';

export interface VariantResult {
  /** runs × (steps + 1): loss before each step and after the last. */
  loss: number[][];
  gradNormSq: number[][];
  /** Wall-clock seconds after each step, per run. */
  time: number[][];
  /** Meta-training seed of each run (null for an entry that is not meta-trained). */
  metaSeed: (number | null)[];
  /** A baseline's learning rate, and the validation score of every rate tried (when tuned). */
  lr?: number;
  lrGrid?: { lr: number; score: number }[];
  /** Seconds spent meta-training (all seeds), when trained in this process. */
  trainSeconds?: number;
  trajectoriesPerSecond?: number;
}

export interface EvalResults {
  variants: Record<string, VariantResult>;
  heldout: { seed: number; trajectories: number; steps: number; seedScheme: string };
}

/** Results of an experiment: one task's, or per task of `evalTasks` (by its label). */
export type MetaResults = EvalResults | { tasks: Record<string, EvalResults> };

/** The results per evaluation task ('' for the experiment's own task). */
export const resultsByTask = (r: MetaResults): [string, EvalResults][] => ('tasks' in r ? Object.entries(r.tasks) : [['', r]]);

/** results.json; a diverged run's non-finite losses are kept as the strings "Infinity" / "NaN". */
export function writeResultsJson(file: string, r: MetaResults): void {
  writeFileAtomic(file, JSON.stringify(r, keepNonFinite) + '\n');
}

const fmt = (x: number) => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 1e4 || Math.abs(x) < 1e-2 ? x.toExponential(2) : x.toPrecision(4));

export function stepStats(loss: number[][], step: number): { mean: number; std: number } {
  const v = loss.map((r) => r[step]).filter((x) => x !== undefined);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std };
}

/** Markdown table: one row per variant, mean ± std of the held-out loss at each step. */
export function summaryTable(r: EvalResults, steps: readonly number[]): string {
  const head = `| variant | runs | ${steps.map((s) => `step ${s}`).join(' | ')} |`;
  const sep = `|---|---|${steps.map(() => '---').join('|')}|`;
  const rows = Object.entries(r.variants).map(([name, v]) => {
    const cells = steps.map((s) => {
      const { mean, std } = stepStats(v.loss, s);
      return `${fmt(mean)} ± ${fmt(std)}`;
    });
    return `| ${name} | ${v.loss.length} | ${cells.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** Per meta-seed means at the given steps (the seed-robustness check). */
export function perSeedTable(r: EvalResults, steps: readonly number[]): string {
  const lines = [`| variant | meta-seed | ${steps.map((s) => `step ${s}`).join(' | ')} |`, `|---|---|${steps.map(() => '---').join('|')}|`];
  for (const [name, v] of Object.entries(r.variants)) {
    const seeds = [...new Set(v.metaSeed)];
    for (const s of seeds) {
      const rows = v.loss.filter((_, i) => v.metaSeed[i] === s);
      lines.push(`| ${name} | ${s ?? '-'} | ${steps.map((st) => fmt(stepStats(rows, st).mean)).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** A variant's losses at `step`: per meta-seed (null for GD), the runs in held-out problem order. */
function runsBySeed(v: VariantResult, step: number): Map<number | null, number[]> {
  const out = new Map<number | null, number[]>();
  v.loss.forEach((row, i) => {
    const s = v.metaSeed[i] ?? null;
    if (!out.has(s)) out.set(s, []);
    out.get(s)!.push(row[step] ?? NaN);
  });
  return out;
}

const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The paired difference a - b of two variants' held-out losses at `step` (same problems), two
 * ways: over problems (per problem, each variant's mean over its meta-seeds; does this trained
 * optimizer do better on new problems?) and over meta-seeds (per seed, the mean over problems
 * against the other's; does meta-training reliably give a better one?). A variant with one seed
 * (GD) is compared with every seed of the other.
 */
export function pairedAtStep(a: VariantResult, b: VariantResult, step: number): { problems: Interval; seeds: Interval } {
  const A = runsBySeed(a, step);
  const B = runsBySeed(b, step);
  const problems = Math.min(...[...A.values(), ...B.values()].map((r) => r.length));
  const perProblem = (m: Map<number | null, number[]>, t: number) => meanOf([...m.values()].map((r) => r[t]!));
  const overProblems = Array.from({ length: problems }, (_, t) => perProblem(A, t) - perProblem(B, t));
  const seeds = [...new Set([...A.keys(), ...B.keys()])].filter((s) => s !== null);
  const at = (m: Map<number | null, number[]>, s: number | null) => m.get(s) ?? (m.size === 1 ? [...m.values()][0] : undefined);
  const overSeeds = (seeds.length > 0 ? seeds : [null]).map((s) => {
    const x = at(A, s);
    const y = at(B, s);
    return x && y ? meanOf(x.slice(0, problems).map((v, t) => v - y[t]!)) : NaN;
  });
  return { problems: tInterval(overProblems), seeds: tInterval(overSeeds) };
}

/** A mean and its interval; with fewer than two values there is no interval, only the mean (or a dash). */
export const cell = (i: Interval): string =>
  Number.isFinite(i.lo) && Number.isFinite(i.hi) ? `${fmt(i.mean)} [${fmt(i.lo)}, ${fmt(i.hi)}] (n ${i.n})` : `${Number.isFinite(i.mean) ? fmt(i.mean) : '—'} (n ${i.n})`;

/**
 * Per step, the variant with the lowest mean and its paired difference to every other variant
 * (negative: the best is ahead), with 95% t-intervals over held-out problems and over meta-seeds.
 */
export function bestVsOthersTable(r: EvalResults, steps: readonly number[]): string {
  const lines = ['| step | best (mean) | against | best − other, over problems [95% t] | over meta-seeds [95% t] |', '|---|---|---|---|---|'];
  const names = Object.keys(r.variants);
  for (const step of steps) {
    const means = names.map((n) => stepStats(r.variants[n]!.loss, step).mean).map((m) => (Number.isFinite(m) ? m : Infinity));
    const min = Math.min(...means);
    if (!Number.isFinite(min)) continue; // every variant diverged by this step
    const best = names[means.indexOf(min)]!;
    for (const other of names) {
      if (other === best) continue;
      const d = pairedAtStep(r.variants[best]!, r.variants[other]!, step);
      lines.push(`| ${step} | ${best} (${fmt(min)}) | ${other} | ${cell(d.problems)} | ${cell(d.seeds)} |`);
    }
  }
  return lines.join('\n');
}

/**
 * PNG + SVG of the held-out loss per step: per variant the mean over runs with a ± std band, on
 * a log axis (the early steps span decades), and a linear panel of the last half of the steps,
 * where the variants differ by a few percent and a log axis cannot tell them apart.
 */
export async function plotResults(base: string, r: EvalResults): Promise<string[]> {
  const series = Object.entries(r.variants).map(([name, v]) => {
    const steps = Math.max(...v.loss.map((q) => q.length));
    return bandSeries(name, Array.from({ length: steps }, (_, i) => i), v.loss, { unit: 'runs', xName: 'step' });
  });
  return savePlot(base, {
    title: 'Held-out loss',
    subtitle: 'line: mean over runs (held-out trajectories × meta-seeds); band: ± std over runs',
    xLabel: 'step',
    yLabel: 'loss',
    series,
    logY: true,
    linearTail: { from: Math.floor(r.heldout.steps / 2) },
  });
}
