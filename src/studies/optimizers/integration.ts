/**
 * Integrating teleportation with momentum and AdaGrad (paper Appendix G.1, Figure 12):
 * full-batch training of a small regression MLP, one teleport at a fixed epoch, compared
 * across what happens to the optimizer state (momentum panel) and across teleport objectives
 * (AdaGrad panel), each against no teleport. Every variant of a repeat starts from the same
 * weights and data.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { optimizer, withTeleport, stepWithTeleport, disposeTeleportingState, type TeleportEvent, type TeleportPolicy } from '../../optim/index.js';
import { teleportOptions } from '../../teleport/config.js';
import { mlpLoss } from '../../nn/mlp.js';
import { stream } from '../../rng/index.js';
import { createSummaryWriter } from '../../logging/index.js';
import { savePlot, divergedIn, divergenceSteps } from '../../report/plot.js';
import type { IntegrationConfig, IntegrationPanel, IntegrationVariant } from './config.js';
import { writeReport, bandSeries, markdownTable, meanStdCell } from './report.js';
import { slug } from '../../run/slug.js';

export interface Problem {
  ws: tf.Tensor2D[];
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

/** Weights, X and Y of a repeat, entries uniform in [0, 1) (Appendix G.1). */
export function sampleProblem(dims: readonly number[], samples: number, seed: number, repeat: number): Problem {
  const r = stream(seed, 'integration', repeat);
  const ws = dims.slice(0, -1).map((d, i) => tf.tensor2d(r.uniformArray(dims[i + 1]! * d), [dims[i + 1]!, d]));
  const x = tf.tensor2d(r.uniformArray(dims[0]! * samples), [dims[0]!, samples]);
  const y = tf.tensor2d(r.uniformArray(dims[dims.length - 1]! * samples), [dims[dims.length - 1]!, samples]);
  return { ws, x, y };
}

export const disposeProblem = (p: Problem) => tf.dispose([...p.ws, p.x, p.y]);

export interface VariantRun {
  /** Loss at the point where each epoch's gradient was taken (after a teleport), then the final loss: epochs + 1 values. */
  loss: number[];
  teleport?: TeleportEvent;
  diverged: boolean;
  error?: string;
}

type RunSettings = Pick<IntegrationConfig, 'epochs' | 'teleportAt' | 'slope' | 'seed'>;

/** The teleport policy of a variant (no teleport: an empty schedule). */
function policyOf(variant: IntegrationVariant, p: Problem, s: RunSettings, repeat: number): TeleportPolicy {
  const settings = variant.teleport;
  const rng = stream(s.seed, 'integration', repeat, 'teleport');
  return {
    at: settings ? [s.teleportAt] : [],
    data: () => [{ x: p.x, target: p.y }],
    teleport: settings ? teleportOptions(settings, { loss: 'mse', slope: s.slope, rng }) : { objective: 'gradNorm', steps: 0, lr: 1 },
    state: variant.state,
  };
}

/**
 * Train one variant on a problem (inputs untouched). A run diverges when the teleport fails,
 * a loss is not finite, or the final loss is above the loss at the teleport.
 */
export function runVariant(p: Problem, optConfig: IntegrationPanel['optimizer'], variant: IntegrationVariant, s: RunSettings, repeat: number): VariantRun {
  const opt = withTeleport(optimizer(optConfig), policyOf(variant, p, s, repeat));
  const mlp = { loss: 'mse' as const, slope: s.slope };
  let params: tf.Tensor[] = p.ws.map((w) => tf.clone(w));
  let state = opt.init(params);
  const loss: number[] = [];
  let teleport: TeleportEvent | undefined;
  let error: string | undefined;
  // the loss is recorded where the gradient is taken: after a teleport, at the teleported point
  const gradients = (w: tf.Tensor[]) =>
    tf.tidy(() => {
      const r = tf.valueAndGrads((...v: tf.Tensor[]) => mlpLoss(v, p.x, p.y, mlp))(w);
      loss.push(r.value.dataSync()[0]!);
      return r.grads;
    });
  try {
    for (let e = 0; e < s.epochs; e++) {
      const r = stepWithTeleport(opt, params, state, gradients);
      ({ params, state } = r);
      if (r.event) teleport = r.event;
      if (!Number.isFinite(loss[loss.length - 1]!)) break;
    }
    if (loss.length === s.epochs) loss.push(tf.tidy(() => mlpLoss(params, p.x, p.y, mlp).dataSync()[0]!));
  } catch (e) {
    error = (e as Error).message;
  }
  tf.dispose(params);
  disposeTeleportingState(state);
  while (loss.length < s.epochs + 1) loss.push(NaN);
  const atTeleport = loss[Math.min(s.teleportAt, s.epochs)]!;
  const diverged = error !== undefined || !loss.every(Number.isFinite) || (variant.teleport !== undefined && loss[s.epochs]! > atTeleport);
  return { loss, teleport, diverged, error };
}

