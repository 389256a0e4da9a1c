// Held-out results: the machine-readable JSON, the summary table (mean ± std at chosen steps)
// and the log-scale loss plot, one line per variant.
import { savePlot, bandSeries } from '../report/plot.js';
import { writeJsonAtomic } from '../logging/atomic.js';

export interface VariantResult {
  /** runs × (steps + 1): loss before each step and after the last. */
  loss: number[][];
  gradNormSq: number[][];
  /** Wall-clock seconds after each step, per run. */
  time: number[][];
  /** Meta-training seed of each run (null for GD). */
  metaSeed: (number | null)[];
  /** Seconds spent meta-training (all seeds), when trained in this process. */
  trainSeconds?: number;
  trajectoriesPerSecond?: number;
}

export interface EvalResults {
  variants: Record<string, VariantResult>;
  heldout: { seed: number; trajectories: number; steps: number; seedScheme: string };
}

export function writeResultsJson(file: string, r: EvalResults): void {
  writeJsonAtomic(file, r, { indent: 0 });
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
