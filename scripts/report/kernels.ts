// The "Fewer kernels" tables of docs/design/speed.md: kernel calls per inner step before and after
// a fusion pass (files written by scripts/kernel-counts.ts, the same count as
// `npm run bench -- --only meta`), and the timing of one bench run after the first pass.
import fs from 'node:fs';
import path from 'node:path';

/** backend -> variant -> B -> counts, as scripts/kernel-counts.ts writes them. */
interface Counts { perStep: number; forwardPerStep: number; smallPerStep: number; byKernel: Record<string, number> }
interface KernelFile { byBackend: Record<string, Record<string, Record<string, Counts>>> }

const read = <T>(root: string, file: string) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;
const f1 = (x: number) => String(Math.round(x * 10) / 10);
const f2 = (x: number) => x.toFixed(2);

/**
 * Before against after, per backend and variant of the after file (the counts do not depend on B,
 * except the calls with < 10k output entries, taken at B = 16). With a third file, the ratio is
 * taken against it (the count before every pass) instead of against `before`.
 */
export function kernelsTable(root: string, beforeFile: string, afterFile: string, originalFile?: string): string {
  const before = read<KernelFile>(root, beforeFile).byBackend;
  const after = read<KernelFile>(root, afterFile).byBackend;
  const original = originalFile ? read<KernelFile>(root, originalFile).byBackend : before;
  const lines = [
    `| backend | variant | calls before | after | after / ${originalFile ? 'original (first table)' : 'before'} | forward alone before | after | calls with < 10k output entries at B = 16, before | after |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [b, variants] of Object.entries(after)) {
    for (const [v, byB] of Object.entries(variants)) {
      const x = before[b]![v]!['16']!;
      const y = byB['16']!;
      lines.push(`| ${b} | ${v} | ${f1(x.perStep)} | ${f1(y.perStep)} | ${f2(y.perStep / original[b]![v]!['16']!.perStep)} | ${f1(x.forwardPerStep)} | ${f1(y.forwardPerStep)} | ${f1(x.smallPerStep)} | ${f1(y.smallPerStep)} |`);
    }
  }
  return lines.join('\n');
}

/** Every kernel whose count per inner step changed (backend, variant, B = 1), largest before first. */
export function kernelsByKernelLine(root: string, beforeFile: string, afterFile: string, backend: string, variant: string): string {
  const x = read<KernelFile>(root, beforeFile).byBackend[backend]![variant]!['1']!.byKernel;
  const y = read<KernelFile>(root, afterFile).byBackend[backend]![variant]!['1']!.byKernel;
  const changed = [...new Set([...Object.keys(x), ...Object.keys(y)])]
    .map((k) => ({ k, a: x[k] ?? 0, b: y[k] ?? 0 }))
    .filter((c) => c.a !== c.b)
    .sort((p, q) => q.a - p.a || q.b - p.b);
  return `By kernel, ${variant} on ${backend}: ${changed.map((c) => `${c.k} ${f1(c.a)} -> ${f1(c.b)}`).join(', ')}.`;
}

interface BenchFile { byBackend: Record<string, { meta: Record<'metaTrainTrajectoriesPerSecondByBatch' | 'metaTrainTrajectoriesPerCpuSecondByBatch' | 'lstmGflopsPerSecondByBatch', Record<string, Record<string, number>>> }> }

/** Trajectories/s wall / per CPU second / GFLOP/s of the counted LSTM products, per backend, variant and B. */
export function benchMetaTable(root: string, benchFile: string): string {
  const bench = read<BenchFile>(root, benchFile).byBackend;
  const batches = Object.keys(Object.values(Object.values(bench)[0]!.meta.metaTrainTrajectoriesPerSecondByBatch)[0]!);
  const lines = [`| backend | variant | ${batches.map((B) => `B = ${B}`).join(' | ')} |`, `|---|---|${batches.map(() => '---').join('|')}|`];
  for (const [b, { meta: m }] of Object.entries(bench)) {
    for (const v of Object.keys(m.metaTrainTrajectoriesPerSecondByBatch)) {
      const cell = (B: string) => [m.metaTrainTrajectoriesPerSecondByBatch, m.metaTrainTrajectoriesPerCpuSecondByBatch, m.lstmGflopsPerSecondByBatch].map((t) => f2(t[v]![B]!)).join(' / ');
      lines.push(`| ${b} | ${v} | ${batches.map(cell).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}
