// Markdown tables of the Table 1 study (r with bootstrap intervals per dataset, metric mode and
// epoch) and of the Figure 4 runs, from the results JSON files in a folder (part of
// `npm run report`). Alone: node --import tsx scripts/report/generalization.ts [dir]
// (default docs/generalization/results) prints every table of the folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pearson, bootstrapPearson, bootstrapInterval, pairedDifference, partialPearson } from '../../src/studies/generalization/stats.js';
import { stream } from '../../src/rng/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : String(x));
const sgn = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(4)}` : '—');
const readJson = (dir: string, f: string): Json => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));

/** The correlation results (Table 1) of a folder, one per dataset, metric mode and epoch. */
export const correlationResults = (dir: string): Json[] =>
  fs.readdirSync(dir).filter((f) => /^correlation-.*-(paper|reference)-epoch\d+\.json$/.test(f)).sort().map((f) => readJson(dir, f));

/**
 * Table 1 with per-model values: r [95% bootstrap] of φ, ψ and the training-loss control, and
 * the partial r of φ and ψ given the training loss (what each says of the validation loss beyond
 * what the training loss does).
 */
export function correlationTable(corr: Json[]): string {
  const lines = [
    '| dataset | epochs trained | metrics | sharpness φ: r [95% bootstrap] | curvature ψ: r [95% bootstrap] | control: training loss r [95%] | φ given the training loss: partial r [95%] | ψ given the training loss | paper φ / ψ | models | mean validation loss |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const sorted = [...corr].sort((a, b) => a.dataset.localeCompare(b.dataset) || b.epoch - a.epoch || b.mode.localeCompare(a.mode));
  for (const r of sorted) {
    const v: number[] = r.perModel.map((m: Json) => m.validationLoss);
    const mv = v.reduce((a, b) => a + b, 0) / v.length;
    const cell = (k: string) => `${f3(r.pearson[k])} [${f3(r.ci95[k][0])}, ${f3(r.ci95[k][1])}]`;
    // the control of runCorrelation, recomputed (same seeds) for results written before it existed
    const t: number[] = r.perModel.map((m: Json) => m.trainLoss);
    const ctl = r.control?.trainLoss ?? { r: pearson(t, v), ci95: bootstrapPearson(t, v, { rng: stream(r.config.seed, 'correlation', 'bootstrap', 'train-loss'), samples: r.config.bootstrap }) };
    const c = `${f3(ctl.r)} [${f3(ctl.ci95[0])}, ${f3(ctl.ci95[1])}]`;
    const partial = (k: string) => {
      const m: number[] = r.perModel.map((x: Json) => x[k]);
      const ci = bootstrapInterval([m, v, t], partialPearson, { rng: stream(r.config.seed, 'correlation', 'bootstrap', `partial-${k}`), samples: r.config.bootstrap });
      return `${f3(partialPearson(m, v, t))} [${f3(ci[0])}, ${f3(ci[1])}]`;
    };
    lines.push(`| ${r.dataset} | ${r.epoch} of ${r.config.epochs} | ${r.mode} | ${cell('sharpness')} | ${cell('curvature')} | ${c} | ${partial('sharpness')} | ${partial('curvature')} | ${r.paper.sharpness} / ${r.paper.curvature} | ${r.models} | ${mv.toFixed(4)} |`);
  }
  return lines.join('\n');
}

/** The Figure 4 results of a folder. */
export const fig4Results = (dir: string): Json[] =>
  fs.readdirSync(dir).filter((f) => /^teleport-generalization-.*\.json$/.test(f)).sort().map((f) => readJson(dir, f));

// Paired differences arm − none over the runs of one or more Figure 4 results (each run against
// its own 'none'): the training loss right after the teleport (the action keeps the loss only on
// the teleport batches), the validation loss right after it, one epoch later and at the end.
const DIFF_COLUMNS: Array<(a: Json, cfg: Json) => number[]> = [
  (a) => a.jump.map((j: Json) => j.trainAfter),
  (a) => a.jump.map((j: Json) => j.validationAfter),
  (a, cfg) => a.validationLoss.map((v: number[]) => v[cfg.teleportEpoch]),
  (a) => a.validationLoss.map((v: number[]) => v.at(-1)),
];
const interval = (d: { mean: number; lo: number; hi: number }) => `${sgn(d.mean)} [${sgn(d.lo)}, ${sgn(d.hi)}]`;
const pairedColumns = (rs: Json[], arm: string) => {
  const pick = (name: string, f: (a: Json, cfg: Json) => number[]) => rs.flatMap((r) => f(r.arms.find((a: Json) => a.arm === name), r.config));
  return DIFF_COLUMNS.map((f) => interval(pairedDifference(pick(arm, f), pick('none', f))));
};

/** One Figure 4 run: per arm, the objective moved, steps skipped and the paired differences. */
export function fig4RunTable(r: Json): string {
  const c = r.config;
  const lines = [
    `${c.dataset.name} ${r.dims.join('-')}, ${c.dataset.trainSize} training samples, teleport after epoch ${c.teleportEpoch} of ${c.epochs}, ${c.teleport.batches} batches of ${c.teleport.batchSize}, ${c.runs} runs`,
    '| arm | objective before → after (φ; ψ arms: κ, mean over the steps taken) | moved the asked way (φ: runs; κ: steps) | steps skipped | training loss at teleport − none [95% t] | validation at teleport − none [95% t] | one epoch later | final validation − none [95% t] | final validation (mean ± std) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const a of r.arms) {
    const steps: Json[] = a.jump.flatMap((j: Json) => j.curveSteps ?? []);
    const taken = steps.filter((s) => !s.skipped);
    const m = (f: (s: Json) => number) => taken.reduce((x, s) => x + f(s), 0) / taken.length;
    const up = a.arm.endsWith('up');
    const moved = (before: number, after: number) => (up ? after > before : after < before);
    // the curve mode's steps each move their own curve's κ; the ascent mode's objective is per run
    const perRun: Json[] = a.jump.filter((j: Json) => Number.isFinite(j.objectiveBefore) && !j.curveSteps);
    const mj = (f: (j: Json) => number) => perRun.reduce((x, j) => x + f(j), 0) / perRun.length;
    const kap = taken.length
      ? `${m((s) => s.kappaBefore).toPrecision(4)} → ${m((s) => s.kappaAfter).toPrecision(4)}`
      : perRun.length ? `${mj((j) => j.objectiveBefore).toPrecision(4)} → ${mj((j) => j.objectiveAfter).toPrecision(4)}` : '—';
    const way = taken.length
      ? `${taken.filter((s) => moved(s.kappaBefore, s.kappaAfter)).length} of ${taken.length}`
      : perRun.length ? `${perRun.filter((j) => moved(j.objectiveBefore, j.objectiveAfter)).length} of ${perRun.length} runs` : '—';
    const diffs = a.arm !== 'none' && r.arms.some((x: Json) => x.arm === 'none') ? pairedColumns([r], a.arm) : DIFF_COLUMNS.map(() => '—');
    lines.push(`| ${a.arm} | ${kap} | ${way} | ${steps.length ? `${steps.length - taken.length} of ${steps.length}` : '—'} | ${diffs.join(' | ')} | ${a.finalValidation.mean.toFixed(4)} ± ${a.finalValidation.std.toFixed(4)} |`);
  }
  return lines.join('\n');
}

/**
 * Figure 4 runs that differ only in the seed, pooled: each run's paired difference to its own
 * 'none' arm, over every seed's runs. One table per group of two or more runs.
 */
export function fig4PooledTables(fig4: Json[]): string[] {
  const groups = new Map<string, Json[]>();
  for (const r of fig4) {
    const { seed: _s, out: _o, ...rest } = r.config;
    const key = JSON.stringify(rest);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: string[] = [];
  for (const rs of groups.values()) {
    if (rs.length < 2) continue;
    rs.sort((a, b) => a.config.seed - b.config.seed);
    const c = rs[0].config;
    const seeds = rs.map((r) => r.config.seed);
    const n = rs.reduce((x, r) => x + r.config.runs, 0);
    out.push([
      `${c.dataset.name} ${rs[0].dims.join('-')}, ψ ${c.teleport.curvatureMode} mode, seeds ${seeds.join(', ')} pooled: ${n} paired runs`,
      '| arm | training loss at teleport − none [95% t] | validation at teleport − none [95% t] | one epoch later | final validation − none [95% t] |',
      '|---|---|---|---|---|',
      ...rs[0].arms.map((a: Json) => a.arm).filter((a: string) => a !== 'none').map((arm: string) => `| ${arm} | ${pairedColumns(rs, arm).join(' | ')} |`),
    ].join('\n'));
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? 'docs/generalization/results';
  const corr = correlationResults(dir);
  const fig4 = fig4Results(dir);
  const parts = [...(corr.length ? [correlationTable(corr)] : []), ...fig4.map(fig4RunTable), ...fig4PooledTables(fig4)];
  console.log(parts.join('\n\n'));
}
