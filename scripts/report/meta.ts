// Tables of docs/results/learning-to-teleport.md from committed meta result files
// (docs/meta/*.json(.gz), as `meta train` / `meta eval` write them) and from the step-1
// landscape of scripts/step1-landscape.ts (docs/meta/step1-landscape.json).
import { summaryTable, stepStats, type EvalResults } from '../../src/meta/report.js';

type Read = <T>(file: string) => T;

const fmt = (x: number) => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 1e4 || Math.abs(x) < 1e-2 ? x.toExponential(2) : x.toPrecision(4));
const base = (file: string) => file.split('/').at(-1)!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Held-out mean ± std over runs at the given steps, every variant of one file. */
export function metaMeansTable(read: Read, file: string, steps: readonly number[]): string {
  const r = read<EvalResults>(file);
  return [`Held-out loss (mean ± std over runs), ${r.heldout.trajectories} held-out problems (seed ${r.heldout.seed}), ${r.heldout.steps} steps`, summaryTable(r, steps)].join('\n');
}

/**
 * One column per `VARIANT@FILE+FILE...` (the variant's runs pooled over those files), one row per
 * meta-seed that every column has: the held-out mean at each step; then the mean over those
 * seeds when there are several.
 */
export function metaSeedColumnsTable(read: Read, steps: readonly number[], columns: string[]): string {
  const cols = columns.map((c) => {
    const at = c.lastIndexOf('@');
    const variant = c.slice(0, at);
    const files = c.slice(at + 1).split('+');
    const runs = files.flatMap((f) => {
      const v = read<EvalResults>(f).variants[variant];
      if (!v) throw new Error(`${f}: no variant '${variant}'`);
      return v.loss.map((loss, i) => ({ loss, seed: v.metaSeed[i] ?? null }));
    });
    return { head: `${variant}, ${files.map(base).join(' + ')}`, runs };
  });
  const seeds = [...new Set(cols[0]!.runs.map((q) => q.seed))]
    .filter((s) => cols.every((c) => c.runs.some((q) => q.seed === s)))
    .sort((a, b) => (a ?? -1) - (b ?? -1));
  const means = (c: (typeof cols)[number], s: number | null) => steps.map((st) => stepStats(c.runs.filter((q) => q.seed === s).map((q) => q.loss), st).mean);
  const lines = [`| meta-seed | ${cols.map((c) => c.head).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const s of seeds) lines.push(`| ${s ?? '-'} | ${cols.map((c) => means(c, s).map(fmt).join(' / ')).join(' | ')} |`);
  if (seeds.length > 1) lines.push(`| mean | ${cols.map((c) => steps.map((_, i) => fmt(mean(seeds.map((s) => means(c, s)[i]!)))).join(' / ')).join(' | ')} |`);
  return lines.join('\n');
}

interface Step1Point { constantEta: number; constantEtaLoss: number; perProblemLoss: number }
interface Step1Landscape {
  problems: number;
  split: string;
  problemSeed: number;
  backend: string;
  initialLoss: number;
  noTeleport: Step1Point;
  polyak: { c: number; loss: number }[];
  teleportBefore: (Step1Point & { direction: string; size: number })[];
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x)}`;

/** Mean loss after one gradient step: without a teleport, with Polyak's step size, after each teleport tried. */
export function step1LandscapeTable(read: Read, file: string): string {
  const r = read<Step1Landscape>(file);
  const best = r.polyak.reduce((a, b) => (b.loss < a.loss ? b : a));
  const cs = r.polyak.map((p) => p.c);
  const lines = [
    `${r.problems} problems of the ${r.split} split (problem seed ${r.problemSeed}, ${r.backend}), mean loss before the step ${fmt(r.initialLoss)}`,
    '| before the step (teleport: g = I + s D/\\|D\\|) | one step size for every problem (best on a grid) | mean loss after step 1, that step size | mean loss after step 1, the best step size per problem (a line search) |',
    '|---|---|---|---|',
    `| nothing | ${r.noTeleport.constantEta.toExponential(2)} | ${fmt(r.noTeleport.constantEtaLoss)} | ${fmt(r.noTeleport.perProblemLoss)} |`,
    `| nothing; Polyak-type step size c L / \\|grad\\|^2 (best c of ${cs[0]}-${cs.at(-1)}: ${best.c}) | – | ${fmt(best.loss)} | – |`,
  ];
  for (const t of r.teleportBefore) {
    lines.push(`| teleport along '${t.direction}', s = ${signed(t.size)} | ${t.constantEta.toExponential(2)} | ${fmt(t.constantEtaLoss)} | ${fmt(t.perProblemLoss)} |`);
  }
  return lines.join('\n');
}
