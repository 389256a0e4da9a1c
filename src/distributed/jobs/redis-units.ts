// Units of a study (learned variant x meta-seed) as jobs on a Redis queue (BullMQ): any
// `symtele worker --redis` trains a whole unit in a thread, in the unit's checkpoint directory
// as the config names it on that machine, and hands the unit's final checkpoint back through
// Redis; the study's process commits it into its own checkpoint directory (unless it is already
// there: one machine, or a shared file system) and evaluates when all are done.
//
// Job ids are (study run id, unit): a study resumed after its process died finds the jobs still
// queued or running and waits for them; a job whose worker dies is moved back to waiting by
// BullMQ's stalled-job check and taken by another worker, which resumes from the unit's newest
// checkpoint when it sees one (one machine, a shared file system), else trains it from the start:
// a unit is a deterministic function of its config and seed, so the result is the same.
import { createHash } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { MetaExperiment } from '../../meta/config.js';
import type { StopFlag } from '../../meta/interrupt.js';
import { importSlot, type SlotFiles } from '../../meta/checkpoint.js';
import { checkpointDirOf } from '../../meta/paths.js';
import { packWire, unpackWire } from '../../meta/wire.js';
import { BULL_PREFIX, checkQueueName, probeRedis, redisOptions } from '../workers/redis-protocol.js';
import type { UnitJobResult, UnitPool } from './unit-job.js';

/** The queue of unit jobs beside a learner queue's shard queues. */
export const unitQueueName = (queue: string): string => `${queue}-units`;

/** Where a finished unit's checkpoint waits for the study's process (a week). */
export const slotKey = (queue: string, runId: string, label: string, metaSeed: number): string => `${queue}:unit-slot:${unitId(runId, label, metaSeed)}`;
export const SLOT_TTL_MS = 7 * 24 * 3600 * 1000;

export const unitId = (runId: string, label: string, metaSeed: number): string =>
  `u${createHash('sha256').update(JSON.stringify([runId, label, metaSeed])).digest('hex').slice(0, 24)}`;

export interface RedisUnitJob {
  exp: MetaExperiment;
  source: string;
  runId: string;
  label: string;
  metaSeed: number;
}

export interface RedisUnitResult {
  seconds: number;
  trajectories: number;
  worker: string;
  /** The unit's final checkpoint slot (its files are at slotKey). */
  slot: string;
}

/** A slot's files as one Redis value: wire bytes (wire.ts) of tensors.bin, the slot name and manifest in the header. */
export function packSlot(f: SlotFiles): Buffer {
  if (f.tensors.byteLength % 4 !== 0) throw new Error(`${f.slot}: tensors.bin has ${f.tensors.byteLength} bytes, not whole float32s`);
  const n = f.tensors.byteLength / 4;
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(f.tensors);
  return packWire({ layout: [{ name: 'tensors.bin', shape: [n], offset: 0, length: n }], data }, { slot: f.slot, manifest: f.manifest });
}

export function unpackSlot(buf: Buffer, where: string): SlotFiles {
  const { wire, extra } = unpackWire(buf, where);
  const { slot, manifest } = (extra ?? {}) as { slot?: unknown; manifest?: unknown };
  if (typeof slot !== 'string' || typeof manifest !== 'string') throw new Error(`${where}: not a packed checkpoint slot`);
  return { slot, manifest, tensors: Buffer.from(wire.data.buffer, wire.data.byteOffset, wire.data.byteLength) };
}

export interface RedisUnitPoolOptions {
  redis: string;
  queue: string;
  stop?: StopFlag;
}

/** The study side: each unit a job on `<queue>-units`; resolves when a worker has trained it. */
export async function redisUnitPool(o: RedisUnitPoolOptions): Promise<UnitPool> {
  const name = unitQueueName(checkQueueName(o.queue));
  const conn = redisOptions(o.redis) as unknown as ConnectionOptions;
  await probeRedis(o.redis);
  const queue = new Queue<RedisUnitJob, RedisUnitResult>(name, { connection: conn, prefix: BULL_PREFIX });
  const events = new QueueEvents(name, { connection: conn, prefix: BULL_PREFIX });
  const redis = new Redis(redisOptions(o.redis));
  await events.waitUntilReady();
  const listeners = new Map<string, (line: string) => void>();
  events.on('progress', ({ jobId, data }) => {
    const line = (data as { line?: unknown })?.line;
    if (typeof line === 'string') listeners.get(jobId)?.(line);
  });
  // resolves with the signal once a stop is asked for; `cancel` ends the polling
  const stopped = () => {
    let t: NodeJS.Timeout | undefined;
    const signal = new Promise<NodeJS.Signals>((resolve) => {
      t = setInterval(() => {
        const s = o.stop?.requested;
        if (s) resolve(s);
      }, 100);
    });
    return { signal, cancel: () => clearInterval(t) };
  };
  return {
    async run(job, log): Promise<UnitJobResult> {
      if (!job.runId) throw new Error('a Redis unit job needs the study run id');
      const data: RedisUnitJob = { exp: job.exp, source: job.source, runId: job.runId, label: job.label, metaSeed: job.metaSeed };
      const id = unitId(job.runId, job.label, job.metaSeed);
      const who = `${job.label} seed ${job.metaSeed}`;
      listeners.set(id, log);
      try {
        // an existing job of this id (a resumed study) is kept, not added twice
        const j = await queue.add('unit', data, { jobId: id, attempts: 3, removeOnComplete: { age: SLOT_TTL_MS / 1000 }, removeOnFail: { age: SLOT_TTL_MS / 1000 } });
        if (await j.isFailed()) await j.retry();
        log(`${who}: queued on "${name}" (job ${id})`);
        const stop = stopped();
        const finished = j.waitUntilFinished(events).then(
          (r: RedisUnitResult) => ({ r }),
          (e: Error) => Promise.reject(new Error(`${who}: failed on a Redis worker: ${e.message}`)),
        );
        const outcome = await Promise.race([finished, stop.signal.then((signal) => ({ signal }))]).finally(stop.cancel);
        if ('signal' in outcome) return { seconds: 0, trajectories: 0, interrupted: outcome.signal, where: `waiting for ${who} on a Redis worker (it goes on there; --resume waits for it again)` };
        const r = outcome.r;
        const key = slotKey(o.queue, job.runId, job.label, job.metaSeed);
        const buf = await redis.getBuffer(key);
        if (buf === null) throw new Error(`${who}: trained by ${r.worker}, but its checkpoint is gone from Redis (${key})`);
        importSlot(checkpointDirOf(job.exp.checkpointDir, job.label, job.metaSeed), unpackSlot(buf, `${who}'s checkpoint`));
        log(`${who}: trained by worker ${r.worker}`);
        return { seconds: r.seconds, trajectories: r.trajectories, interrupted: null };
      } finally {
        listeners.delete(id);
      }
    },
    async close() {
      await events.close();
      await queue.close();
      redis.disconnect();
    },
  };
}
