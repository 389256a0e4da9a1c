#!/usr/bin/env node
// Markdown tables of the Table 1 study (r with bootstrap intervals per dataset, metric mode and
// epoch) and of the Figure 4 runs, from the results JSON files in a folder.
// Usage: node scripts/generalization-tables.mjs [dir]   (default docs/generalization/results)
import fs from 'node:fs';
import path from 'node:path';
import { pearson, bootstrapPearson, pairedDifference } from '../dist/generalization/stats.js';
import { stream } from '../dist/rng/index.js';

const dir = process.argv[2] ?? 'docs/generalization/results';
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : String(x));
const sgn = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(4)}` : '—');
const files = fs.readdirSync(dir);
const corr = files.filter((f) => /^correlation-.*-(paper|reference)-epoch\d+\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
if (corr.length) {
  console.log('| dataset | epochs trained | metrics | sharpness φ: r [95% bootstrap] | curvature ψ: r [95% bootstrap] | control: training loss r [95%] | paper φ / ψ | models | mean validation loss |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  corr.sort((a, b) => a.dataset.localeCompare(b.dataset) || b.epoch - a.epoch || b.mode.localeCompare(a.mode));
  for (const r of corr) {
    const v = r.perModel.map((m) => m.validationLoss);
    const mv = v.reduce((a, b) => a + b, 0) / v.length;
    const cell = (k) => `${f3(r.pearson[k])} [${f3(r.ci95[k][0])}, ${f3(r.ci95[k][1])}]`;
    // the control of runCorrelation, recomputed (same seeds) for results written before it existed
    const t = r.perModel.map((m) => m.trainLoss);
    const ctl = r.control?.trainLoss ?? { r: pearson(t, v), ci95: bootstrapPearson(t, v, { rng: stream(r.config.seed, 'correlation', 'bootstrap', 'train-loss'), samples: r.config.bootstrap }) };
    const c = `${f3(ctl.r)} [${f3(ctl.ci95[0])}, ${f3(ctl.ci95[1])}]`;
    console.log(`| ${r.dataset} | ${r.epoch} of ${r.config.epochs} | ${r.mode} | ${cell('sharpness')} | ${cell('curvature')} | ${c} | ${r.paper.sharpness} / ${r.paper.curvature} | ${r.models} | ${mv.toFixed(4)} |`);
  }
}
const fig4 = files.filter((f) => /^teleport-generalization-.*\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
// Paired differences arm − none over the runs of one or more Figure 4 results (each run against
// its own 'none'): the training loss right after the teleport (the action keeps the loss only on
// the teleport batches), the validation loss right after it, one epoch later and at the end.
const DIFF_COLUMNS = [
  (a) => a.jump.map((j) => j.trainAfter),
  (a) => a.jump.map((j) => j.validationAfter),
  (a, cfg) => a.validationLoss.map((v) => v[cfg.teleportEpoch]),
  (a) => a.validationLoss.map((v) => v.at(-1)),
];
const interval = (d) => `${sgn(d.mean)} [${sgn(d.lo)}, ${sgn(d.hi)}]`;
const pairedColumns = (rs, arm) => {
  const pick = (name, f) => rs.flatMap((r) => f(r.arms.find((a) => a.arm === name), r.config));
  return DIFF_COLUMNS.map((f) => interval(pairedDifference(pick(arm, f), pick('none', f))));
};
for (const r of fig4) {
  const c = r.config;
  console.log(`\n${c.dataset.name} ${r.dims.join('-')}, ${c.dataset.trainSize} training samples, teleport after epoch ${c.teleportEpoch} of ${c.epochs}, ${c.teleport.batches} batches of ${c.teleport.batchSize}, ${c.runs} runs`);
  console.log('| arm | objective before → after (φ; ψ arms: κ, mean over the steps taken) | moved the asked way (φ: runs; κ: steps) | steps skipped | training loss at teleport − none [95% t] | validation at teleport − none [95% t] | one epoch later | final validation − none [95% t] | final validation (mean ± std) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const a of r.arms) {
    const steps = a.jump.flatMap((j) => j.curveSteps ?? []);
    const taken = steps.filter((s) => !s.skipped);
    const m = (f) => taken.reduce((x, s) => x + f(s), 0) / taken.length;
    const up = a.arm.endsWith('up');
    const moved = (before, after) => (up ? after > before : after < before);
    // the curve mode's steps each move their own curve's κ; the ascent mode's objective is per run
    const perRun = a.jump.filter((j) => Number.isFinite(j.objectiveBefore) && !j.curveSteps);
    const mj = (f) => perRun.reduce((x, j) => x + f(j), 0) / perRun.length;
    const kap = taken.length
      ? `${m((s) => s.kappaBefore).toPrecision(4)} → ${m((s) => s.kappaAfter).toPrecision(4)}`
      : perRun.length ? `${mj((j) => j.objectiveBefore).toPrecision(4)} → ${mj((j) => j.objectiveAfter).toPrecision(4)}` : '—';
    const way = taken.length
      ? `${taken.filter((s) => moved(s.kappaBefore, s.kappaAfter)).length} of ${taken.length}`
      : perRun.length ? `${perRun.filter((j) => moved(j.objectiveBefore, j.objectiveAfter)).length} of ${perRun.length} runs` : '—';
    const diffs = a.arm !== 'none' && r.arms.some((x) => x.arm === 'none') ? pairedColumns([r], a.arm) : DIFF_COLUMNS.map(() => '—');
    console.log(`| ${a.arm} | ${kap} | ${way} | ${steps.length ? `${steps.length - taken.length} of ${steps.length}` : '—'} | ${diffs.join(' | ')} | ${a.finalValidation.mean.toFixed(4)} ± ${a.finalValidation.std.toFixed(4)} |`);
  }
}

// Figure 4 runs that differ only in the seed, pooled: each run's paired difference to its own
// 'none' arm, over every seed's runs
const groups = new Map();
for (const r of fig4) {
  const { seed: _s, out: _o, ...rest } = r.config;
  const key = JSON.stringify(rest);
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
for (const rs of groups.values()) {
  if (rs.length < 2) continue;
  rs.sort((a, b) => a.config.seed - b.config.seed);
  const c = rs[0].config;
  const seeds = rs.map((r) => r.config.seed);
  const n = rs.reduce((x, r) => x + r.config.runs, 0);
  console.log(`\n${c.dataset.name} ${rs[0].dims.join('-')}, ψ ${c.teleport.curvatureMode} mode, seeds ${seeds.join(', ')} pooled: ${n} paired runs`);
  console.log('| arm | training loss at teleport − none [95% t] | validation at teleport − none [95% t] | one epoch later | final validation − none [95% t] |');
  console.log('|---|---|---|---|---|');
  for (const arm of rs[0].arms.map((a) => a.arm).filter((a) => a !== 'none')) console.log(`| ${arm} | ${pairedColumns(rs, arm).join(' | ')} |`);
}
