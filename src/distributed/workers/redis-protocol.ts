// What a learner and its Redis workers agree on: key names, queue names, job data, leases.
//
// One BullMQ queue per shard index ("<queue>-shard-<k>"); a worker process consumes the
// queues of the shards it holds a lease on (owner key with a TTL), so a shard's trajectories
// stay in one process between windows. A worker takes at most its fair share of shards
// (ceil(shards / live workers)); when one dies its alive entry and shard leases expire, a
// survivor takes the shard over, and BullMQ's stalled-job check (run by the survivor's Worker
// on that queue) moves the job that was active back to waiting. The survivor lacks the shard's
// state, so it replays the batch's earlier windows from the meta-parameter versions the job
// carries: every window is a deterministic function of (run spec, batch, shard ids, the
// versions and lengths of the windows before it), so nothing is lost and a synchronous run
// gives the same numbers as an uninterrupted one.
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisTimings {
  /** TTL of a worker's alive entry and shard leases (renewed every third of it). */
  leaseMs: number;
  /** BullMQ job lock duration: a job whose worker stops renewing it is stalled after this. */
  lockMs: number;
  /** How often BullMQ checks for stalled jobs. */
  stalledIntervalMs: number;
}

export const DEFAULT_TIMINGS: RedisTimings = { leaseMs: 15000, lockMs: 30000, stalledIntervalMs: 5000 };

export const DEFAULT_QUEUE = 'symtele';

/** A window job: shard `shard` of batch `batch`, window `window`, and how to get there. */
export interface WindowJob {
  run: string;
  seed: number;
  batch: number;
  shard: number;
  ids: number[];
  window: number;
  /** Meta-parameter refs: [begin, window 0, ..., window `window`]. */
  refs: string[];
  /** Lengths of windows 0..window. */
  lengths: number[];
}

export interface WindowResult {
  /** Key of the packed estimate. */
  key: string;
  /** Ref the window was computed with (the last of the job's refs). */
  ref: string;
  /** Windows replayed first (0 when the worker held the shard's state). */
  replayed: number;
  worker: string;
}

export const keys = (queue: string) => ({
  learner: `${queue}:learner`,
  alive: `${queue}:alive`,
  shards: `${queue}:shards`,
  owner: (k: number) => `${queue}:owner:${k}`,
  spec: (run: string) => `${queue}:spec:${run}`,
  meta: (run: string, ref: string) => `${queue}:meta:${run}:${ref}`,
  estimate: (run: string, batch: number, shard: number, window: number, ref: string) => `${queue}:est:${run}:${batch}:${shard}:${window}:${ref}`,
});

export const shardQueueName = (queue: string, k: number): string => `${queue}-shard-${k}`;

/** BullMQ's key prefix for our queues. */
export const BULL_PREFIX = 'symtele-bull';

/**
 * Options of a BullMQ Worker of ours: one job at a time, named by the worker's id, our lock
 * timings; a dead worker's job is not a failed job, so it is handed on however often that
 * happens (BullMQ's stalled-job check).
 */
export const workerOptions = (url: string, id: string, t: RedisTimings) => ({
  connection: redisOptions(url) as unknown as ConnectionOptions,
  prefix: BULL_PREFIX,
  name: id,
  concurrency: 1,
  lockDuration: t.lockMs,
  stalledInterval: t.stalledIntervalMs,
  maxStalledCount: 1000,
});

export function checkQueueName(queue: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(queue)) throw new Error(`queue: expected 1-64 letters, digits, '_', '.' or '-', got "${queue}"`);
  return queue;
}

/** ioredis options from a redis:// (or rediss://) URL, checked before anything connects. */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis: expected a URL like redis://host:6379, got "${url}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis: expected a redis:// or rediss:// URL, got "${url}"`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new Error(`--redis: the path of "${url}" must be a database number`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking connections need this; commands wait for a reconnect instead of failing
    maxRetriesPerRequest: null,
  };
}

/** Renew a lease only if we still hold it (atomic). */
export const RENEW_LEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Replace a lease holder by another, only if it is still the one we judged. */
export const SWAP_LEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end`;

export const RELEASE_LEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Fail fast with a clear message when the server cannot be reached (the working connections retry forever). */
export async function probeRedis(url: string): Promise<void> {
  const c = new Redis({ ...redisOptions(url), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  let cause = '';
  c.on('error', (e: Error) => (cause ||= e.message));
  try {
    await c.connect();
    await c.ping();
  } catch (e) {
    throw new Error(`--redis ${url}: cannot reach the server (${cause || (e as Error).message})`);
  } finally {
    c.disconnect();
  }
}
