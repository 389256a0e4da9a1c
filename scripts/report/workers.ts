// The worker-threads table of docs/design/workers.md: `npm run bench -- --only workers` runs
// (wasm), one column per committed run file. Older runs keep the figures at the top level of the
// file, later ones under `workers`.
import fs from 'node:fs';
import path from 'node:path';

interface WorkersBench {
  metaTrainTrajectoriesPerSecondWorkers: Record<string, number>;
  metaTrainTrajectoriesPerSecondInProcess?: number;
  metaTrainTrajectoriesPerSecondRedis2?: number;
  workersSpeedup2Bound?: number;
}

const cell = (x: number | undefined, unit = '') => (x === undefined ? '-' : `${x.toFixed(2)}${unit}`);

/** `files`: run files named ...-run-<letter>.json, in column order. */
export function workersRunsTable(root: string, files: string[]): string {
  const runs = files.map((f) => {
    const j = JSON.parse(fs.readFileSync(path.join(root, f), 'utf8'));
    return { name: `run ${/-run-(\w+)\.json$/.exec(f)![1]!.toUpperCase()}`, w: (j.workers ?? j) as WorkersBench };
  });
  const row = (what: string, get: (w: WorkersBench) => number | undefined, unit = '') => `| ${what} | ${runs.map((r) => cell(get(r.w), unit)).join(' | ')} |`;
  return [
    `| LSTM(update,tele), tuned, B = 16, 100 steps, trajectories/s | ${runs.map((r) => r.name).join(' | ')} |`,
    `|---|${runs.map(() => '---').join('|')}|`,
    row('in this process (no threads)', (w) => w.metaTrainTrajectoriesPerSecondInProcess),
    row('1 worker thread', (w) => w.metaTrainTrajectoriesPerSecondWorkers['1']),
    row('2 worker threads', (w) => w.metaTrainTrajectoriesPerSecondWorkers['2']),
    row('Redis on the loopback, 2 `symtele worker` processes', (w) => w.metaTrainTrajectoriesPerSecondRedis2),
    row('bound on 2 workers: a batch of 16 over one of 8, in this process', (w) => w.workersSpeedup2Bound, 'x'),
  ].join('\n');
}
