// The floors of meta-training speed from one committed bench run
// (`npm run bench -- --only meta,workers,reference --json`): kernel calls per inner step against
// the count before the fusion, trajectories/s against the authors' train_meta_opt, tensorflow
// against wasm, 2 worker threads against 1. Each row names its floor and whether it is met.
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const VARIANT = 'LSTM(update,tele)';
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/** The authors' code at its best in a bench run: the fastest of its timings in every backend's child. */
function authorsBest(bench: Json): number {
  return Math.max(...Object.values(bench.byBackend as Record<string, Json>).map((b) => (b.reference?.referenceBestTrajectoriesPerSecond as number | undefined) ?? NaN).filter(Number.isFinite));
}

export function speedFloorsTable(root: string, benchFile: string, beforeFile: string): string {
  const bench = JSON.parse(fs.readFileSync(path.join(root, benchFile), 'utf8')) as Json;
  const before = JSON.parse(fs.readFileSync(path.join(root, beforeFile), 'utf8')) as Json;
  const backends = Object.keys(bench.byBackend) as string[];
  const at = (b: string) => bench.byBackend[b] as Json;
  const best = authorsBest(bench);
  const ref = (_b: string) => (Number.isFinite(best) ? best : undefined);
  const rows: { what: string; floor: number; values: (number | undefined)[] }[] = [];
  const perBackend = (what: string, floor: number, f: (b: string) => number | undefined) => rows.push({ what, floor, values: backends.map(f) });
  const beforeCalls = (b: string) => before.byBackend[b]?.[VARIANT]?.['1']?.perStep as number | undefined;
  perBackend('kernel calls per inner step, tuned, now / before the fusion (at most)', 0.25, (b) => at(b).meta.kernelCallsPerInnerStep[VARIANT]['16'] / beforeCalls(b)!);
  perBackend('the same with the LSTM pair flag on (at most)', 0.25, (b) => at(b).meta.kernelCallsPerInnerStepLstmPair?.[VARIANT]?.['16'] / beforeCalls(b)!);
  perBackend("tuned, B = 16, one process / the authors' code at its best", 6, (b) => at(b).meta.metaTrainTrajectoriesPerSecondByBatch[VARIANT]['16'] / ref(b)!);
  perBackend("tuned, 2 worker threads of B = 16 / the authors' code at its best", 10, (b) => at(b).workers.metaTrainTrajectoriesPerSecondWorkers['2'] / ref(b)!);
  perBackend("reference recipe, B = 1 / the authors' code at its best", 1, (b) => at(b).meta.metaTrainTrajectoriesPerSecondByBatch[`${VARIANT}, reference recipe`]['1'] / ref(b)!);
  perBackend('2 worker threads / 1, the same per-worker B = 16', 1.7, (b) => at(b).workers.workersSpeedup2);
  if (bench.byBackend.tensorflow && bench.byBackend.wasm) {
    const tps = (b: string) => at(b).meta.metaTrainTrajectoriesPerSecondByBatch[VARIANT]['16'] as number;
    rows.push({ what: 'tensorflow / wasm, tuned, B = 16', floor: 2, values: backends.map((b) => (b === 'tensorflow' ? tps('tensorflow') / tps('wasm') : undefined)) });
  }
  const upper = (r: (typeof rows)[number]) => r.what.endsWith('(at most)');
  const cell = (r: (typeof rows)[number], v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${f2(v)} (${(upper(r) ? v <= r.floor : v >= r.floor) ? 'met' : 'not met'})`);
  return [
    `| ${VARIANT} | floor | ${backends.join(' | ')} |`,
    `|---|---|${backends.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.what} | ${upper(r) ? '≤' : '≥'} ${r.floor} | ${r.values.map((v) => cell(r, v)).join(' | ')} |`),
  ].join('\n');
}

/** Trajectories/s of ours by variant and batch, and of the authors' code, per backend of the run. */
export function speedByBatchTable(root: string, benchFile: string): string {
  const bench = JSON.parse(fs.readFileSync(path.join(root, benchFile), 'utf8')) as Json;
  const lines = ['| backend | variant (recipe) | trajectories/s by B (kernel calls per inner step) |', '|---|---|---|'];
  for (const [b, f] of Object.entries(bench.byBackend) as [string, Json][]) {
    for (const [v, byB] of Object.entries(f.meta.metaTrainTrajectoriesPerSecondByBatch) as [string, Record<string, number>][]) {
      const calls = f.meta.kernelCallsPerInnerStep[v] as Record<string, number> | undefined;
      lines.push(`| ${b} | ${v.includes('recipe') ? v : `${v} (tuned)`} | ${Object.entries(byB).map(([B, x]) => `B = ${B}: ${f2(x)}${calls?.[B] !== undefined ? ` (${calls[B]})` : ''}`).join(', ')} |`);
    }
    if (f.reference?.referenceBestTrajectoriesPerSecond) lines.push(`| ${b} | authors' train_meta_opt, LSTM(update,tele) (${f.reference.referenceBest}) | B = 1: ${f2(f.reference.referenceBestTrajectoriesPerSecond)} |`);
    if (f.workers) lines.push(`| ${b} | ${VARIANT} (tuned), worker threads of B = 16 each | 1 thread: ${f2(f.workers.metaTrainTrajectoriesPerSecondWorkers['1'])}, 2 threads: ${f2(f.workers.metaTrainTrajectoriesPerSecondWorkers['2'])} |`);
  }
  return lines.join('\n');
}

