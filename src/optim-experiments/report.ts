// Shared reporting of the optimizer experiments: mean ± std bands for plots, summary-table
// cells and markdown tables, run-directory names.
import path from 'node:path';
import { meanStd, type Series } from '../report/plot.js';
import { writeFileAtomic, writeJsonAtomic } from '../logging/atomic.js';

/** A plot series of the mean over runs with a ± std band. */
export function bandSeries(name: string, x: number[], runs: number[][], dashed = false): Series {
  const { mean, std } = meanStd(runs);
  return { name, x, y: mean, lo: mean.map((m, i) => m - std[i]!), hi: mean.map((m, i) => m + std[i]!), dashed };
}

/** Mean and population std of finite values (NaN when none). */
export function stats(values: readonly number[]): { mean: number; std: number; n: number } {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
}

const num = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(4)) : String(v));

/** "mean ± std" (and "(k/n finite)" when some runs diverged). */
export function meanStdCell(values: readonly number[]): string {
  const s = stats(values);
  const cell = `${num(s.mean)} ± ${num(s.std)}`;
  return s.n === values.length ? cell : `${cell} (${s.n}/${values.length} finite)`;
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A directory name from a label: "max ||grad||_A" -> "max-grad-A". */
export const slug = (s: string) => s.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '') || 'run';

/** Write `summary.md` and `results.json` of an experiment (atomically); returns their paths. */
export function writeReport(out: string, summary: string, results: unknown): string[] {
  writeFileAtomic(path.join(out, 'summary.md'), summary + '\n');
  writeJsonAtomic(path.join(out, 'results.json'), results);
  return [path.join(out, 'summary.md'), path.join(out, 'results.json')];
}
