// The learner's side of the Redis transport: a ShardPool whose windows are BullMQ jobs, one
// queue per shard (see redis-protocol.ts for how workers hold shards and recover them).
//
// Meta-parameters are published once per window under a ref (a Redis key holding wire bytes);
// each job names the refs and lengths of all of its shard's windows so far, so whichever worker
// runs it can rebuild the shard. Synchronous mode (staleness 0): window w of every shard runs
// under the meta-parameters the learner passes for window w. Asynchronous mode (staleness s):
// each shard runs ahead by up to s windows under the newest meta-parameters published when its
// window starts, as a learned_optimization-style async learner does; an estimate is then at
// most s versions stale, and each estimate's `staleness` says by how much.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Estimate } from '../../meta/estimator.js';
import type { MetaParams } from '../../meta/params.js';
import type { BatchSpec } from '../../meta/shards.js';
import { decodeEstimate, encodeMeta, packWire, unpackEstimate, type WireEstimate } from '../../meta/wire.js';
import {
  BULL_PREFIX,
  DEFAULT_QUEUE,
  DEFAULT_TIMINGS,
  RELEASE_LEASE,
  RENEW_LEASE,
  SWAP_LEASE,
  checkQueueName,
  probeRedis,
  keys,
  redisOptions,
  shardQueueName,
  type RedisTimings,
  type WindowJob,
  type WindowResult,
} from './redis-protocol.js';
import type { WorkerShardPool } from './threads.js';
import { pidAlive } from '../../run/dir-lock.js';

export interface RedisPoolOptions {
  redis: string;
  queue?: string;
  /** The run's plain-JSON spec (a RunSpec for the built-in parts). */
  spec: unknown;
  /** Shards per batch (run at least this many worker processes for full speed). */
  shards: number;
  /** 0: synchronous; s > 0: estimates may be up to s meta-parameter versions stale. */
  staleness?: number;
  /** Window lengths of every batch, needed to run ahead in asynchronous mode. */
  schedule?: readonly number[];
  timings?: Partial<RedisTimings>;
  /** A window not done after this long is an error naming the shard (default 30 min). */
  windowTimeoutMs?: number;
}

export interface RedisShardPool extends WorkerShardPool {
  /** Run id (the prefix of its Redis keys). */
  readonly run: string;
}

interface Done {
  est: WireEstimate;
  ref: string;
  length: number;
}

interface Chain {
  refs: string[];
  lengths: number[];
  results: Map<number, Promise<Done>>;
  next: number;
  busy: boolean;
}

