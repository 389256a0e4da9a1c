// A ShardPool over worker threads (piscina). Piscina hands a task to any free thread, but a
// shard's trajectories live in the thread that started them, so each thread is its own Piscina
// with exactly one thread (minThreads = maxThreads = 1, never idled out): thread t receives
// every request for its fixed, contiguous block of shard indices for the whole batch.
// Estimates come back in shard order and the learner combines them in that order, so the
// result does not depend on the number of threads for a fixed shard split.
import os from 'node:os';
import { currentBackend } from '../../backend/index.js';
import { Piscina } from 'piscina';
import type { Estimate } from '../../meta/estimator.js';
import type { MetaParams } from '../../meta/params.js';
import { shardIds, type BatchSpec, type ShardPool } from '../../meta/shards.js';
import { decodeEstimate, encodeMeta, type WireEstimate, type WireTensors } from '../../meta/wire.js';
import { siblingUrl, type PartsSource } from './parts.js';
import { loadedPlugins } from '../../config/plugins.js';
import type { ThreadRequest } from './thread-worker.js';

export interface ThreadPoolOptions {
  /** Worker threads (>= 1). */
  workers: number;
  /** The run's plain-JSON spec (a RunSpec for the built-in parts). */
  spec: unknown;
  parts: PartsSource;
  /** tfjs backend of the threads (default: the backend in use here). */
  backend?: string;
}

export interface WorkerShardPool extends ShardPool {
  /** Workers serving the pool: the learner splits each batch into this many shards. */
  readonly workers: number;
}

export const defaultWorkers = (): number => Math.max(1, os.availableParallelism?.() ?? os.cpus().length);

/** Contiguous blocks of shard indices, one per thread (threads beyond the shard count idle). */
export const threadBlocks = (shards: number, threads: number): number[][] =>
  shardIds(Array.from({ length: shards }, (_, k) => k), threads);

export interface ThreadShardPool extends WorkerShardPool {
  /** Live tensors in each thread (leak checks). */
  tensors(): Promise<number[]>;
}

export async function threadShards(opts: ThreadPoolOptions): Promise<ThreadShardPool> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`workers: expected a positive integer, got ${opts.workers}`);
  const filename = siblingUrl('./thread-worker.js', import.meta.url);
  const threads = Array.from(
    { length: opts.workers },
    () => new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, concurrentTasksPerWorker: 1 }),
  );
  const call = (t: number, req: ThreadRequest) => threads[t].run(req);
  const backend = opts.backend ?? currentBackend();
  try {
    await Promise.all(threads.map((_, t) => call(t, { op: 'init', backend, parts: opts.parts, spec: opts.spec, plugins: loadedPlugins() })));
  } catch (e) {
    await Promise.all(threads.map((p) => p.destroy()));
    throw e;
  }
  let blocks: number[][] = [];
  const toAll = (req: (t: number) => ThreadRequest) => Promise.all(blocks.map((_, t) => call(t, req(t))));
  return {
    workers: opts.workers,
    async begin(spec: BatchSpec, meta: MetaParams) {
      blocks = threadBlocks(spec.shards.length, opts.workers);
      const w = encodeMeta(meta, true);
      await toAll((t) => ({ op: 'begin', meta: w, ctx: blocks[t].map((k) => ({ seed: spec.seed, batch: spec.batch, ids: spec.shards[k] })) }));
    },
    async window(meta: MetaParams, _version: number, length: number): Promise<Estimate[]> {
      const w: WireTensors = encodeMeta(meta, true);
      const out = (await toAll(() => ({ op: 'window', meta: w, length }))) as WireEstimate[][];
      return out.flat().map((e) => decodeEstimate(e, 'worker thread estimate'));
    },
    async end() {
      await toAll(() => ({ op: 'end' }));
      blocks = [];
    },
    tensors: async () => (await Promise.all(threads.map((_, t) => call(t, { op: 'tensors' })))) as number[],
    async close() {
      await Promise.all(threads.map((_, t) => call(t, { op: 'end' }).catch(() => undefined)));
      await Promise.all(threads.map((p) => p.destroy()));
    },
  };
}
