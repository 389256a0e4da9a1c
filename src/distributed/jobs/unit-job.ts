// Units of a study as jobs on worker threads (piscina): up to `jobs` units train at once, each
// in its own thread (see unit-worker.ts); a unit warm-started from another waits for it. The
// study manifest is written by the main thread only.
import { MessageChannel } from 'node:worker_threads';
import { currentBackend } from '../../backend/index.js';
import { Piscina } from 'piscina';
import type { MetaExperiment } from '../../meta/config.js';
import type { StopFlag } from '../../meta/interrupt.js';
import { siblingUrl } from '../workers/parts.js';
import { loadedPlugins } from '../../config/plugins.js';

export interface UnitJob {
  exp: MetaExperiment;
  source: string;
  label: string;
  metaSeed: number;
  /** Continue from the unit's checkpoint. */
  resume: boolean;
  /** The study's run id (names the unit's job on a Redis queue). */
  runId?: string;
  backend: string;
  /** Plugins (URLs) the thread loads before reading the experiment. */
  plugins: string[];
  /** Int32 flag: 0 none, else the code of the signal that asked to stop. */
  stop: SharedArrayBuffer;
}

export interface UnitJobResult {
  seconds: number;
  trajectories: number;
  interrupted: NodeJS.Signals | null;
  where?: string;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
export const signalOf = (code: number): NodeJS.Signals | null => (code > 0 ? SIGNALS[code - 1] : null);
/** The stop flag's value for a signal. */
export const signalCode = (s: NodeJS.Signals): number => SIGNALS.indexOf(s) + 1;

export interface UnitPool {
  run(job: Omit<UnitJob, 'stop' | 'backend' | 'plugins'>, log: (line: string) => void): Promise<UnitJobResult>;
  close(): Promise<void>;
}

/** A pool of `jobs` threads that forwards the main thread's stop flag to every unit. */
export function unitPool(jobs: number, stop: StopFlag | undefined): UnitPool {
  const pool = new Piscina({ filename: siblingUrl('./unit-worker.js', import.meta.url), minThreads: 1, maxThreads: jobs, idleTimeout: 1000 });
  const flag = new SharedArrayBuffer(4);
  const view = new Int32Array(flag);
  // signals are handled by the main thread; the threads poll this flag between batches
  const relay = setInterval(() => {
    const s = stop?.requested;
    if (s) Atomics.store(view, 0, signalCode(s));
  }, 50);
  relay.unref();
  const backend = currentBackend();
  return {
    async run(job, log) {
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (line: string) => log(line));
      try {
        return (await pool.run({ ...job, backend, plugins: loadedPlugins(), stop: flag, port: port2 }, { transferList: [port2] })) as UnitJobResult;
      } finally {
        port1.close();
      }
    },
    async close() {
      clearInterval(relay);
      await pool.destroy();
    },
  };
}
