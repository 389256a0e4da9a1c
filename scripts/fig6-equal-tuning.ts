// Figure 6 with equal tuning (experiments/fig6-equal-tuning.json; the protocol is
// docs/results/figure6-protocol.md). Stage 1 meta-trains every candidate of every learned method
// on problem seed 0, meta-seed 0, and scores it by its best validation score (mean log loss of
// its 16 validation problems over 100 steps); the picks are written once to <out>/picks.json.
// Stage 2 trains the picks with the final meta-seeds on the final problem seed and evaluates
// them, the baselines (their lr lists tuned on that seed's validation problems) and the paper
// recipe on the same held-out problems. Every step resumes where a killed run stopped.
// Usage: npx tsx scripts/fig6-equal-tuning.ts [out-dir] [--check] [--jobs N]   (default results/fig6-equal-tuning;
//        --check: decode and preflight every experiment of both stages, print the estimates, run nothing;
//        --jobs N: stage 2 trains N units at once on worker threads, the same numbers as one at a time;
//        --rescore '<method> #<j>' (repeatable): drop that candidate's stage-1 score and run, and
//        train it again; --retrain-unit '<label>#<meta-seed>' (repeatable): train that stage-2
//        unit again, the others kept. Both are for runs a fixed bug touched, and are reported;
//        --report: only write the committed reduction of stage 2's results (REDUCED below).)
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { deepMerge } from '../src/config/codec.js';
import { writeFileAtomic, writeJsonAtomic } from '../src/run/atomic.js';
import zlib from 'node:zlib';
import type { EvalResults } from '../src/meta/report.js';
import { MetaExperimentCodec } from '../src/meta/config.js';
import { decodeOrThrow } from '../src/config/codec.js';
import { trainAndEvaluate } from '../src/meta/experiment.js';
import { loadCheckpoint } from '../src/meta/checkpoint.js';
import { checkpointDirOf } from '../src/meta/paths.js';
import { slug } from '../src/run/slug.js';
import { preflightMeta } from '../src/meta/preflight.js';
import { describeEstimate } from '../src/config/preflight.js';

interface Method {
  label: string;
  preset: string;
  common?: Record<string, unknown>;
  grid: Record<string, unknown>[];
}
interface Protocol {
  task: unknown;
  tuning: { seed: number; metaSeeds: number[] };
  final: { seed: number; metaSeeds: number[]; heldout: { trajectories: number; steps: number } };
  train: Record<string, unknown>;
  baselineValidation: { trajectories: number };
  baselines: Record<string, unknown>[];
  methods: Method[];
  paper: Record<string, unknown>[];
}

const CONFIG = 'experiments/fig6-equal-tuning.json';
const args = process.argv.slice(2);
const check = args.includes('--check');
/** The values of a repeatable option `--name value`. */
const valuesOf = (name: string) => args.flatMap((a, i) => (a === name && i + 1 < args.length ? [args[i + 1]!] : []));
const FLAGS = ['--check', '--report'];
const optionValues = new Set(args.flatMap((a, i) => (a.startsWith('--') && !FLAGS.includes(a) ? [i + 1] : [])));
const jobs = Number(valuesOf('--jobs')[0] ?? 1);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected a positive integer, got ${valuesOf('--jobs')[0]}`);
const rescore = valuesOf('--rescore');
const retrain = valuesOf('--retrain-unit');
const out = args.find((a, i) => !a.startsWith('--') && !optionValues.has(i)) ?? 'results/fig6-equal-tuning';
const p = JSON.parse(fs.readFileSync(CONFIG, 'utf8')) as Protocol;
const log = (l: string) => process.stderr.write(`[fig6] ${l}\n`);
await initBackend('wasm');

/** A method's candidate j as an experiment entry (every learned method gets the same training budget). */
const candidate = (m: Method, j: number, label: string) =>
  deepMerge({ preset: m.preset, label, train: p.train }, deepMerge(m.common ?? {}, m.grid[j]!)) as Record<string, unknown>;

const experiment = (dir: string, seed: number, metaSeeds: number[], heldout: { trajectories: number; steps: number }, variants: unknown[]) =>
  decodeOrThrow(
    MetaExperimentCodec,
    {
      seed,
      metaSeeds,
      task: p.task,
      heldout,
      baselineValidation: p.baselineValidation,
      tableSteps: [1, 10, 30, 100].filter((s) => s <= heldout.steps),
      variants,
      logdir: path.join(dir, 'logs'),
      checkpointDir: path.join(dir, 'ckpt'),
      checkpointEvery: 10,
      histogramEvery: 0,
    },
    CONFIG,
  );

/** What the docs' tables need of stage 2's results: losses (7 significant digits), seeds, baselines' lrs. */
const REDUCED = 'docs/results/fig6-equal-tuning/final.json.gz';
function writeReduced(resultsFile: string): void {
  const r = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as EvalResults;
  // a diverged run's loss: "Infinity" / "NaN" (written by writeResultsJson; null in older files: Infinity)
  const round = (x: number | string | null) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(7)) : x === null ? 'Infinity' : String(x));
  const variants = Object.fromEntries(
    Object.entries(r.variants).map(([k, v]) => [k, { loss: v.loss.map((run) => run.map(round)), metaSeed: v.metaSeed, lr: v.lr, lrGrid: v.lrGrid, trainSeconds: v.trainSeconds }]),
  );
  const about = 'Figure 6 with equal tuning, stage 2 (docs/results/figure6-protocol.md): held-out loss per run and step (runs: meta-seeds x problems), reduced from the run\'s results.json by scripts/fig6-equal-tuning.ts --report.';
  writeFileAtomic(REDUCED, zlib.gzipSync(JSON.stringify({ about, heldout: r.heldout, variants })));
  log(`wrote ${REDUCED}`);
}
if (args.includes('--report')) {
  writeReduced(path.join(out, 'final', 'logs', 'results.json'));
  process.exit(0);
}

if (check) {
  const all = [
    ...p.methods.flatMap((m) => m.grid.map((_, j) => experiment(path.join(out, 'tune', slug(m.label), String(j)), p.tuning.seed, p.tuning.metaSeeds, { trajectories: 1, steps: 100 }, [candidate(m, j, `${m.label} #${j}`)]))),
    experiment(path.join(out, 'final'), p.final.seed, p.final.metaSeeds, p.final.heldout, [...p.baselines, ...p.methods.map((m) => candidate(m, 0, m.label)), ...p.paper]),
  ];
  for (const e of all) log(`${e.variants.map((v) => (v as { label?: string; preset?: string }).label ?? (v as { preset: string }).preset).join(', ')}: ${describeEstimate(preflightMeta(e, CONFIG).estimate)}`);
  process.exit(0);
}

