// The fault-injection soak of docs/design/checkpoints.md (`npm run bench -- --only faults`): per run
// kind, how many faulted runs finished and came out equal to the uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';

interface FaultRun { faults: number; runs: number; recovered: number; leftovers?: number; processes: number; seconds: number }

/** The run kinds' names in the file (src/faults/configs.ts) and what each does. */
const KINDS: Record<string, string> = {
  single: 'one learned variant',
  study: 'a study of two learned variants',
  studyJobs2: 'the same study, units on 2 threads (`--jobs 2`)',
  logDamage: 'the study, a unit log file cut short, deleted or with a byte flipped after each kill',
  diskFull: 'the study, a full disk (ENOSPC at a random write) instead of a kill',
};

export function faultsTable(root: string, file: string): string {
  const { faults } = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as { faults: Record<string, FaultRun> };
  return [
    '| run kind (wasm, `src/faults/configs.ts`) | faults injected | runs finished | recovered (equal to the uninterrupted run) | leftovers after finished runs | processes | seconds |',
    '|---|---|---|---|---|---|---|',
    ...Object.entries(faults).map(([k, r]) => `| ${KINDS[k] ?? k} | ${r.faults} | ${r.runs} | ${r.recovered} | ${r.leftovers ?? '-'} | ${r.processes} | ${Math.round(r.seconds)} |`),
  ].join('\n');
}
