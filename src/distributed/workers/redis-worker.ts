// A Redis gradient worker: holds leases on shards (see redis-protocol.ts), consumes their
// window jobs with BullMQ, keeps each shard's trajectories between windows (in a compute
// thread, one slot per shard) and rebuilds them by deterministic replay when a job arrives
// that its state does not match (a shard taken over from a dead worker, or a new run).
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { currentBackend } from '../../backend/index.js';
import { Piscina } from 'piscina';
import { packEstimate, unpackWire, type WireEstimate, type WireTensors } from '../../meta/wire.js';
import { siblingUrl, type PartsSource } from './parts.js';
import type { ThreadRequest } from './thread-worker.js';
import {
  DEFAULT_TIMINGS,
  RELEASE_LEASE,
  RENEW_LEASE,
  checkQueueName,
  probeRedis,
  keys,
  redisOptions,
  shardQueueName,
  workerOptions,
  type RedisTimings,
  type WindowJob,
  type WindowResult,
} from './redis-protocol.js';

export interface RedisWorkerOptions {
  redis: string;
  queue: string;
  parts: PartsSource;
  timings?: Partial<RedisTimings>;
  /** Called with one line per event (takes a shard, replays, ...). */
  log?: (line: string) => void;
}

/** What the thread's slot for a shard holds: the batch and the windows it has run. */
interface ShardState {
  batch: number;
  /** refs and lengths of the windows done so far (refs[0] is the batch's begin). */
  refs: string[];
  lengths: number[];
}

export interface RedisWorkerHandle {
  readonly id: string;
  /** Shards this worker holds now. */
  shards(): number[];
  /** Windows computed and windows replayed so far. */
  stats(): { windows: number; replayed: number };
  close(): Promise<void>;
}

