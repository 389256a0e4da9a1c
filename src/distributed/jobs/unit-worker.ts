// A worker thread that meta-trains one unit (learned variant x meta-seed) of a study: its own
// tfjs backend, its own checkpoint directory and logs, exactly what `trainVariant` does in the
// main thread, so a study gives the same numbers however many units train at once. Progress
// lines go back through a MessagePort; a stop request comes in through a shared flag. It imports
// nothing that loads the plot's native addon (under tsx that breaks a worker thread's loader).
import type { MessagePort } from 'node:worker_threads';
import { initBackend } from '../../backend/index.js';
import { loadPlugins } from '../../config/plugins.js';
import { resolveOrThrow, trainedEntry, warmStartOf, type MetaExperiment } from '../../meta/config.js';
import { Interrupted, type StopFlag } from '../../meta/interrupt.js';
import { disposeMeta } from '../../meta/params.js';
import { loadTrained, trainVariant } from '../../meta/run.js';
import { signalOf, type UnitJob, type UnitJobResult } from './unit-job.js';

export default async function trainUnit(job: UnitJob & { port: MessagePort }): Promise<UnitJobResult> {
  await initBackend(job.backend);
  await loadPlugins(job.plugins);
  const resolved = resolveOrThrow(job.exp as MetaExperiment, job.source);
  const rv = trainedEntry(resolved, job.label, job.source);
  const from = warmStartOf(resolved, rv);
  const warmFrom = from && !job.resume ? loadTrained(from, job.exp, job.metaSeed) : undefined;
  const flag = new Int32Array(job.stop);
  const stop: StopFlag = {
    get requested() {
      return signalOf(Atomics.load(flag, 0));
    },
  };
  try {
    const tv = await trainVariant(rv, job.exp, job.metaSeed, {
      resume: job.resume ? job.exp.checkpointDir : undefined,
      warmFrom,
      stop,
      log: (line) => job.port.postMessage(line),
    });
    disposeMeta(tv.meta);
    return { seconds: tv.seconds, trajectories: tv.trajectories, interrupted: null };
  } catch (e) {
    if (e instanceof Interrupted) return { seconds: 0, trajectories: 0, interrupted: e.signal, where: e.where };
    throw e;
  } finally {
    if (warmFrom) disposeMeta(warmFrom);
    job.port.close();
  }
}