// Stage 1: each candidate alone (one unit), scored by its best validation score (Infinity, as
// the string "Infinity", when every validation diverged).
const SCORES = 'docs/results/fig6-equal-tuning/stage1.json';
const scored: Record<string, number | string> = fs.existsSync(SCORES) ? (JSON.parse(fs.readFileSync(SCORES, 'utf8')) as { scores: Record<string, number | string> }).scores : {};
for (const label of rescore) {
  const m = p.methods.find((x) => label.startsWith(`${x.label} #`));
  const j = m ? Number(label.slice(m.label.length + 2)) : NaN;
  if (!m || !Number.isInteger(j) || j < 0 || j >= m.grid.length) throw new Error(`--rescore ${label}: expected '<method> #<candidate>' of ${CONFIG}`);
  delete scored[label];
  fs.rmSync(path.join(out, 'tune', slug(m.label), String(j)), { recursive: true, force: true });
  log(`stage 1: ${label} is trained and scored again`);
}
const picks: Record<string, { index: number; scores: number[] }> = {};
for (const m of p.methods) {
  const scores: number[] = [];
  for (let j = 0; j < m.grid.length; j++) {
    const label = `${m.label} #${j}`;
    if (scored[label] === undefined) {
      const dir = path.join(out, 'tune', slug(m.label), String(j));
      const exp = experiment(dir, p.tuning.seed, p.tuning.metaSeeds, { trajectories: 1, steps: 100 }, [candidate(m, j, label)]);
      log(`stage 1: ${label}`);
      await trainAndEvaluate(exp, CONFIG, { start: 'resume', log, progress: 'lines' });
      const best = p.tuning.metaSeeds.map((s) => loadCheckpoint(checkpointDirOf(exp.checkpointDir, label, s), null).state.bestValLoss);
      const score = best.reduce((a, b) => a + b, 0) / best.length;
      scored[label] = Number.isFinite(score) ? score : 'Infinity';
      writeJsonAtomic(SCORES, { about: 'Stage 1 of docs/results/figure6-protocol.md: each candidate\'s best validation score (mean log loss, 16 validation problems of problem seed 0, 100 steps, meta-seed 0).', scores: scored });
    }
    scores.push(Number(scored[label]));
  }
  const index = scores.reduce((bi, s, i) => (s < scores[bi]! ? i : bi), 0);
  picks[m.label] = { index, scores };
  log(`stage 1: ${m.label} picks #${index} (validation scores ${scores.map((s) => s.toFixed(4)).join(', ')})`);
}

// Stage 2: the picks, the baselines and the paper recipe on the final seeds, one held-out set.
const final = path.join(out, 'final');
const variants = [...p.baselines, ...p.methods.map((m) => candidate(m, picks[m.label]!.index, m.label)), ...p.paper];
const exp = experiment(final, p.final.seed, p.final.metaSeeds, p.final.heldout, variants);
log('stage 2');
await trainAndEvaluate(exp, CONFIG, { start: 'resume', log, progress: 'lines', jobs, retrain });
log(`done: ${path.join(final, 'logs', 'results.json')}`);
writeReduced(path.join(final, 'logs', 'results.json'));