export async function startRedisWorker(opts: RedisWorkerOptions): Promise<RedisWorkerHandle> {
  const queue = checkQueueName(opts.queue);
  const conn = redisOptions(opts.redis);
  const t: RedisTimings = { ...DEFAULT_TIMINGS, ...opts.timings };
  const log = opts.log ?? (() => undefined);
  const k = keys(queue);
  const id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  await probeRedis(opts.redis);
  const redis = new Redis(conn);
  const consumers = new Map<number, Worker>();
  const states = new Map<number, ShardState>();
  // windows compute in a thread of their own: this thread keeps renewing leases and job locks
  const thread = new Piscina({ filename: siblingUrl('./thread-worker.js', import.meta.url), minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
  const call = (req: ThreadRequest) => thread.run(req);
  const backend = currentBackend();
  let currentRun: string | null = null;
  let windows = 0, replayed = 0, closing = false;

  /** Build the run's parts in the thread (once per run: a new run replaces the old one). */
  async function useRun(run: string): Promise<void> {
    if (currentRun === run) return;
    const raw = await redis.get(k.spec(run));
    if (raw === null) throw new Error(`run ${run}: no spec at ${k.spec(run)} (the learner has gone)`);
    states.clear();
    currentRun = null;
    await call({ op: 'init', backend, parts: opts.parts, spec: JSON.parse(raw) });
    currentRun = run;
  }

  async function metaOf(run: string, ref: string): Promise<WireTensors> {
    const buf = await redis.getBuffer(k.meta(run, ref));
    if (buf === null) throw new Error(`run ${run}: meta-parameters ${ref} are gone`);
    return unpackWire(buf, `meta-parameters ${ref}`).wire;
  }

  const prefixOf = (a: readonly unknown[], b: readonly unknown[], n: number) => a.length === n && a.every((x, i) => x === b[i]);

  async function runJob(job: Job<WindowJob>): Promise<WindowResult> {
    try {
      return await windowJob(job.data);
    } catch (e) {
      // a window that failed half-way leaves the shard's state unusable: rebuild it next time
      states.delete(job.data.shard);
      throw e;
    }
  }

  async function windowJob(d: WindowJob): Promise<WindowResult> {
    await useRun(d.run);
    const slot = String(d.shard);
    let st = states.get(d.shard);
    const w = d.window;
    const fits = st && st.batch === d.batch && prefixOf(st.refs, d.refs, w + 1) && prefixOf(st.lengths, d.lengths, w);
    let rep = 0;
    if (!fits) {
      // rebuild the shard: sample its problems, start them, replay windows 0..w-1
      states.delete(d.shard);
      await call({ op: 'begin', slot, ctx: [{ seed: d.seed, batch: d.batch, ids: d.ids }], meta: await metaOf(d.run, d.refs[0]) });
      st = { batch: d.batch, refs: [d.refs[0]], lengths: [] };
      for (let i = 0; i < w; i++) {
        await call({ op: 'window', slot, meta: await metaOf(d.run, d.refs[i + 1]), length: d.lengths[i], discard: true });
        st.refs.push(d.refs[i + 1]);
        st.lengths.push(d.lengths[i]);
        rep++;
      }
      states.set(d.shard, st);
      if (w > 0) log(`shard ${d.shard}: replayed ${w} window(s) of batch ${d.batch}`);
    }
    const ref = d.refs[w + 1];
    const [est] = (await call({ op: 'window', slot, meta: await metaOf(d.run, ref), length: d.lengths[w] })) as WireEstimate[];
    st!.refs.push(ref);
    st!.lengths.push(d.lengths[w]);
    const key = k.estimate(d.run, d.batch, d.shard, w, ref);
    await redis.set(key, packEstimate({ ...est, worker: id }), 'PX', 3_600_000);
    windows++;
    replayed += rep;
    return { key, ref, replayed: rep, worker: id };
  }

  function consume(shard: number): void {
    const worker = new Worker<WindowJob, WindowResult>(shardQueueName(queue, shard), runJob, workerOptions(opts.redis, id, t));
    worker.on('error', (e) => log(`shard ${shard}: ${e.message}`));
    consumers.set(shard, worker);
    log(`took shard ${shard}`);
  }

  /** Stop consuming a shard: `force` when the lease is already lost, else after the job in hand. */
  async function release(shard: number, force: boolean): Promise<void> {
    const w = consumers.get(shard);
    consumers.delete(shard);
    await w?.close(force);
    states.delete(shard);
    await call({ op: 'end', slot: String(shard) }).catch(() => undefined);
  }

  // Leases: keep ours, take free shards up to a fair share, give up those we lost.
  async function tick(): Promise<void> {
    const now = Date.now();
    await redis.zadd(k.alive, now + t.leaseMs, id);
    await redis.zremrangebyscore(k.alive, '-inf', now);
    const live = Math.max(1, await redis.zcard(k.alive));
    const shards = Number((await redis.get(k.shards)) ?? 0);
    for (const s of [...consumers.keys()]) {
      const held = s < shards && (await redis.eval(RENEW_LEASE, 1, k.owner(s), id, t.leaseMs)) === 1;
      if (!held) {
        log(`lost shard ${s}`);
        await release(s, true);
      }
    }
    const fair = Math.ceil(shards / live);
    // more than a fair share (a worker joined): hand the last ones back for it to take
    for (const s of [...consumers.keys()].sort((a, b) => b - a).slice(0, Math.max(0, consumers.size - fair))) {
      log(`hands shard ${s} to another worker`);
      await release(s, false);
      await redis.eval(RELEASE_LEASE, 1, k.owner(s), id);
    }
    // start from a point that differs between workers, so they do not race for one shard
    const start = parseInt(id.slice(-6), 16) % Math.max(1, shards);
    for (let i = 0; i < shards && consumers.size < fair; i++) {
      const s = (start + i) % shards;
      if (consumers.has(s)) continue;
      if ((await redis.set(k.owner(s), id, 'PX', t.leaseMs, 'NX')) === 'OK') consume(s);
    }
  }

  let timer: NodeJS.Timeout | null = null;
  const loop = async () => {
    try {
      await tick();
    } catch (e) {
      if (!closing) log(`lease update failed: ${(e as Error).message}`);
    }
    if (!closing) timer = setTimeout(loop, Math.max(50, Math.floor(t.leaseMs / 3)));
  };
  await loop();

  return {
    id,
    shards: () => [...consumers.keys()].sort((a, b) => a - b),
    stats: () => ({ windows, replayed }),
    async close() {
      closing = true;
      if (timer) clearTimeout(timer);
      for (const s of [...consumers.keys()]) {
        await release(s, false);
        await redis.eval(RELEASE_LEASE, 1, k.owner(s), id);
      }
      await redis.zrem(k.alive, id);
      redis.disconnect();
      await thread.destroy();
    },
  };
}
