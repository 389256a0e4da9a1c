/**
 * Report of optimizers-mnist: per optimizer, the paired difference of each arm's loss to the
 * 'none' arm (same model ids) with a 95% t-interval over the runs, at chosen epochs and at
 * matched wall-clock time; the verdicts; the teleports' gradient-norm gain and loss drift;
 * plots against epochs (Fig. 5) and seconds (Fig. 13).
 */
import path from 'node:path';
import { savePlot, type Series } from '../../report/plot.js';
import { writeFileAtomic, writeJsonAtomic } from '../../run/atomic.js';
import { bandSeries, markdownTable, stats } from './report.js';
import { slug } from '../../run/slug.js';
import { tInterval, type Interval } from '../../report/intervals.js';
import type { Arm } from './config.js';
import { optimizerLabel, type ArmResult, type MnistResults, type OptimizerResult, type RunRecord } from './mnist.js';

export type Verdict = 'helps' | 'hurts' | 'no effect at this power';

/** Lower loss is better: an interval below 0 helps, above 0 hurts. */
export function verdict(i: Interval): Verdict {
  if (i.hi < 0) return 'helps';
  if (i.lo > 0) return 'hurts';
  return 'no effect at this power';
}

type LossKey = 'trainLoss' | 'testLoss';

/** Paired differences a - b of a loss at epoch e (1-based), matched by model id. */
export function pairedDiffs(a: readonly RunRecord[], b: readonly RunRecord[], key: LossKey, e: number): number[] {
  return a.flatMap((r) => {
    const q = b.find((s) => s.model === r.model);
    return q ? [(r[key][e - 1] ?? NaN) - (q[key][e - 1] ?? NaN)] : [];
  });
}

/** Seconds since the start of the run at the end of each epoch, its teleports' time charged to `teleportEpoch`. */
export function runClock(r: RunRecord, teleportEpoch: number): number[] {
  let t = 0;
  return r.epochSeconds.map((s, i) => (t += s + (i === teleportEpoch ? r.teleportSeconds : 0)));
}

/** Linear interpolation of (xs, ys) at x; NaN outside [xs[0], xs[last]]. */
export function interpolate(xs: readonly number[], ys: readonly number[], x: number): number {
  if (!xs.length || x < xs[0]! || x > xs[xs.length - 1]!) return NaN;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) {
      const w = (x - xs[i - 1]!) / (xs[i]! - xs[i - 1]! || 1);
      return ys[i - 1]! + w * (ys[i]! - ys[i - 1]!);
    }
  }
  return ys[0]!;
}

/** Time-matched paired differences: a's loss at the time b reached the end of epoch e. */
export function timeMatchedDiffs(a: readonly RunRecord[], b: readonly RunRecord[], key: LossKey, e: number, teleportEpoch: number): number[] {
  return a.flatMap((r) => {
    const q = b.find((s) => s.model === r.model);
    if (!q) return [];
    const t = runClock(q, teleportEpoch)[e - 1];
    return t === undefined ? [NaN] : [interpolate(runClock(r, teleportEpoch), r[key], t) - (q[key][e - 1] ?? NaN)];
  });
}

/** The comparisons reported: every arm against none, and the teleport against its controls. */
export function comparisons(arms: readonly Arm[]): Array<[Arm, Arm]> {
  const out: Array<[Arm, Arm]> = [];
  if (arms.includes('none')) for (const a of arms) if (a !== 'none') out.push([a, 'none']);
  if (arms.includes('teleport-reset')) for (const c of ['reset', 'random'] as const) if (arms.includes(c)) out.push(['teleport-reset', c]);
  return out;
}

export interface ComparisonRow {
  a: Arm;
  b: Arm;
  key: LossKey;
  /** By 1-based epoch. */
  epochs: Record<number, Interval & { verdict: Verdict }>;
  /** a at the time b reached the epoch's end, minus b (teleport seconds charged to a). */
  timeMatched: Record<number, Interval & { verdict: Verdict }>;
}

export interface TeleportSummary {
  arm: Arm;
  /** ||grad||^2 after / before on the teleport batch, mean and range over teleports. */
  gradNormRatio: { mean: number; min: number; max: number };
  /** loss after - before on the teleport batch. */
  lossDrift: { mean: number; min: number; max: number };
  /** ||g - I||_F summed over layers. */
  distance: { mean: number; min: number; max: number };
  /** Seconds per run for all its teleports. */
  secondsPerRun: number;
  count: number;
}

export interface OptimizerSummary {
  optimizer: string;
  epochsReached: number;
  runs: number;
  tableEpochs: number[];
  comparisons: ComparisonRow[];
  teleports: TeleportSummary[];
  /** Seconds of a training epoch per run (amortised over the lockstep). */
  epochSeconds: number;
}

const range = (v: number[]) => {
  const f = v.filter(Number.isFinite);
  return { mean: stats(f).mean, min: Math.min(...f), max: Math.max(...f) };
};

export function tableEpochs(cfgEpochs: readonly number[], reached: number): number[] {
  return [...new Set([...cfgEpochs.filter((e) => e < reached), reached])].filter((e) => e >= 1).sort((x, y) => x - y);
}

