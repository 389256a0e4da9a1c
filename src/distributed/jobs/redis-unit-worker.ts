// The worker side of units on Redis (see redis-units.ts): takes one unit job at a time from
// `<queue>-units`, trains it in a thread (unit-worker.ts, as `--jobs` does locally) in the
// unit's checkpoint directory as the job's config names it here, resuming from a checkpoint
// found there, and puts the unit's final checkpoint into Redis for the study's process.
// Progress lines go to the study's process as job progress.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { currentBackend } from '../../backend/index.js';
import { Piscina } from 'piscina';
import { resolveOrThrow, trainedEntry } from '../../meta/config.js';
import { loadedPlugins } from '../../config/plugins.js';
import { hasCheckpoint, importSlot, newestSlot } from '../../meta/checkpoint.js';
import { checkpointDirOf } from '../../meta/paths.js';
import { siblingUrl } from '../workers/parts.js';
import { DEFAULT_TIMINGS, checkQueueName, probeRedis, redisOptions, workerOptions, type RedisTimings } from '../workers/redis-protocol.js';
import { signalCode, type UnitJob, type UnitJobResult } from './unit-job.js';
import { SLOT_TTL_MS, packSlot, slotKey, unitQueueName, unpackSlot, type RedisUnitJob, type RedisUnitResult } from './redis-units.js';

export interface UnitWorkerOptions {
  redis: string;
  queue: string;
  timings?: Partial<RedisTimings>;
  log?: (line: string) => void;
}

export interface UnitWorkerHandle {
  readonly id: string;
  /** Units trained to the end by this worker. */
  units(): number;
  close(): Promise<void>;
}

export async function startUnitWorker(o: UnitWorkerOptions): Promise<UnitWorkerHandle> {
  const queue = checkQueueName(o.queue);
  const t: RedisTimings = { ...DEFAULT_TIMINGS, ...o.timings };
  const log = o.log ?? (() => undefined);
  await probeRedis(o.redis);
  const redis = new Redis(redisOptions(o.redis));
  const id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const thread = new Piscina({ filename: siblingUrl('./unit-worker.js', import.meta.url), minThreads: 0, maxThreads: 1, idleTimeout: 1000 });
  // set when this worker closes: the unit stops at its next batch, checkpointed
  const stop = new SharedArrayBuffer(4);
  const backend = currentBackend();
  let done = 0;

  async function train(job: Job<RedisUnitJob, RedisUnitResult>): Promise<RedisUnitResult> {
    const d = job.data;
    const who = `${d.label} seed ${d.metaSeed}`;
    const root = d.exp.checkpointDir;
    // a warm start's source, trained elsewhere: its checkpoint comes from Redis
    const rv = trainedEntry(resolveOrThrow(d.exp, d.source), d.label, d.source);
    const from = rv.train.warmStart;
    if (from && !hasCheckpoint(checkpointDirOf(root, from, d.metaSeed))) {
      const buf = await redis.getBuffer(slotKey(queue, d.runId, from, d.metaSeed));
      if (buf === null) throw new Error(`${who}: warm start from ${from}, whose checkpoint is neither here nor in Redis`);
      importSlot(checkpointDirOf(root, from, d.metaSeed), unpackSlot(buf, `${from} seed ${d.metaSeed}'s checkpoint`));
    }
    const dir = checkpointDirOf(root, d.label, d.metaSeed);
    const resume = hasCheckpoint(dir);
    log(`${who}: ${resume ? 'resuming' : 'training'} (job ${job.id})`);
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (line: string) => void job.updateProgress({ line: `[${id}] ${line}` }).catch(() => undefined));
    let r: UnitJobResult;
    try {
      const unit: UnitJob & { port: typeof port2 } = { exp: d.exp, source: d.source, label: d.label, metaSeed: d.metaSeed, resume, backend, plugins: loadedPlugins(), stop, port: port2 };
      r = (await thread.run(unit, { transferList: [port2] })) as UnitJobResult;
    } finally {
      port1.close();
    }
    if (r.interrupted) throw new Error(`${who}: stopped on worker ${id} (${r.interrupted}) ${r.where ?? ''}; checkpointed, it goes on elsewhere`);
    const slot = newestSlot(dir);
    if (!slot) throw new Error(`${who}: trained, but ${dir} holds no checkpoint`);
    await redis.set(slotKey(queue, d.runId, d.label, d.metaSeed), packSlot(slot), 'PX', SLOT_TTL_MS);
    done++;
    return { seconds: r.seconds, trajectories: r.trajectories, worker: id, slot: slot.slot };
  }

  const worker = new Worker<RedisUnitJob, RedisUnitResult>(unitQueueName(queue), train, workerOptions(o.redis, id, t));
  worker.on('error', (e) => log(`units: ${e.message}`));
  return {
    id,
    units: () => done,
    async close() {
      Atomics.store(new Int32Array(stop), 0, signalCode('SIGTERM'));
      await worker.close();
      await thread.destroy();
      redis.disconnect();
    },
  };
}