// ---------------------------------------------------------------------------------------------
// The largest group learning rate that does not diverge, on a grid of two significant figures.

/** Grid index <-> value m·10^e, m in 1.0, 1.1, ..., 9.9. */
const GRID_PER_DECADE = 90;
const toValue = (i: number) => {
  const e = Math.floor(i / GRID_PER_DECADE);
  const m = 1 + (i - e * GRID_PER_DECADE) / 10;
  return Number((m * 10 ** e).toPrecision(2));
};
const toIndex = (v: number) => {
  const e = Math.floor(Math.log10(v) + 1e-12);
  return e * GRID_PER_DECADE + Math.round((v / 10 ** e - 1) * 10);
};

/**
 * The largest value with two significant figures for which `stable` holds, assuming stability
 * is monotone in the value: decades up or down from `start` to bracket, then bisection on the
 * grid. Returns undefined when nothing down to `min` is stable.
 */
export function largestStable(stable: (v: number) => boolean, start: number, opts: { min?: number; max?: number } = {}): number | undefined {
  const lo0 = toIndex(opts.min ?? 1e-12);
  const hi0 = toIndex(opts.max ?? 1e3);
  let i = toIndex(start);
  let lo: number; // stable
  let hi: number; // unstable
  if (stable(toValue(i))) {
    lo = i;
    while (lo + GRID_PER_DECADE <= hi0 && stable(toValue(lo + GRID_PER_DECADE))) lo += GRID_PER_DECADE;
    hi = lo + GRID_PER_DECADE;
    if (hi > hi0) return toValue(lo);
  } else {
    hi = i;
    do {
      i -= GRID_PER_DECADE;
      if (i < lo0) return undefined;
    } while (!stable(toValue(i)));
    lo = i;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (stable(toValue(mid))) lo = mid;
    else hi = mid;
  }
  return toValue(lo);
}

// ---------------------------------------------------------------------------------------------
// The experiment.

export interface VariantResult {
  label: string;
  teleport?: IntegrationVariant['teleport'];
  state: IntegrationVariant['state'];
  runs: VariantRun[];
  /** Group-lr search (tuneGroupLr): the configured lr, whether a repeat diverged with it, the largest stable lr. */
  groupLr?: { configured: number; configuredDiverged: boolean; largestStable?: number };
}

export interface IntegrationResults {
  config: IntegrationConfig;
  panels: { name: string; optimizer: IntegrationPanel['optimizer']; variants: VariantResult[] }[];
}

const withLr = (v: IntegrationVariant, lr: number): IntegrationVariant => ({ ...v, teleport: { ...v.teleport!, lr } });

/** Run every variant of every panel on `repeats` problems; logs one TensorBoard run per panel × variant × repeat. */
export function runIntegration(cfg: IntegrationConfig, log: (s: string) => void = () => {}): IntegrationResults {
  const problems = Array.from({ length: cfg.repeats }, (_, r) => sampleProblem(cfg.dims, cfg.samples, cfg.seed, r));
  const runAll = (panel: IntegrationPanel, v: IntegrationVariant) => problems.map((p, r) => runVariant(p, panel.optimizer, v, cfg, r));
  try {
    const panels = cfg.panels.map((panel) => {
      const variants: VariantResult[] = [];
      for (const v of panel.variants) {
        const runs = runAll(panel, v);
        const res: VariantResult = { label: v.label, teleport: v.teleport, state: v.state, runs };
        variants.push(res);
        log(`${panel.name} / ${v.label}: final loss ${meanStdCell(runs.map((q) => q.loss[cfg.epochs]!))}${divergedNote(runs, ' (', ')')}`);
        if (cfg.tuneGroupLr && v.teleport) {
          const configuredDiverged = runs.some((q) => q.diverged);
          const largest = largestStable((lr) => runAll(panel, withLr(v, lr)).every((q) => !q.diverged), v.teleport.lr);
          res.groupLr = { configured: v.teleport.lr, configuredDiverged, largestStable: largest };
          log(`  group lr ${v.teleport.lr}${configuredDiverged ? ' diverges' : ' is stable'}; largest stable (2 s.f.): ${largest ?? 'none'}`);
          if (configuredDiverged && largest !== undefined) {
            const tuned = withLr(v, largest);
            variants.push({ label: `${v.label} (group lr ${largest})`, teleport: tuned.teleport, state: v.state, runs: runAll(panel, tuned) });
          }
        }
      }
      return { name: panel.name, optimizer: panel.optimizer, variants };
    });
    return { config: cfg, panels };
  } finally {
    problems.forEach(disposeProblem);
  }
}