export function summarizeOptimizer(r: OptimizerResult, cfgEpochs: readonly number[]): OptimizerSummary {
  const arm = (a: Arm) => r.arms.find((x) => x.arm === a)!;
  const epochs = tableEpochs(cfgEpochs, r.epochs);
  const rows: ComparisonRow[] = [];
  for (const [a, b] of comparisons(r.arms.map((x) => x.arm))) {
    for (const key of ['trainLoss', 'testLoss'] as const) {
      const te = r.teleport.epoch;
      const at = (f: (x: RunRecord[], y: RunRecord[], e: number) => number[]) =>
        Object.fromEntries(
          epochs.map((e) => {
            const i = tInterval(f(arm(a).runs, arm(b).runs, e));
            return [e, { ...i, verdict: verdict(i) }];
          }),
        );
      rows.push({ a, b, key, epochs: at((x, y, e) => pairedDiffs(x, y, key, e)), timeMatched: at((x, y, e) => timeMatchedDiffs(x, y, key, e, te)) });
    }
  }
  const teleports = r.arms
    .filter((x) => x.runs.some((q) => q.teleports.length))
    .map((x) => {
      const ev = x.runs.flatMap((q) => q.teleports);
      return {
        arm: x.arm,
        gradNormRatio: range(ev.map((e) => e.objectiveAfter / e.objectiveBefore)),
        lossDrift: range(ev.map((e) => e.lossAfter - e.lossBefore)),
        distance: range(ev.map((e) => e.distanceFromIdentity.reduce((s, d) => s + d, 0))),
        secondsPerRun: stats(x.runs.map((q) => q.teleportSeconds)).mean,
        count: ev.length,
      };
    });
  const epochSeconds = stats(r.arms.flatMap((x) => x.runs.flatMap((q) => q.epochSeconds))).mean;
  return { optimizer: optimizerLabel(r.optimizer), epochsReached: r.epochs, runs: r.arms[0]?.runs.length ?? 0, tableEpochs: epochs, comparisons: rows, teleports, epochSeconds };
}

const fmt = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e3 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : v.toFixed(4)) : '–');
const cell = (i: Interval) => `${fmt(i.mean)} [${fmt(i.lo)}, ${fmt(i.hi)}]`;

/** Markdown of one optimizer: the paired tables, the teleports, the verdicts. */
export function optimizerMarkdown(s: OptimizerSummary, dataset: string): string {
  const lines: string[] = [`### ${s.optimizer} (${dataset}; ${s.runs} paired runs, ${s.epochsReached} epochs reached)`, ''];
  for (const key of ['trainLoss', 'testLoss'] as const) {
    const name = key === 'trainLoss' ? 'train loss (mean mini-batch loss of the epoch)' : 'test loss (after the epoch)';
    lines.push(`Paired difference of the ${name}, mean [95% t-interval]; negative = lower loss than the second arm:`, '');
    const rows = s.comparisons.filter((c) => c.key === key).map((c) => [`${c.a} − ${c.b}`, ...s.tableEpochs.map((e) => cell(c.epochs[e]!))]);
    lines.push(markdownTable(['arms', ...s.tableEpochs.map((e) => `epoch ${e}`)], rows), '');
  }
  const tm = s.comparisons.filter((c) => c.key === 'trainLoss' && c.b === 'none');
  if (tm.length) {
    lines.push('Against seconds: train loss of the arm at the time the none arm ended the epoch, minus none\'s (teleport time charged to the arm):', '');
    lines.push(markdownTable(['arms', ...s.tableEpochs.map((e) => `epoch ${e} time`)], tm.map((c) => [`${c.a} − ${c.b}`, ...s.tableEpochs.map((e) => cell(c.timeMatched[e]!))])), '');
  }
  if (s.teleports.length) {
    lines.push(`Per teleport (on its batch of the training data): ||grad||² after/before, loss after − before, Σ‖g−I‖_F; seconds per run for all its teleports (an epoch: ${fmt(s.epochSeconds)} s per run, amortised):`, '');
    const r3 = (x: { mean: number; min: number; max: number }) => `${fmt(x.mean)} (${fmt(x.min)} … ${fmt(x.max)})`;
    lines.push(
      markdownTable(
        ['arm', 'teleports', '‖grad‖² ratio', 'loss drift', 'Σ‖g−I‖', 's per run'],
        s.teleports.map((t) => [t.arm, String(t.count), r3(t.gradNormRatio), r3(t.lossDrift), r3(t.distance), fmt(t.secondsPerRun)]),
      ),
      '',
    );
  }
  lines.push(...verdictLines(s), '');
  return lines.join('\n');
}

