// Shared reporting of the optimizer experiments: mean ± std bands for plots, summary-table
// cells and markdown tables, run-directory names.
import path from 'node:path';
import { finiteStats } from '../../report/plot.js';
import { writeFileAtomic, writeJsonAtomic } from '../../run/atomic.js';

export { finiteStats as stats, bandSeries } from '../../report/plot.js';

const num = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(4)) : String(v));

/** "mean ± std" (and "(k/n finite)" when some runs diverged). */
export function meanStdCell(values: readonly number[]): string {
  const s = finiteStats(values);
  const cell = `${num(s.mean)} ± ${num(s.std)}`;
  return s.n === values.length ? cell : `${cell} (${s.n}/${values.length} finite)`;
}

export function markdownTable(header: string[], rows: string[][]): string {
  // a cell's own bars ("max ||grad||_A") would split it
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Write `summary.md` and `results.json` of an experiment (atomically); returns their paths. */
export function writeReport(out: string, summary: string, results: unknown): string[] {
  writeFileAtomic(path.join(out, 'summary.md'), summary + '\n');
  writeJsonAtomic(path.join(out, 'results.json'), results);
  return [path.join(out, 'summary.md'), path.join(out, 'results.json')];
}
