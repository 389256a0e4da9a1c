// The held-out tables of docs/results/transfer.md from a meta-transfer result file
// (docs/meta-transfer/results*.json): per evaluation task, the tuned baselines (when the file
// has them) and each learned variant over its meta-seeds, at the config's table steps.
import fs from 'node:fs';
import path from 'node:path';

interface Heldout { meanLoss: (number | null)[]; diverged: number }
interface TransferResults {
  config: { eval: { heldoutTrajectories: number; tableSteps: number[]; tasks: { label: string; trajectories?: number }[] } };
  baselines?: { optimizer: string; task: string; lr: number; heldout: Heldout }[];
  learned: { variant: string; metaSeed: number; heldout: Record<string, Heldout> }[];
}

const g3 = (x: number) => (x !== 0 && Math.abs(x) < 0.01 ? x.toExponential(2) : x.toPrecision(3));
const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1). */
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

/** mean ± sd over the seeds when every seed stayed finite; otherwise each seed's value. */
const seedsCell = (xs: (number | null | undefined)[]) => (xs.every(finite) ? `${g3(mean(xs))} ± ${g3(sd(xs))}` : xs.map((x) => (finite(x) ? g3(x) : 'diverged')).join(' / '));

/** `learnedOnly`: leave out the baselines (a table that shares them with one above). */
export function transferTable(root: string, file: string, learnedOnly = false): string {
  const r = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as TransferResults;
  const steps = r.config.eval.tableSteps;
  const lines = [`| task | optimizer | ${steps.map((s) => `step ${s}`).join(' | ')} | diverged |`, `| --- | --- | ${steps.map(() => '---').join(' | ')} | --- |`];
  for (const t of r.config.eval.tasks) {
    const n = t.trajectories ?? r.config.eval.heldoutTrajectories;
    for (const b of (learnedOnly ? [] : r.baselines ?? []).filter((x) => x.task === t.label)) {
      lines.push(`| ${t.label} | ${b.optimizer} (lr ${b.lr}) | ${steps.map((s) => (finite(b.heldout.meanLoss[s]) ? g3(b.heldout.meanLoss[s] as number) : 'diverged')).join(' | ')} | ${b.heldout.diverged}/${n} |`);
    }
    for (const v of [...new Set(r.learned.map((l) => l.variant))]) {
      const runs = r.learned.filter((l) => l.variant === v).sort((a, b) => a.metaSeed - b.metaSeed).map((l) => l.heldout[t.label]!);
      lines.push(`| ${t.label} | ${v} (${runs.length} seeds) | ${steps.map((s) => seedsCell(runs.map((h) => h.meanLoss[s]))).join(' | ')} | ${runs.map((h) => h.diverged).join('+')}/${n} |`);
    }
  }
  return lines.join('\n');
}

/**
 * At one step, per evaluation task: the tuned baseline with the lowest held-out mean, and each
 * learned variant over its meta-seeds (bold where every seed is below that baseline).
 */
export function transferBestTable(root: string, file: string, step: number): string {
  const r = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as TransferResults;
  const variants = [...new Set(r.learned.map((l) => l.variant))];
  const lines = [`| task | best tuned baseline at step ${step} | ${variants.join(' | ')} |`, `|---|---|${variants.map(() => '---').join('|')}|`];
  for (const t of r.config.eval.tasks) {
    const at = (h: Heldout) => h.meanLoss[step];
    const best = (r.baselines ?? []).filter((b) => b.task === t.label && finite(at(b.heldout))).reduce<NonNullable<TransferResults['baselines']>[number] | undefined>((a, b) => (!a || (at(b.heldout) as number) < (at(a.heldout) as number) ? b : a), undefined);
    const bestLoss = best ? (at(best.heldout) as number) : Infinity;
    const cells = variants.map((v) => {
      const xs = r.learned.filter((l) => l.variant === v).sort((a, b) => a.metaSeed - b.metaSeed).map((l) => at(l.heldout[t.label]!));
      const c = seedsCell(xs);
      return xs.every((x) => finite(x) && x < bestLoss) ? `**${c}**` : c;
    });
    lines.push(`| ${t.label} | ${best ? `${best.optimizer} (lr ${best.lr}) ${g3(bestLoss)}` : '–'} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
