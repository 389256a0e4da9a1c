// The learner's worker options, shared by the commands that meta-train: --workers, --redis,
// --queue, --staleness. `poolOptions` turns them into createShardPool's options (checked
// before any work starts).
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_QUEUE, defaultWorkers, type CreatePoolOptions } from '../../distributed/workers/index.js';
import { checkQueueName, redisOptions } from '../../distributed/workers/redis-protocol.js';

export interface PoolFlags {
  workers?: number;
  redis?: string;
  queue?: string;
  staleness?: number;
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer.');
  return n;
}

export function positiveInt(v: string): number {
  const n = nonNegativeInt(v);
  if (n === 0) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function addPoolOptions(cmd: Command): Command {
  return cmd
    .option('--workers <n>', `gradient workers: worker threads, e.g. the cores (${defaultWorkers()} here); default 0: in this process (measured no faster with threads on 2 cores, docs/design/workers.md); with --redis the shards per batch (default 2)`, nonNegativeInt)
    .option('--redis <url>', 'send windows to `symtele worker` processes through this Redis server (redis://host:6379)')
    .option('--queue <name>', 'queue name on the Redis server (one learner per queue)', DEFAULT_QUEUE)
    .option('--staleness <s>', 'with --redis: 0 synchronous, s > 0 estimates up to s meta-parameter versions stale', nonNegativeInt);
}

/** createShardPool's options from the flags, less the spec (checked now, before any work). */
export function poolOptions(f: PoolFlags): Omit<CreatePoolOptions, 'spec'> {
  if (f.redis !== undefined) {
    redisOptions(f.redis);
    checkQueueName(f.queue ?? DEFAULT_QUEUE);
    if (f.workers === 0) throw new InvalidArgumentError('--workers 0 with --redis: expected at least one shard.');
    return { workers: f.workers ?? 2, redis: f.redis, queue: f.queue, staleness: f.staleness ?? 0 };
  }
  if (f.staleness) throw new InvalidArgumentError('--staleness needs --redis (local workers are synchronous).');
  return { workers: f.workers ?? 0 };
}