/**
 * Where a step's time goes (`npm run bench -- --only times`), per backend, variant and B: wall time per
 * inner step, the kernels' own time and the products' share, the learner's step per window,
 * and the trajectories/s they imply (100 steps and 10 learner steps per B trajectories) against
 * the same with every kernel but the products free; LSTM(update,tele)'s over the authors' best of
 * `benchFile` (which times their LSTM(update,tele)).
 */
export function speedTimesTable(root: string, timesFile: string, benchFile: string): string {
  const times = JSON.parse(fs.readFileSync(path.join(root, timesFile), 'utf8')) as Json;
  const bench = JSON.parse(fs.readFileSync(path.join(root, benchFile), 'utf8')) as Json;
  const authors = authorsBest(bench);
  const f1 = (x: number) => x.toFixed(1);
  const lines = [
    `| backend | variant (recipe) | B | wall ms / step | kernels ms / step | products ms (share of kernels) | learner ms / window | implied trajectories/s (/ authors) | products alone (/ authors) |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [b, { times: x }] of Object.entries(times.byBackend as Json) as [string, Json][]) {
    for (const [v, byB] of Object.entries(x.byVariant as Json) as [string, Json][]) {
      const learner = x.learnerStepMs[v] as number;
      for (const [B, t] of Object.entries(byB) as [string, Json][]) {
        const implied = Number(B) / ((100 * t.wallMs + 10 * learner) / 1000);
        const ceiling = Number(B) / ((100 * t.productMs) / 1000);
        const ratio = (x: number) => (v.startsWith(`${VARIANT} `) ? ` (${f2(x / authors)}x)` : '');
        lines.push(`| ${b} | ${v} | ${B} | ${f1(t.wallMs)} | ${f1(t.kernelMs)} | ${f1(t.productMs)} (${Math.round((100 * t.productMs) / t.kernelMs)}%) | ${f1(learner)} | ${f2(implied)}${ratio(implied)} | ${f2(ceiling)}${ratio(ceiling)} |`);
      }
    }
  }
  return lines.join('\n');
}

/** A switch's A/B run (scripts/switch-ab.ts): the best trajectories/s off and on per recipe and B, and their ratio. */
export function switchAbTable(root: string, file: string): string {
  const ab = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as Json;
  const runs = ab.runs as { on: boolean; recipe: string; batch: number; wall: number }[];
  const best = (on: boolean, key: string) => Math.max(...runs.filter((r) => r.on === on && `${r.recipe}:${r.batch}` === key).map((r) => r.wall));
  const lines = [`| ${ab.backend}, ${ab.variant} | off (trajectories/s) | on | on / off |`, '|---|---|---|---|'];
  for (const key of Object.keys(ab.onOverOff as Json)) {
    const [recipe, B] = key.split(':');
    lines.push(`| ${recipe} recipe, B = ${B} | ${f2(best(false, key))} | ${f2(best(true, key))} | ${f2(best(true, key) / best(false, key))} |`);
  }
  return lines.join('\n');
}
