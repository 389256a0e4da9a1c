// The one entry point the learner calls: a ShardPool of worker threads (default), of Redis
// workers (`redis` set), or in this process (`workers: 0`).
import { localShards } from '../../meta/shards.js';
import { BUILTIN_PARTS, loadParts, type PartsSource, type RunSpec } from './parts.js';
import { redisShards } from './redis-pool.js';
import type { RedisTimings } from './redis-protocol.js';
import { defaultWorkers, threadShards, type WorkerShardPool } from './threads.js';

export interface CreatePoolOptions {
  /** Shards per batch = worker threads (default: the cores here; 0: in this process), or with `redis` the number of shards. */
  workers?: number;
  /** redis://host:port: windows go to `symtele worker` processes through this server. */
  redis?: string;
  /** Queue name on the Redis server (one learner per queue). */
  queue?: string;
  /** Redis only: 0 synchronous (default), s > 0 estimates up to s versions stale. */
  staleness?: number;
  /** Redis asynchronous mode: window lengths of a batch. */
  schedule?: readonly number[];
  spec: RunSpec;
  /** How workers build their family and estimator (default: the meta-learning core's builder). */
  parts?: PartsSource;
  timings?: Partial<RedisTimings>;
}

export async function createShardPool(o: CreatePoolOptions): Promise<WorkerShardPool> {
  const parts = o.parts ?? BUILTIN_PARTS;
  if (o.redis !== undefined) {
    return redisShards({ redis: o.redis, queue: o.queue, spec: o.spec, shards: o.workers ?? 2, staleness: o.staleness, schedule: o.schedule, timings: o.timings });
  }
  if (o.staleness) throw new Error('staleness: asynchronous mode needs --redis (local workers are synchronous)');
  const workers = o.workers ?? defaultWorkers();
  if (workers === 0) return { ...localShards(await loadParts(parts, o.spec)), workers: 1 };
  return threadShards({ workers, spec: o.spec, parts });
}

export { BUILTIN_PARTS, TOY_PARTS, loadParts, type PartsSource, type RunSpec } from './parts.js';
export { defaultWorkers, threadShards, type WorkerShardPool } from './threads.js';
export { redisShards, type RedisShardPool } from './redis-pool.js';
export { startRedisWorker, type RedisWorkerHandle } from './redis-worker.js';
export { DEFAULT_QUEUE, DEFAULT_TIMINGS, type RedisTimings } from './redis-protocol.js';