export async function redisShards(opts: RedisPoolOptions): Promise<RedisShardPool> {
  const queue = checkQueueName(opts.queue ?? DEFAULT_QUEUE);
  if (!Number.isInteger(opts.shards) || opts.shards < 1) throw new Error(`workers: expected a positive integer, got ${opts.shards}`);
  const stale = opts.staleness ?? 0;
  if (!Number.isInteger(stale) || stale < 0) throw new Error(`staleness: expected an integer >= 0, got ${stale}`);
  if (stale > 0 && !opts.schedule?.length) throw new Error('staleness > 0 needs the window lengths of a batch (schedule)');
  const conn = redisOptions(opts.redis);
  const bull = conn as unknown as ConnectionOptions;
  const t: RedisTimings = { ...DEFAULT_TIMINGS, ...opts.timings };
  const timeout = opts.windowTimeoutMs ?? 30 * 60_000;
  const k = keys(queue);
  const run = randomBytes(6).toString('hex');
  await probeRedis(opts.redis);
  const redis = new Redis(conn);

  // one learner per queue: two would steal each other's workers
  const me = JSON.stringify({ pid: process.pid, host: os.hostname(), run });
  if ((await redis.set(k.learner, me, 'PX', t.leaseMs, 'NX')) !== 'OK') {
    const raw = (await redis.get(k.learner)) ?? '{}';
    const holder = JSON.parse(raw) as { pid?: number; host?: string };
    // a learner of this host that died (a resume right after a kill) need not wait for its lease
    const dead = holder.host === os.hostname() && typeof holder.pid === 'number' && !pidAlive(holder.pid);
    if (!dead || (await redis.eval(SWAP_LEASE, 1, k.learner, raw, me, t.leaseMs)) !== 1) {
      redis.disconnect();
      throw new Error(
        `queue "${queue}" on ${opts.redis} is in use by the learner pid ${holder.pid} on ${holder.host} ` +
          `(a learner that died frees it within ${t.leaseMs} ms): use another --queue`,
      );
    }
  }
  const leaseTimer = setInterval(() => void redis.eval(RENEW_LEASE, 1, k.learner, me, t.leaseMs).catch(() => undefined), Math.floor(t.leaseMs / 3));
  await redis.set(k.spec(run), JSON.stringify(opts.spec));

  const queues: Queue[] = [];
  const events: QueueEvents[] = [];
  for (let s = 0; s < opts.shards; s++) {
    queues.push(new Queue(shardQueueName(queue, s), { connection: bull, prefix: BULL_PREFIX }));
    events.push(new QueueEvents(shardQueueName(queue, s), { connection: bull, prefix: BULL_PREFIX }));
  }
  // jobs of an earlier learner that died are of no use to anyone
  await Promise.all(queues.map((q) => q.drain(true)));
  await Promise.all(events.map((e) => e.waitUntilReady()));
  await redis.set(k.shards, String(opts.shards));

  let refs = 0;
  const versionOf = new Map<string, number>();
  let published: string[] = [];
  async function publish(meta: MetaParams, version: number): Promise<string> {
    const ref = String(refs++);
    await redis.set(k.meta(run, ref), packWire(encodeMeta(meta)), 'PX', 6 * 3_600_000);
    versionOf.set(ref, version);
    published.push(ref);
    return ref;
  }

  let batch: { spec: BatchSpec; chains: Chain[]; asked: number; lengths: number[]; latest: string; version: number } | null = null;

  function launch(s: number, c: Chain, w: number, ref: string, length: number): void {
    const b = batch!;
    c.refs[w + 1] = ref;
    c.lengths[w] = length;
    const data: WindowJob = { run, seed: b.spec.seed, batch: b.spec.batch, shard: s, ids: b.spec.shards[s], window: w, refs: c.refs.slice(0, w + 2), lengths: c.lengths.slice(0, w + 1) };
    const jobId = `${run}.${b.spec.batch}.${s}.${w}.${ref}`;
    const done = (async (): Promise<Done> => {
      const job = await queues[s].add('window', data, { jobId, attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } });
      let r: WindowResult;
      try {
        r = (await job.waitUntilFinished(events[s], timeout)) as WindowResult;
      } catch (e) {
        throw new Error(`shard ${s}, window ${w} of batch ${b.spec.batch}: ${(e as Error).message}`);
      }
      const buf = await redis.getBuffer(r.key);
      if (buf === null) throw new Error(`shard ${s}, window ${w}: estimate ${r.key} is missing`);
      await redis.del(r.key);
      return { est: unpackEstimate(buf, `estimate of shard ${s}`), ref: r.ref, length };
    })();
    c.results.set(w, done);
    c.busy = true;
    c.next = w + 1;
    // the next window of this shard starts when this one is done, if the staleness bound allows
    done.then(
      () => {
        c.busy = false;
        if (batch === b) pump(s);
      },
      () => {
        c.busy = false;
      },
    );
  }

  function pump(s: number): void {
    const b = batch!;
    const c = b.chains[s];
    if (c.busy || c.next >= b.asked + stale) return;
    const w = c.next;
    if (w < b.asked) launch(s, c, w, b.latest, b.lengths[w]);
    else if (opts.schedule && w < opts.schedule.length) launch(s, c, w, b.latest, opts.schedule[w]);
  }

  const pool: RedisShardPool = {
    workers: opts.shards,
    run,
    async begin(spec: BatchSpec, meta: MetaParams) {
      if (batch) await pool.end();
      if (spec.shards.length > opts.shards) throw new Error(`batch ${spec.batch}: ${spec.shards.length} shards, the pool has queues for ${opts.shards}`);
      const ref = await publish(meta, -1);
      const chains = spec.shards.map((): Chain => ({ refs: [ref], lengths: [], results: new Map(), next: 0, busy: false }));
      batch = { spec, chains, asked: 0, lengths: [], latest: ref, version: -1 };
    },
    async window(meta: MetaParams, version: number, length: number): Promise<Estimate[]> {
      const b = batch;
      if (!b) throw new Error('window before begin');
      const w = b.asked;
      if (stale > 0 && opts.schedule![w] !== length) {
        throw new Error(`window ${w}: length ${length}, the asynchronous schedule says ${opts.schedule![w]}`);
      }
      b.latest = await publish(meta, version);
      b.version = version;
      b.lengths[w] = length;
      b.asked++;
      b.chains.forEach((_, s) => pump(s));
      const done = await Promise.all(b.chains.map((c) => c.results.get(w)!));
      const behind = done.map((d) => version - (versionOf.get(d.ref) ?? version));
      for (const c of b.chains) c.results.delete(w);
      return done.map((d, s) => ({ ...decodeEstimate(d.est, `estimate of shard ${s}`), staleness: behind[s] }));
    },
    async end() {
      const b = batch;
      batch = null;
      if (!b) return;
      // windows run ahead in asynchronous mode: let them finish before their inputs go
      await Promise.allSettled(b.chains.flatMap((c) => [...c.results.values()]));
      if (published.length) await redis.del(...published.map((r) => k.meta(run, r)));
      published = [];
      versionOf.clear();
    },
    async close() {
      await pool.end().catch(() => undefined);
      clearInterval(leaseTimer);
      await Promise.all(events.map((e) => e.close()));
      await Promise.all(queues.map((q) => q.close()));
      await redis.del(k.spec(run));
      await redis.eval(RELEASE_LEASE, 1, k.learner, me);
      redis.disconnect();
    },
  };
  return pool;
}
