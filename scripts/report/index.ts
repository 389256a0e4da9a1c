// `npm run report`: regenerate every generated block of README.md and docs/**/*.md from the
// result files committed under docs/. A block is
//
//   <!-- report:KIND ARG -->
//   ...generated...
//   <!-- /report -->
//
// and only its inside is rewritten; KIND names a generator below and ARG (a repository path) its
// input. `npm run report -- --check` writes nothing and exits 1 when a document would change
// or cites a file that is not committed (test/report/results-docs.test.ts runs the same checks).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { summaryTable, perSeedTable, bestVsOthersTable, pairedAtStep, stepStats, type EvalResults } from '../../src/meta/report.js';
import { mnistSummary, mnistMarkdown, summarizeOptimizer, type OptimizerSummary } from '../../src/studies/optimizers/mnist-report.js';
import type { MnistResults } from '../../src/studies/optimizers/mnist.js';
import { integrationSummary, type IntegrationResults } from '../../src/studies/optimizers/integration.js';
import { meanStdCell } from '../../src/studies/optimizers/report.js';
import type { Interval } from '../../src/report/intervals.js';
import { correlationResults, correlationTable, fig4Results, fig4PooledTables } from './generalization.js';
import { partialPearson } from '../../src/studies/generalization/stats.js';
import { documents, trackedFiles, untrackedCitations } from './cited-files.js';
import { reviveNonFinite } from '../../src/run/tensors.js';
import { fig6StageOneTable, fig6BaselineTable, fig6PairsTable } from './fig6.js';
import { speedFloorsTable, speedByBatchTable, speedTimesTable, switchAbTable } from './speed.js';
import { lockstepTable, sideBySideTable, metaSideBySideTable, threadsTable } from './backends.js';
import { workersRunsTable } from './workers.js';
import { classificationDriftTable, classificationCostsLine } from './classification.js';
import { faultsTable } from './faults.js';
import { transferTable, transferBestTable } from './transfer.js';
import { fig5SideBySide, torchArmsTable, fig5AuthorsTables, fig5ControlTables, fig5BenchTable } from './fig5.js';
import { metaMeansTable, metaSeedColumnsTable, step1LandscapeTable } from './meta.js';
import { kernelsTable, kernelsByKernelLine, benchMetaTable } from './kernels.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A committed JSON result file, gzip-compressed when its name ends in .gz (non-finite numbers kept as strings revived). */
export function readResult<T = unknown>(file: string, root = ROOT): T {
  const buf = fs.readFileSync(path.join(root, file));
  return reviveNonFinite(JSON.parse((file.endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8'))) as T;
}

/** A result file written by Python's json (the PyTorch side of Figure 5): bare NaN / Infinity revived. */
const readPython = <T,>(file: string): T =>
  reviveNonFinite(JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/(-?)\b(NaN|Infinity)\b/g, (_m, sign: string, w: string) => `"${sign}${w}"`))) as T;

const TABLE_STEPS = [1, 10, 30, 100];
/** Figure 6 with equal tuning: the reduced results of its stage 2 (scripts/fig6-equal-tuning.ts). */
const FIG6_FINAL = 'docs/results/fig6-equal-tuning/final.json.gz';

// ---- number formats ------------------------------------------------------------------------
const signed = (x: number, d = 3) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}` : '–');
const excludesZero = (i: Interval) => i.lo > 0 || i.hi < 0;
/** mean [lo, hi], bold when the interval excludes 0. */
const diffCell = (i: Interval, d = 3) => {
  const s = `${signed(i.mean, d)} [${signed(i.lo, d)}, ${signed(i.hi, d)}]`;
  return excludesZero(i) ? `**${s}**` : s;
};
/** diffCell for differences of any size: 3 significant digits past 1e4 (a diverged method's). */
const wideDiffCell = (i: Interval) => {
  if (!Number.isFinite(i.mean)) return '–';
  const v = (x: number) => (!Number.isFinite(x) ? '–' : Math.abs(x) >= 1e4 ? `${x < 0 ? '−' : '+'}${Math.abs(x).toExponential(2)}` : signed(x, 2));
  const s = `${v(i.mean)} [${v(i.lo)}, ${v(i.hi)}]`;
  return excludesZero(i) ? `**${s}**` : s;
};
const g4 = (x: number) => (Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toPrecision(4));

// ---- learning to teleport ------------------------------------------------------------------
/** The three tables a meta run prints (held-out mean ± std, per meta-seed, best against the others). */
function metaSummary(file: string): string {
  const r = readResult<EvalResults>(file);
  return [
    `Held-out loss (mean ± std over runs), ${r.heldout.trajectories} held-out problems (seed ${r.heldout.seed}), ${r.heldout.steps} steps`,
    summaryTable(r, TABLE_STEPS),
    '',
    'Per meta-training seed (mean)',
    perSeedTable(r, TABLE_STEPS),
    '',
    'The best variant per step against the others (paired on the same problems)',
    bestVsOthersTable(r, TABLE_STEPS),
  ].join('\n');
}

// ---- optimizers (Figures 5, 13) ------------------------------------------------------------
const optimizerSummaryOf = (file: string): { dataset: string; runs: number; trainSize: number; s: OptimizerSummary }[] => {
  const res = readResult<MnistResults>(file);
  return res.optimizers.map((o) => ({ dataset: res.config.data.name, runs: res.config.runs, trainSize: res.config.data.trainSize, s: summarizeOptimizer(o, res.config.tableEpochs) }));
};

/** The whole summary of an optimizers-mnist result file (as the run writes summary.md). */
const optimizersSummary = (file: string) => mnistMarkdown(mnistSummary(readResult<MnistResults>(file))).trimEnd();

/** Train loss, paired difference to no teleport and to the controls, per optimizer of a set of result files. */
function optimizersTable(glob: string): string {
  const files = matching(glob);
  const rows = files.flatMap(optimizerSummaryOf).flatMap(({ s }) => {
    const epochs = s.tableEpochs;
    return s.comparisons.filter((c) => c.key === 'trainLoss' && !(c.a === 'random' && c.b === 'none')).map((c) => `| ${s.optimizer} | ${c.a} − ${c.b} | ${epochs.map((e) => diffCell(c.epochs[e]!)).join(' | ')} |`);
  });
  const epochs = optimizerSummaryOf(files[0]!)[0]!.s.tableEpochs;
  return [`| optimizer | arms | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | --- | ${epochs.map(() => '---').join(' | ')} |`, ...rows].join('\n');
}

// ---- generalization (Table 1, Figure 4) ----------------------------------------------------
interface RFile { dataset: string; models: number; pearson: Record<'sharpness' | 'curvature', number>; ci95: Record<'sharpness' | 'curvature', [number, number]> }
/** The paper's Table 1 (MNIST and Fashion-MNIST rows): Pearson r with the validation loss. */
/** The paper-size Table 1 run with per-model values (the initialisation varying, one batch order). */
const TABLE1_DIR = 'docs/generalization/paper-size-init';
const PAPER_TABLE1: Record<string, { sharpness: number; curvature: number }> = { mnist: { sharpness: 0.704, curvature: -0.05 }, 'fashion-mnist': { sharpness: 0.79, curvature: -0.232 } };
const rCell = (r: number, [lo, hi]: [number, number]) => {
  const s = `${signed(r)} [${signed(lo)}, ${signed(hi)}]`;
  return lo > 0 || hi < 0 ? `**${s}**` : s;
};

/** Table 1 from the r-only files of a folder (`<dataset>-r-<paper|reference>.json`). */
function correlationR(dir: string): string {
  const rows: string[] = [];
  for (const ds of ['mnist', 'fashion-mnist']) {
    const of = (mode: string) => readResult<RFile>(`${dir}/${ds}-r-${mode}.json`);
    const p = of('paper');
    const r = of('reference');
    for (const k of ['sharpness', 'curvature'] as const) {
      rows.push(`| ${k === 'sharpness' ? 'sharpness φ' : 'curvature ψ'} | ${ds} | ${p.models} | ${rCell(p.pearson[k], p.ci95[k])} | ${rCell(r.pearson[k], r.ci95[k])} | ${signed(PAPER_TABLE1[ds]![k], 3)} |`);
    }
  }
  return ['| metric | dataset | models | paper definition | reference definition | paper\'s Table 1 |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/** ψ (reference definition) of every committed Table 1 run, side by side: what differs between the runs. */
function psiRuns(): string {
  const runs: [string, string, string, (ds: string) => string][] = [
    ['paper size', '100 × 50,000', 'initialisation (as the reference)', (ds) => `${TABLE1_DIR}/correlation-${ds}-reference-epoch40.json`],
    ['paper size, earlier', '100 × 50,000', 'initialisation and batch order', (ds) => `docs/generalization/paper-size/${ds}-r-reference.json`],
    ['50 models', '50 × 2,000', 'initialisation (as the reference)', (ds) => `docs/generalization/results-50/correlation-${ds}-reference-epoch40.json`],
  ];
  const rows = runs.map(([name, size, varies, file]) => `| ${name} | ${size} | ${varies} | ${['mnist', 'fashion-mnist'].map((ds) => { const r = readResult<RFile>(file(ds)); return rCell(r.pearson.curvature, r.ci95.curvature); }).join(' | ')} |`);
  return ['| run | models × samples | what varies between models | ψ, reference definition: MNIST | Fashion-MNIST |', '|---|---|---|---|---|', ...rows].join('\n');
}

// ---- the README's table of claims ----------------------------------------------------------
const link = (page: string, anchor = '') => `[${page.replace(/^docs\/results\//, '').replace(/\.md$/, '')}](${page}${anchor})`;

function claims(): string {
  const rows: string[] = [];
  // Figure 6 / section 5.2: the equal-tuning comparison (docs/results/figure6-protocol.md)
  const meta = readResult<EvalResults>(FIG6_FINAL);
  const tele = meta.variants['LSTM(update,tele)']!;
  const upd = meta.variants['LSTM(update)']!;
  const seeds = new Set(tele.metaSeed).size;
  const diffs = [10, 100].map((s) => ({ s, d: pairedAtStep(tele, upd, s) }));
  const at = ({ s, d }: (typeof diffs)[number]) =>
    `step ${s}: ${g4(stepStats(tele.loss, s).mean)} vs ${g4(stepStats(upd.loss, s).mean)}, over ${d.seeds.n} meta-seeds ${signed(d.seeds.mean, 2)} [${signed(d.seeds.lo, 2)}, ${signed(d.seeds.hi, 2)}]`;
  const verdict = (d: Interval) => (d.hi < 0 ? 'yes' : d.lo > 0 ? 'no: LSTM(update) is ahead' : 'not significant over meta-seeds');
  rows.push(`| §5.2, Figure 6: a learned teleport (LSTM(update,tele)) converges faster than the learned update alone (LSTM(update)) | step 100: ${verdict(diffs[1]!.d.seeds)}; step 10: ${verdict(diffs[0]!.d.seeds)} (every method tuned with the same budget, fresh seeds; our recipe) | held-out loss, ${meta.heldout.trajectories} problems × ${seeds} meta-seeds; ${diffs.map(at).join('; ')} | ${link('docs/results/figure6-equal-tuning.md')} |`);
  // Figures 5 and 13, MNIST at the paper's size
  const opt = matching('docs/optimizers/paper-size/results-*.json').filter((f) => !f.includes('fashion')).flatMap(optimizerSummaryOf);
  const cmp = (name: string, a: string, b: string) => opt.find((o) => o.s.optimizer.startsWith(name))!.s.comparisons.find((c) => c.key === 'trainLoss' && c.a === a && c.b === b)!;
  const sig = (name: string, a: string, b: string) => {
    const c = cmp(name, a, b);
    const es = Object.keys(c.epochs).map(Number).filter((e) => excludesZero(c.epochs[e]!) && c.epochs[e]!.mean < 0);
    return es.length ? `lower at epoch ${es.join(', ')} of ${Object.keys(c.epochs).join('/')}` : `not significant at epochs ${Object.keys(c.epochs).join('/')}`;
  };
  const m1 = cmp('momentum', 'teleport', 'none').epochs[1]!;
  const o0 = opt[0]!;
  rows.push(`| §5.1, Figure 5: teleporting speeds up momentum, AdaGrad, RMSProp, Adam (MNIST) | partly: an early head start for momentum and Adam; AdaGrad's gain is its state reset | ${o0.trainSize.toLocaleString('en-US')} samples, ${o0.runs} paired runs, train loss teleport − none: momentum ${sig('momentum', 'teleport', 'none')} (epoch 1: ${signed(m1.mean)} [${signed(m1.lo)}, ${signed(m1.hi)}]); Adam ${sig('adam', 'teleport', 'none')}; RMSProp ${sig('rmsprop', 'teleport-reset', 'none')}; AdaGrad teleport-reset ${sig('adagrad', 'teleport-reset', 'none')}, reset alone ${sig('adagrad', 'reset', 'none')} | ${link('docs/results/optimizers.md')} |`);
  const t5 = cmp('momentum', 'teleport', 'none').timeMatched[5]!;
  rows.push(`| Figure 13: also per second | not reproduced for momentum | momentum, teleport − none at the time no-teleport ends epoch 5: ${signed(t5.mean)} [${signed(t5.lo)}, ${signed(t5.hi)}] (the teleports' time charged) | ${link('docs/results/optimizers.md')} |`);
  // Table 1: the paper-size run that varies the initialisation only, as the reference does
  type PerModel = { trainLoss: number; validationLoss: number; sharpness: number; curvature: number };
  const DS = ['mnist', 'fashion-mnist'];
  // each result file read once
  const t1Files = new Map(DS.flatMap((ds) => ['paper', 'reference'].map((m) => [`${ds}/${m}`, readResult<RFile & { perModel: PerModel[] }>(`${TABLE1_DIR}/correlation-${ds}-${m}-epoch40.json`)] as const)));
  const t1 = (ds: string, mode: string) => t1Files.get(`${ds}/${mode}`)!;
  const t1Cells = [...t1Files.values()];
  const rs = (k: 'sharpness' | 'curvature') => DS.map((ds) => `${ds} ${['paper', 'reference'].map((m) => signed(t1(ds, m).pearson[k], 2)).join(' / ')} (paper ${signed(PAPER_TABLE1[ds]![k], 2)})`).join('; ');
  const partial = (ds: string) => {
    const pm = t1(ds, 'reference').perModel;
    return signed(partialPearson(pm.map((x) => x.sharpness), pm.map((x) => x.validationLoss), pm.map((x) => x.trainLoss)), 2);
  };
  const t1Verdict = (k: 'sharpness' | 'curvature', yes: string) =>
    t1Cells.every((c) => c.ci95[k][0] > 0) ? 'every interval above 0' : t1Cells.every((c) => c.ci95[k][1] < 0) ? 'every interval below 0' : t1Cells.every((c) => c.ci95[k][0] <= 0 && c.ci95[k][1] >= 0) ? 'not shown: every interval contains 0' : `mixed (${yes})`;
  const n = t1('mnist', 'paper').models;
  rows.push(`| Table 1: sharpness φ correlates positively with the validation loss | ${t1Cells.every((c) => c.ci95.sharpness[0] > 0) ? 'reproduced' : 'partly'}: ${t1Verdict('sharpness', 'see the page')} | r, paper / reference definition, ${n} models × 40 epochs, 50,000 samples: ${rs('sharpness')}; given the training loss (partial r, reference): ${DS.map(partial).join(', ')} | ${link('docs/results/generalization.md')} |`);
  rows.push(`| Table 1: curvature ψ correlates weakly negatively | ${t1Verdict('curvature', 'see the page')} | ${rs('curvature')} | ${link('docs/results/generalization.md')} |`);
  // Figure 4
  const fig4 = fig4Results(path.join(ROOT, 'docs/generalization/paper-size'));
  const finals = fig4.flatMap((f) => f.arms.filter((a: { arm: string }) => a.arm !== 'none').map((a: { validationLoss: number[][] }) => {
    const none = f.arms.find((x: { arm: string }) => x.arm === 'none');
    const d = a.validationLoss.map((v, i) => v.at(-1)! - none.validationLoss[i].at(-1));
    return d.reduce((x, y) => x + y, 0) / d.length;
  }));
  const maxAbs = Math.max(...finals.map(Math.abs));
  const cells = new Set(fig4.map((f) => `${f.config.dataset.name} ${f.config.teleport.curvatureMode}`)).size;
  const runs = fig4.reduce((x, f) => x + f.config.runs, 0) / cells;
  rows.push(`| Figure 4: teleporting towards lower φ or higher ψ improves generalization | not reproduced: the change at the teleport is gone after an epoch | 50,000 samples, teleport at epoch 20 of 40, ${runs} paired runs per dataset and ψ mode: final validation loss arm − none, every arm within ±${maxAbs.toFixed(3)} | ${link('docs/results/generalization.md', '#figure-4-at-the-papers-size-50000-samples-teleport-at-epoch-20-of-40-5-batches-of-2000')} |`);
  rows.push(`| Figure 8: the expected displacement of the minimum depends on curvature, differently per curve | reproduced: for large κr the parabola's grows with κ, the circle's shrinks | ${displacementLine('docs/generalization/displacement.json')} | ${link('docs/results/generalization.md', '#figure-8-expected-displacement-of-the-minimum-vs-its-curvature-symtele-run-displacement')} |`);
  const fig12 = readResult<IntegrationResults>('docs/optimizers/fig12-integration.json');
  const adagrad = fig12.panels.find((p) => p.optimizer.name === 'adagrad')!;
  const finalLoss = (label: string) => meanStdCell(adagrad.variants.find((x) => x.label === label)!.runs.map((q) => q.loss.at(-1)!));
  const stable = adagrad.variants.filter((v) => v.teleport && !v.runs.some((q) => q.diverged));
  rows.push(`| Figure 12 (regression, Appendix G.1): teleporting momentum and AdaGrad | AdaGrad: lower final loss on average, within the spread; momentum: not reproduced; the paper's group lrs diverge | ${fig12.config.repeats} repeats, final loss at the largest stable group lr: AdaGrad none ${finalLoss('no teleport')}, ${stable.map((v) => `${v.label.replace(/\|\|/g, '‖').replace(/ \(group lr .*\)/, '')} ${finalLoss(v.label)}`).join(', ')} | ${link('docs/results/optimizers.md', '#teleport-integration-figure-12-appendix-g1')} |`);
  return ['| paper claim | verdict here | measured (committed data) | details |', '|---|---|---|---|', ...rows].join('\n');
}

// ---- Figure 8 ------------------------------------------------------------------------------
interface Displacement { curves: { curve: string; series: { r: number; kappas: number[]; ratio: number[] }[]; checks: { z: number }[] }[] }
/** Per curve: E/r at κ = 0, its lowest and highest value (with κr), and the Monte Carlo checks' largest |z|. */
function displacementFacts(file: string) {
  return readResult<Displacement>(file).curves.map((c) => {
    const pts = c.series.flatMap((s) => s.kappas.map((k, i) => ({ kr: k * s.r, ratio: s.ratio[i]! })));
    const lo = pts.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    const hi = pts.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    return { curve: c.curve, lo, hi, maxZ: Math.max(...c.checks.map((x) => Math.abs(x.z))) };
  });
}
const displacementLine = (file: string) =>
  displacementFacts(file)
    .map((f) => `${f.curve}: E/r between ${f.lo.ratio.toFixed(4)} (κr = ${f.lo.kr.toFixed(2)}) and ${f.hi.ratio.toFixed(4)} (κr = ${f.hi.kr.toFixed(2)}), Monte Carlo checks within ${f.maxZ.toFixed(2)} standard errors`)
    .join('; ');

// ---- blocks --------------------------------------------------------------------------------
function matching(glob: string): string[] {
  const brace = /\{([^{}]*)\}/.exec(glob);
  if (brace) return brace[1]!.split(',').flatMap((alt) => matching(glob.replace(brace[0], alt)));
  const dir = path.posix.dirname(glob);
  const re = new RegExp(`^${path.posix.basename(glob).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return fs.readdirSync(path.join(ROOT, dir)).filter((f) => re.test(f)).sort().map((f) => `${dir}/${f}`);
}

const GENERATORS: Record<string, (arg: string) => string> = {
  'meta-summary': metaSummary,
  'optimizers-summary': optimizersSummary,
  'optimizers-table': optimizersTable,
  'correlation': (dir) => correlationTable(correlationResults(path.join(ROOT, dir))),
  'correlation-r': correlationR,
  'correlation-psi-runs': () => psiRuns(),
  'fig4-pooled': (dir) => fig4PooledTables(fig4Results(path.join(ROOT, dir))).join('\n\n'),
  'claims': () => claims(),
  'fig6-stage1': (args) => fig6StageOneTable(ROOT, ...(args.split(',') as [string, string])),
  'fig6-baselines': (file) => fig6BaselineTable(readResult<EvalResults>(file)),
  'fig6-pairs': (file) => fig6PairsTable(readResult<EvalResults>(file), TABLE_STEPS, wideDiffCell),
  'speed-floors': (args) => speedFloorsTable(ROOT, ...(args.split(',') as [string, string])),
  'speed-by-batch': (file) => speedByBatchTable(ROOT, file),
  'switch-ab': (file) => switchAbTable(ROOT, file),
  'speed-times': (args) => speedTimesTable(ROOT, ...(args.split(',') as [string, string])),
  'kernels': (args) => kernelsTable(ROOT, ...(args.split(',') as [string, string, string?])),
  // before,after,backend,variant (the variant's name holds commas: the rest of the argument)
  'kernels-by-kernel': (args) => {
    const [before, after, backend, ...variant] = args.split(',');
    return kernelsByKernelLine(ROOT, before!, after!, backend!, variant.join(','));
  },
  'bench-meta': (file) => benchMetaTable(ROOT, file),
  'backends-lockstep': (file) => lockstepTable(ROOT, file),
  'backends-side-by-side': (file) => sideBySideTable(ROOT, file),
  'backends-meta': (file) => metaSideBySideTable(ROOT, file),
  'backends-threads': (file) => threadsTable(ROOT, file),
  'classification-drift': (file) => classificationDriftTable(ROOT, file),
  'classification-costs': (file) => classificationCostsLine(ROOT, file),
  'faults': (file) => faultsTable(ROOT, file),
  // FILE or FILE,learned (the learned variants only)
  'transfer': (args) => transferTable(ROOT, args.split(',')[0]!, args.split(',')[1] === 'learned'),
  // FILE,STEP: the best tuned baseline and each learned variant at one step
  'transfer-best': (args) => transferBestTable(ROOT, args.split(',')[0]!, Number(args.split(',')[1])),
  'meta-means': (file) => metaMeansTable(readResult, file, TABLE_STEPS),
  // STEPS;VARIANT@FILE+FILE;VARIANT@FILE...: per meta-seed, the held-out means at STEPS (a/b/c)
  'meta-seed-columns': (args) => {
    const [steps, ...columns] = args.split(';');
    return metaSeedColumnsTable(readResult, steps!.split('/').map(Number), columns);
  },
  'step1-landscape': (file) => step1LandscapeTable(readResult, file),
  // OURS,TORCH (scripts/compare_fig5.py)
  'fig5-side-by-side': (args) => fig5SideBySide(readPython, ...(args.split(',') as [string, string])),
  'fig5-torch-arms': (file) => torchArmsTable(readPython, file),
  // OURS,REFERENCE,EPOCHS (a/b/c; scripts/compare_fig5_authors.py)
  'fig5-authors': (args) => {
    const [ours, ref, epochs] = args.split(',');
    return fig5AuthorsTables(readPython, ours!, ref!, epochs!.split('/').map(Number));
  },
  // FLOAT32,FLOAT64 (scripts/compare_fig5_authors.py --control)
  'fig5-control': (args) => fig5ControlTables(readPython, ...(args.split(',') as [string, string])),
  'fig5-bench': (dir) => fig5BenchTable(readPython, dir),
  'workers-runs': (glob) => workersRunsTable(ROOT, matching(glob)),
  'displacement': (file) => displacementLine(file),
  'integration-summary': (file) => integrationSummary(readResult<IntegrationResults>(file)),
};

const BLOCK = /(<!-- report:([\w-]+)(?: ([^\s>]+))? -->\n)([\s\S]*?)(<!-- \/report -->)/g;

/** A document with every generated block rewritten (blocks of unknown kind are an error). */
export function regenerate(text: string, doc: string): string {
  return text.replace(BLOCK, (_m, open: string, kind: string, arg: string | undefined, _old: string, close: string) => {
    const gen = GENERATORS[kind];
    if (!gen) throw new Error(`${doc}: unknown report block '${kind}'`);
    return `${open}${gen(arg ?? '')}\n${close}`;
  });
}

/** Every document whose generated blocks differ from what the committed data gives. */
export function changedDocuments(root = ROOT): { doc: string; before: string; after: string }[] {
  const out: { doc: string; before: string; after: string }[] = [];
  for (const doc of documents(trackedFiles(root))) {
    const before = fs.readFileSync(path.join(root, doc), 'utf8');
    if (!before.includes('<!-- report:')) continue;
    const after = regenerate(before, doc);
    if (after !== before) out.push({ doc, before, after });
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const changed = changedDocuments();
  for (const c of changed) {
    if (!check) fs.writeFileSync(path.join(ROOT, c.doc), c.after);
    console.log(`${check ? 'would change' : 'rewrote'} ${c.doc}`);
  }
  const missing = untrackedCitations(ROOT);
  for (const m of missing) console.log(`${m.doc}:${m.line}: cites ${m.text}, which is not committed`);
  if (!changed.length) console.log('every generated block is up to date');
  process.exitCode = (check && changed.length) || missing.length ? 1 : 0;
}
