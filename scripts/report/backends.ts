// The speed tables of docs/design/backends.md: wasm against the native tensorflow backend, from
// committed `npm run bench -- --json` runs (both backends in one run, one child process each) and
// the thread-settings measurements (one JSON line per setting).
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const read = (root: string, file: string) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as Json;
/** Two decimals, or two significant digits below 1 (the loaded runs' rates are small). */
const num = (x: number) => (x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/**
 * Lockstep SGD steps of the MNIST MLP per number of models. The ratio is wasm's time over
 * tensorflow's, the smaller of the wall and CPU ratios (as the speed table `auto` reads takes it).
 */
export function lockstepTable(root: string, file: string): string {
  const { wasm, tensorflow } = read(root, file).byBackend;
  const lines = ['| models in lockstep | wasm ms/step | tensorflow ms/step | tensorflow / wasm (min of wall, CPU) |', '|---|---|---|---|'];
  for (const [n, w] of Object.entries(wasm.optim.lockstepByModels) as [string, Json][]) {
    const t = tensorflow.optim.lockstepByModels[n];
    lines.push(`| ${n} | ${f1(w.stepMs)} | ${f1(t.stepMs)} | ${f2(Math.min(w.stepMs / t.stepMs, w.stepCpuMs / t.stepCpuMs))} |`);
  }
  return lines.join('\n');
}

/** Meta-training rows (trajectories/s, per CPU second in brackets), tensorflow over wasm. */
function metaRows(wasm: Json, tf: Json, label: (B: string) => string): string[] {
  const wall = (b: Json) => b.meta.metaTrainTrajectoriesPerSecondByBatch;
  const cpu = (b: Json) => b.meta.metaTrainTrajectoriesPerCpuSecondByBatch;
  const V = 'LSTM(update,tele)';
  const rows = Object.keys(wall(wasm)[V]).map((B, i) => {
    const cell = (b: Json, unit = '') => `${num(wall(b)[V][B])} (${num(cpu(b)[V][B])}${unit})`;
    return `| ${label(B)} | ${cell(wasm, i === 0 ? ' per CPU s' : '')} | ${cell(tf)} | ${f2(wall(tf)[V][B] / wall(wasm)[V][B])} wall, ${f2(cpu(tf)[V][B] / cpu(wasm)[V][B])} CPU |`;
  });
  const others = ['LSTM(update)', 'LSTM(lr,tele)'];
  const at16 = (b: Json) => others.map((v) => num(wall(b)[v]['16'])).join(' / ');
  rows.push(`| ${others.join(' / ')}, B = 16 | ${at16(wasm)} | ${at16(tf)} | ${others.map((v) => f2(wall(tf)[v]['16'] / wall(wasm)[v]['16'])).join(' / ')} wall |`);
  return rows;
}

/** Every figure of one side-by-side bench run, wasm and tensorflow, and their ratio (> 1: tensorflow faster). */
export function sideBySideTable(root: string, file: string): string {
  const { wasm: w, tensorflow: t } = read(root, file).byBackend;
  /** A time (smaller is faster): the ratio is wasm's over tensorflow's. */
  const time = (what: string, wall: (b: Json) => number, cpu?: (b: Json) => number, f = f2) =>
    `| ${what} | ${f(wall(w))}${cpu ? ` (${f(cpu(w))} CPU)` : ''} | ${f(wall(t))}${cpu ? ` (${f(cpu(t))} CPU)` : ''} | ${f2(wall(w) / wall(t))} wall${cpu ? `, ${f2(cpu(w) / cpu(t))} CPU` : ''} |`;
  return [
    '| figure | wasm | tensorflow | tensorflow / wasm |',
    '|---|---|---|---|',
    ...metaRows(w, t, (B) => (B === '1' ? 'LSTM(update,tele) meta-training, trajectories/s, B = 1' : `the same, B = ${B}`)),
    time('one GD step of the 20x20 problem, ms', (b) => b.meta.gdStepMs, (b) => b.meta.gdStepCpuMs),
    time('MNIST MLP 784-16-10-10 SGD epoch (50k, batch 20), s', (b) => b.optim.sgdEpochSeconds50k, (b) => b.optim.sgdEpochCpuSeconds50k, f1),
    time("the paper's MNIST teleport (8 x 200 samples, 10 steps), s", (b) => b.optim.teleportPaperSeconds, undefined, f1),
    `| peak RSS, MiB | ${w.peakRssMiB} | ${t.peakRssMiB} | |`,
  ].join('\n');
}

/** The meta-training rows alone, of a run that timed only meta-training. */
export function metaSideBySideTable(root: string, file: string): string {
  const { wasm, tensorflow } = read(root, file).byBackend;
  return ['| LSTM(update,tele) meta-training, trajectories/s | wasm | tensorflow | tensorflow / wasm |', '|---|---|---|---|', ...metaRows(wasm, tensorflow, (B) => `B = ${B}`)].join('\n');
}

interface ThreadRun { backend: string; intra: string; inter: string; wall: number; cpu: number }

/** tensorflow's thread settings at B = 16, against wasm measured before and after them (their mean). */
export function threadsTable(root: string, file: string): string {
  const runs = fs.readFileSync(path.join(root, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ThreadRun);
  const wasm = runs.filter((r) => r.backend === 'wasm');
  const wasmWall = wasm.reduce((s, r) => s + r.wall, 0) / wasm.length;
  const setting = (r: ThreadRun) => (r.intra === 'default' ? 'tensorflow, default threads (2 intra-op, 2 inter-op)' : `\`TF_NUM_INTRAOP_THREADS=${r.intra} TF_NUM_INTEROP_THREADS=${r.inter}\``);
  return [
    '| setting | trajectories/s (wall) | per CPU second | / wasm (wall) |',
    '|---|---|---|---|',
    `| wasm | ${wasm.map((r) => f2(r.wall)).join(', ')} | ${wasm.map((r) => f2(r.cpu)).join(', ')} | 1 |`,
    ...runs.filter((r) => r.backend !== 'wasm').map((r) => `| ${setting(r)} | ${f2(r.wall)} | ${f2(r.cpu)} | ${f2(r.wall / wasmWall)} |`),
  ].join('\n');
}