/**
 * "diverged in all 5 repeats (non-finite from epoch 6)" / "diverged in 2 of 5 repeats" (wrapped
 * in `pre`/`post`), or "" when none diverged. Diverged: see runVariant.
 */
export function divergedNote(runs: readonly VariantRun[], pre = '', post = ''): string {
  const note = divergedIn(runs.filter((q) => q.diverged).length, runs.length);
  const stops = divergenceSteps(runs.map((q) => q.loss));
  return note ? `${pre}${note}${stops.length ? ` (non-finite from epoch ${stops.join(', ')})` : ''}${post}` : '';
}

/** The summary table: loss right after the teleport epoch, a few epochs later, and at the end. */
export function integrationSummary(res: IntegrationResults): string {
  const { epochs, teleportAt } = res.config;
  const cols = [...new Set([Math.min(teleportAt + 1, epochs), Math.min(teleportAt + 5, epochs), Math.min(2 * teleportAt + 10, epochs), epochs])];
  return res.panels
    .map((panel) => {
      const rows = panel.variants.map((v) => [
        v.label,
        ...cols.map((c) => meanStdCell(v.runs.map((q) => q.loss[c]!))),
        v.teleport ? meanStdCell(v.runs.map((q) => q.teleport?.seconds ?? NaN)) : '-',
        divergedNote(v.runs) || 'none',
      ]);
      const lrs = panel.variants
        .filter((v) => v.groupLr)
        .map((v) => `- ${v.label}: group lr ${v.groupLr!.configured} ${v.groupLr!.configuredDiverged ? 'diverges' : 'is stable'}; largest stable (2 s.f.) ${v.groupLr!.largestStable ?? 'none found'}`);
      return [
        `### ${panel.name} (${panel.optimizer.name}, lr ${panel.optimizer.lr}; loss, mean ± std over ${res.config.repeats} repeats)`,
        '',
        markdownTable(['variant', ...cols.map((c) => `epoch ${c}`), 'teleport s', 'diverged'], rows),
        ...(lrs.length ? ['', ...lrs] : []),
      ].join('\n');
    })
    .join('\n\n');
}

/** results.json, summary.md, one plot per panel, TensorBoard runs. Returns the files written. */
export async function writeIntegrationReport(res: IntegrationResults, out: string): Promise<string[]> {
  const files: string[] = [];
  const x = Array.from({ length: res.config.epochs + 1 }, (_, i) => i);
  for (const panel of res.panels) {
    const series = panel.variants.map((v) =>
      bandSeries(v.label, x, v.runs.map((q) => q.loss), { xName: 'epoch', diverged: v.runs.filter((q) => q.diverged).length }),
    );
    files.push(
      ...(await savePlot(path.join(out, `fig12-${slug(panel.name)}`), {
        title: `${panel.name}: teleport at epoch ${res.config.teleportAt} (mean ± std, ${res.config.repeats} repeats)`,
        xLabel: 'epoch',
        yLabel: 'loss',
        series,
        logY: true,
        subtitle: 'line: mean over the repeats still finite; band: ± std; ×: where a repeat stopped being finite',
        linearTail: { from: Math.floor(res.config.epochs / 2) },
      })),
    );
    for (const v of panel.variants) {
      v.runs.forEach((q, r) => {
        const tb = createSummaryWriter(path.join(out, 'tb', slug(panel.name), slug(v.label), `repeat${r}`));
        q.loss.forEach((l, e) => Number.isFinite(l) && tb.scalar('loss', l, e));
        if (q.teleport) {
          tb.scalar('teleport/objective_before', q.teleport.objectiveBefore, q.teleport.atStep);
          tb.scalar('teleport/objective_after', q.teleport.objectiveAfter, q.teleport.atStep);
          tb.scalar('teleport/seconds', q.teleport.seconds, q.teleport.atStep);
        }
        tb.close();
      });
    }
  }
  files.push(...writeReport(out, integrationSummary(res), res), path.join(out, 'tb'));
  return files;
}