/** Plain-language verdicts: the reference arm against none, and whether the reset explains it. */
export function verdictLines(s: OptimizerSummary): string[] {
  const find = (a: Arm, b: Arm) => s.comparisons.find((c) => c.a === a && c.b === b && c.key === 'trainLoss');
  const out: string[] = [];
  for (const a of ['teleport-reset', 'teleport'] as const) {
    const c = find(a, 'none');
    if (!c) continue;
    out.push(`- ${a} vs none (train loss): ${s.tableEpochs.map((e) => `epoch ${e}: ${c.epochs[e]!.verdict}`).join('; ')}.`);
  }
  const reset = find('reset', 'none');
  const tr = find('teleport-reset', 'reset');
  if (reset && tr) {
    out.push(
      `- reset alone vs none: ${s.tableEpochs.map((e) => `epoch ${e}: ${reset.epochs[e]!.verdict}`).join('; ')}; ` +
        `teleport-reset vs reset: ${s.tableEpochs.map((e) => `epoch ${e}: ${tr.epochs[e]!.verdict}`).join('; ')}.`,
    );
  }
  const rnd = find('teleport-reset', 'random');
  if (rnd) out.push(`- teleport-reset vs random (same ‖g−I‖, reset): ${s.tableEpochs.map((e) => `epoch ${e}: ${rnd.epochs[e]!.verdict}`).join('; ')}.`);
  return out;
}

/** Mean ± std over runs of every arm, train solid and test dashed, against x. */
function lossSeries(arms: readonly ArmResult[], x: (r: RunRecord) => number[]): Series[] {
  return arms.flatMap((a) => {
    const xs = a.runs.map(x);
    const mx = (xs[0] ?? []).map((_, i) => stats(xs.map((q) => q[i] ?? NaN)).mean);
    return [bandSeries(`${a.arm}, train`, mx, a.runs.map((r) => r.trainLoss), { unit: 'runs' }), bandSeries(`${a.arm}, test`, mx, a.runs.map((r) => r.testLoss), { dashed: true, unit: 'runs' })];
  });
}

/** The paired train-loss difference to none of every arm, with its 95% interval, against epochs. */
function diffSeries(r: OptimizerResult): Series[] {
  const none = r.arms.find((a) => a.arm === 'none');
  if (!none) return [];
  const epochs = Array.from({ length: r.epochs }, (_, i) => i + 1);
  return r.arms
    .filter((a) => a.arm !== 'none')
    .map((a) => {
      const is = epochs.map((e) => tInterval(pairedDiffs(a.runs, none.runs, 'trainLoss', e)));
      return { name: `${a.arm} − none`, x: epochs, y: is.map((i) => i.mean), lo: is.map((i) => i.lo), hi: is.map((i) => i.hi) };
    });
}

export interface MnistSummary {
  dataset: string;
  config: MnistResults['config'];
  optimizers: OptimizerSummary[];
}

export function mnistSummary(res: MnistResults): MnistSummary {
  return { dataset: res.config.data.name, config: res.config, optimizers: res.optimizers.map((o) => summarizeOptimizer(o, res.config.tableEpochs)) };
}

export function mnistMarkdown(s: MnistSummary): string {
  const c = s.config;
  return [
    `## ${s.dataset}: ${c.data.trainSize} training samples, batch ${c.batchSize}, ${c.runs} paired runs, up to ${c.epochs} epochs`,
    '',
    ...s.optimizers.map((o) => optimizerMarkdown(o, s.dataset)),
  ].join('\n');
}

/** results.json, summary.json, summary.md and per optimizer the Fig. 5 / Fig. 13 plots and the paired-difference plot. */
export async function writeMnistReport(res: MnistResults, out: string): Promise<string[]> {
  const files: string[] = [];
  const ds = res.config.data.name;
  for (const r of res.optimizers) {
    const name = `${slug(ds)}-${slug(optimizerLabel(r.optimizer))}`;
    const title = `${optimizerLabel(r.optimizer)} on ${ds} (mean ± std, ${r.arms[0]?.runs.length ?? 0} runs)`;
    files.push(...(await savePlot(path.join(out, `fig5-${name}`), { title, xLabel: 'epoch', yLabel: 'loss', series: lossSeries(r.arms, (q) => q.trainLoss.map((_, i) => i + 1)) })));
    files.push(...(await savePlot(path.join(out, `fig13-${name}`), { title, xLabel: 'seconds per run', yLabel: 'loss', series: lossSeries(r.arms, (q) => runClock(q, r.teleport.epoch)) })));
    const diffs = diffSeries(r);
    if (diffs.length) {
      const t = `${optimizerLabel(r.optimizer)} on ${ds}: train loss, arm − none (paired, 95% t-interval)`;
      files.push(...(await savePlot(path.join(out, `diff-${name}`), { title: t, xLabel: 'epoch', yLabel: 'Δ train loss', series: diffs })));
    }
  }
  const summary = mnistSummary(res);
  writeFileAtomic(path.join(out, 'summary.md'), mnistMarkdown(summary) + '\n');
  writeJsonAtomic(path.join(out, 'summary.json'), { dataset: summary.dataset, optimizers: summary.optimizers });
  writeJsonAtomic(path.join(out, 'results.json'), res);
  files.push(path.join(out, 'summary.md'), path.join(out, 'summary.json'), path.join(out, 'results.json'));
  return files;
}
