// Tables of Figure 6 with equal tuning (docs/results/figure6-equal-tuning.md): every method's
// search budget and scores on validation problems (stage 1 of the protocol, and the baselines'
// learning-rate grids of stage 2), from the protocol's config and the committed score files.
import fs from 'node:fs';
import path from 'node:path';
import { pairedAtStep, type EvalResults } from '../../src/meta/report.js';
import type { Interval } from '../../src/report/intervals.js';

interface Candidate { learned?: Record<string, Record<string, unknown>>; train?: { metaLr?: Record<string, number> } }
interface Protocol { methods: { label: string; grid: Candidate[] }[]; baselines: { label: string; baseline: { kind: string; lr: number[] } }[] }

/** "update: lrScaleRange 4; meta lr update 1e-3" from a candidate's fields. */
const settings = (c: Candidate) =>
  [
    ...Object.entries(c.learned ?? {}).flatMap(([mod, f]) => Object.entries(f).map(([k, v]) => `${mod}.${k} ${typeof v === 'object' ? Object.entries(v as object).map(([a, b]) => `${a} ${b}`).join(', ') : v}`)),
    `meta lr ${Object.entries(c.train?.metaLr ?? {}).map(([m, v]) => `${m} ${v}`).join(', ')}`,
  ].join('; ');

const score = (s: number | string | undefined) => (s === undefined ? 'not scored' : s === 'Infinity' ? 'diverged at every validation' : Number(s).toFixed(4));

/** Stage 1: each learned method's candidates, their validation scores, the pick in bold. */
export function fig6StageOneTable(root: string, config: string, scoresFile: string): string {
  const p = JSON.parse(fs.readFileSync(path.join(root, config), 'utf8')) as Protocol;
  const scores = (JSON.parse(fs.readFileSync(path.join(root, scoresFile), 'utf8')) as { scores: Record<string, number | string> }).scores;
  const lines = ['| method | candidate | settings (beside the preset) | validation score (mean log loss) |', '|---|---|---|---|'];
  for (const m of p.methods) {
    const vals = m.grid.map((_, j) => Number(scores[`${m.label} #${j}`] ?? Infinity));
    const best = vals.reduce((bi, s, i) => (s < vals[bi]! ? i : bi), 0);
    m.grid.forEach((c, j) => {
      const cell = score(scores[`${m.label} #${j}`]);
      lines.push(`| ${m.label} | #${j} | ${settings(c)} | ${j === best ? `**${cell}** (picked)` : cell} |`);
    });
  }
  return lines.join('\n');
}

/** The baselines' learning-rate grids scored on the final problem seed's validation problems. */
export function fig6BaselineTable(r: EvalResults): string {
  const lines = ['| baseline | learning rates tried: validation score (mean log loss) | picked |', '|---|---|---|'];
  for (const [label, v] of Object.entries(r.variants)) {
    if (!v.lrGrid) continue;
    lines.push(`| ${label} | ${v.lrGrid.map((g) => `${g.lr}: ${Number.isFinite(g.score) ? g.score.toFixed(4) : 'diverged'}`).join(', ')} | ${v.lr} |`);
  }
  return lines.join('\n');
}

/**
 * The paper's comparison and its controls: LSTM(update,tele) against each other method, paired on
 * the same held-out problems, at each step: the difference of means with 95% t-intervals over
 * problems and over meta-seeds (negative: LSTM(update,tele) is lower).
 */
export function fig6PairsTable(r: EvalResults, steps: readonly number[], fmtInterval: (i: Interval) => string): string {
  const focus = 'LSTM(update,tele)';
  const a = r.variants[focus];
  if (!a) throw new Error(`no ${focus} in the results`);
  const lines = [`| against | ${steps.map((s) => `step ${s}: over problems / over meta-seeds`).join(' | ')} |`, `|---|${steps.map(() => '---').join('|')}|`];
  for (const [label, b] of Object.entries(r.variants)) {
    if (label === focus) continue;
    lines.push(`| ${label} | ${steps.map((s) => ((d) => `${fmtInterval(d.problems)} / ${fmtInterval(d.seeds)}`)(pairedAtStep(a, b, s))).join(' | ')} |`);
  }
  return lines.join('\n');
}
