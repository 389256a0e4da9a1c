// A minimal synchronous learner over a ShardPool and the toy parts: SGD on the combined
// estimate of every window. It checks pools against each other, not the meta-learning core.
import * as tf from '@tensorflow/tfjs';
import { combineEstimates, disposeEstimate } from '../../src/meta/estimator.js';
import { disposeMeta, flattenMeta, type MetaParams } from '../../src/meta/params.js';
import { shardIds, type ShardPool } from '../../src/meta/shards.js';
import { initToyMeta, type ToySpec } from '../../src/meta/workers/toy.js';

export interface ToyRun {
  batches: number;
  batchSize: number;
  shards: number;
  windows: number[];
  lr: number;
  seed: number;
}

/** Final meta-parameters (flat, by name) and every window's combined meta-loss. */
export async function trainToy(pool: ShardPool, spec: ToySpec, run: ToyRun, onWindow?: (b: number, w: number) => void) {
  let meta: MetaParams = initToyMeta(spec);
  const losses: number[] = [];
  let version = 0;
  for (let b = 0; b < run.batches; b++) {
    const ids = Array.from({ length: run.batchSize }, (_, i) => b * run.batchSize + i);
    await pool.begin({ seed: run.seed, batch: b, shards: shardIds(ids, run.shards) }, meta);
    for (let w = 0; w < run.windows.length; w++) {
      const es = await pool.window(meta, version, run.windows[w]);
      const c = combineEstimates(es);
      es.forEach(disposeEstimate);
      losses.push(c.metaLoss);
      const next: MetaParams = { update: {} };
      for (const [k, t] of Object.entries(meta.update)) next.update[k] = tf.tidy(() => tf.sub(t, tf.mul(run.lr, c.grads.update[k])));
      disposeEstimate(c);
      disposeMeta(meta);
      meta = next;
      version++;
      onWindow?.(b, w);
    }
    await pool.end();
  }
  const flat = Object.fromEntries(Object.entries(flattenMeta(meta)).map(([k, t]) => [k, Array.from(t.dataSync())]));
  disposeMeta(meta);
  return { meta: flat, losses };
}
