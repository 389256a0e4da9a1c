// The classification task's measurements (docs/design/classification-task.md) from
// `npm run bench -- --only classification-task` (docs/classification-task/bench.json): how far the
// pinv action moves the batch loss on real mini-batches, and what the task's calls cost.
import fs from 'node:fs';
import path from 'node:path';

/** The MLP's hidden width (784-16-10): up to this batch size the action keeps the loss exactly, and any drift is float32 rounding. */
const WIDTH = 16;

const read = (root: string, file: string) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as Record<string, number | string>;
const e1 = (x: number) => (x === 0 ? '0' : x.toExponential(1));
const f3 = (x: number) => x.toFixed(3);

/** One row per measured case, the keys being `k<k>_<direction>_T<norm>_<figure>`. */
export function classificationDriftTable(root: string, file: string): string {
  const b = read(root, file);
  const cases = Object.keys(b).filter((k) => k.endsWith('_driftMedian')).map((k) => k.replace(/_driftMedian$/, ''));
  const lines = ['| k | T | ‖T‖_F | relative loss drift, median / max | ‖grad‖² after / before, median (min) |', '|---|---|---|---|---|'];
  for (const c of cases) {
    const [, k, dir, norm] = /^k(\d+)_(\w+?)_T([\d.]+)$/.exec(c)!;
    const at = (f: string) => b[`${c}_${f}`] as number;
    lines.push(`| ${k} | ${dir} | ${norm} | ${e1(at('driftMedian'))} / ${e1(at('driftMax'))}${Number(k) <= WIDTH ? ' (float32 rounding)' : ''} | ${f3(at('gradNormSqRatioMedian'))} (${f3(at('gradNormSqRatioMin'))}) |`);
  }
  return lines.join('\n');
}

/** The task's calls, median milliseconds. */
export function classificationCostsLine(root: string, file: string): string {
  const b = read(root, file) as Record<string, number>;
  const ms = (k: string) => `${Math.round(b[k]!)} ms`;
  return `lossAndGrads ${ms('lossAndGradsMs')}, loss ${ms('lossMs')}, act ${ms('actMs')}, directions ${ms('directionsMs')}, evaluate on 1,000 images ${ms('evaluate1000Ms')}.`;
}
