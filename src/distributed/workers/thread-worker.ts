// The worker-thread side of the thread pool: one thread hosts ShardRunners over its fixed
// shards for a whole batch (inner parameters and estimator state stay here); meta-parameters
// come in and estimates go out as Float32Arrays with a JSON layout (src/meta/wire.ts). A Redis
// worker process computes here too, one slot per shard it holds, so that its main thread stays
// free to renew its leases and job locks while a window computes.
import * as tf from '@tensorflow/tfjs';
import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { initBackend } from '../../backend/index.js';
import { disposeEstimate, type ShardContext } from '../../meta/estimator.js';
import { disposeMeta } from '../../meta/params.js';
import { ShardRunner, type ShardWorkerParts } from '../../meta/shards.js';
import { decodeMeta, encodeEstimate, type WireEstimate, type WireTensors } from '../../meta/wire.js';
import { loadParts, type PartsSource } from './parts.js';

export type ThreadRequest =
  | { op: 'init'; backend: string; parts: PartsSource; spec: unknown; plugins?: string[] }
  | { op: 'begin'; slot?: string; ctx: ShardContext[]; meta: WireTensors }
  | { op: 'window'; slot?: string; meta: WireTensors; length: number; discard?: boolean }
  | { op: 'end'; slot?: string }
  | { op: 'tensors' };

let parts: ShardWorkerParts | null = null;
const runners = new Map<string, ShardRunner>();

function endAll(): void {
  for (const r of runners.values()) r.end();
  runners.clear();
}

function withMeta<T>(w: WireTensors, f: (m: ReturnType<typeof decodeMeta>) => T): T {
  const meta = decodeMeta(w, 'worker thread: meta-parameters');
  try {
    return f(meta);
  } finally {
    disposeMeta(meta);
  }
}

export default async function handle(req: ThreadRequest): Promise<unknown> {
  switch (req.op) {
    case 'init': {
      // again for a new run (a Redis worker serves one learner after another)
      await initBackend(req.backend);
      endAll();
      parts = await loadParts(req.parts, req.spec, req.plugins);
      return null;
    }
    case 'begin': {
      if (!parts) throw new Error('worker thread: not initialised');
      const slot = req.slot ?? '0';
      runners.get(slot)?.end();
      const r = new ShardRunner(parts);
      runners.set(slot, r);
      withMeta(req.meta, (m) => r.begin(req.ctx, m));
      return null;
    }
    case 'window': {
      const es = withMeta(req.meta, (m) => need(req.slot).window(m, req.length));
      if (req.discard) {
        // a replayed window: only the state it leaves matters
        es.forEach(disposeEstimate);
        return null;
      }
      const out: WireEstimate[] = es.map((e) => {
        const w = encodeEstimate({ ...e, worker: `thread ${threadId}` }); // a Redis worker relabels it with its id
        for (const g of Object.values(e.grads)) tf.dispose(Object.values(g));
        return w;
      });
      // the gradients' buffers are moved, not copied, to the learner
      const moved = { [Piscina.transferableSymbol]: out.map((w) => w.grads.data.buffer), [Piscina.valueSymbol]: out };
      return Piscina.move(moved as unknown as Parameters<typeof Piscina.move>[0]);
    }
    case 'end':
      if (req.slot === undefined) endAll();
      else {
        runners.get(req.slot)?.end();
        runners.delete(req.slot);
      }
      return null;
    case 'tensors':
      return tf.memory().numTensors;
  }
}

function need(slot = '0'): ShardRunner {
  const r = runners.get(slot);
  if (!r) throw new Error(`worker thread: no shard state in slot ${slot} (window before begin)`);
  return r;
}
