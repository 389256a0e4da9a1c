// The worker-thread side of the thread pool: one thread hosts a ShardRunner over its fixed
// shards for a whole batch (inner parameters and estimator state stay here); meta-parameters
// come in and estimates go out as Float32Arrays with a JSON layout (src/meta/wire.ts).
import * as tf from '@tensorflow/tfjs';
import { Piscina } from 'piscina';
import { initBackend } from '../../backend/index.js';
import type { ShardContext } from '../estimator.js';
import { disposeMeta } from '../params.js';
import { ShardRunner } from '../shards.js';
import { decodeMeta, encodeEstimate, type WireEstimate, type WireTensors } from '../wire.js';
import { loadParts, type PartsSource } from './parts.js';

export type ThreadRequest =
  | { op: 'init'; backend: string; parts: PartsSource; spec: unknown }
  | { op: 'begin'; ctx: ShardContext[]; meta: WireTensors }
  | { op: 'window'; meta: WireTensors; length: number }
  | { op: 'end' }
  | { op: 'tensors' };

let runner: ShardRunner | null = null;

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
      await initBackend(req.backend);
      runner = new ShardRunner(await loadParts(req.parts, req.spec));
      return null;
    }
    case 'begin':
      withMeta(req.meta, (m) => need().begin(req.ctx, m));
      return null;
    case 'window': {
      const es = withMeta(req.meta, (m) => need().window(m, req.length));
      const out: WireEstimate[] = es.map((e) => {
        const w = encodeEstimate(e);
        for (const g of Object.values(e.grads)) tf.dispose(Object.values(g));
        return w;
      });
      // the gradients' buffers are moved, not copied, to the learner
      const moved = { [Piscina.transferableSymbol]: out.map((w) => w.grads.data.buffer), [Piscina.valueSymbol]: out };
      return Piscina.move(moved as unknown as Parameters<typeof Piscina.move>[0]);
    }
    case 'end':
      runner?.end();
      return null;
    case 'tensors':
      return tf.memory().numTensors;
  }
}

function need(): ShardRunner {
  if (!runner) throw new Error('worker thread: not initialised');
  return runner;
}
