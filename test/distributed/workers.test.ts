import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { initBackend } from '../../src/backend/index.js';
import { combineEstimates, disposeEstimate, type Estimate } from '../../src/meta/estimator.js';
import { disposeMeta } from '../../src/meta/params.js';
import { localShards, shardIds, type ShardPool } from '../../src/meta/shards.js';
import { decodeEstimate, decodeMeta, encodeEstimate, encodeMeta, packEstimate, packWire, unpackEstimate, unpackWire } from '../../src/meta/wire.js';
import { lockDir, DirLockedError } from '../../src/run/dir-lock.js';
import { TOY_PARTS } from '../../src/distributed/workers/parts.js';
import { createShardPool } from '../../src/distributed/workers/index.js';
import { buildRunParts, type RunSpec } from '../../src/meta/build.js';
import { initTrainState, trainBatch, disposeTrainState, type ShardLog } from '../../src/meta/train.js';
import { workerLine, workerStats } from '../../src/meta/worker-stats.js';
import { trainVariant } from '../../src/meta/run.js';
import { MetaExperimentCodec, type LearnedEntry } from '../../src/meta/config.js';
import { paperEntry, paperPreset } from '../helpers/paper.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import { eventFiles, readEventFile } from '../../src/logging/tensorboard.js';
import { unitLogDirOf } from '../../src/meta/paths.js';
import { flattenMeta } from '../../src/meta/params.js';
import type { TaskConfig } from '../../src/tasks/registry.js';
import { threadShards } from '../../src/distributed/workers/threads.js';
import { redisShards } from '../../src/distributed/workers/redis-pool.js';
import { BULL_PREFIX, redisOptions, shardQueueName } from '../../src/distributed/workers/redis-protocol.js';
import { buildToyParts, initToyMeta } from '../../src/distributed/workers/toy.js';
import { poolOptions } from '../../src/cli/commands/_pool.js';
import { redisMissing, startRedis } from '../../src/distributed/workers/redis-server.js';
import { trainAndEvaluate } from '../../src/meta/experiment.js';
import { Interrupted } from '../../src/meta/interrupt.js';
import { FAULT_STUDY } from '../../src/faults/configs.js';
import { compareRuns, runRecord } from '../../src/faults/soak.js';

await initBackend('wasm');

const SPEC = { dim: 6, noise: 0.1 };
const flat = (e: Estimate) => [...Array.from(e.grads.update.loglr.dataSync()), ...Array.from(e.grads.update.w.dataSync()), e.metaLoss, ...e.meanLoss];

test('wire: meta-parameters and estimates round-trip exactly, as arrays and as bytes; bad bytes are a clear error', () => {
  const meta = initToyMeta(SPEC);
  const back = decodeMeta(unpackWire(packWire(encodeMeta(meta))).wire);
  assert.deepEqual(Object.keys(back), ['update']);
  for (const k of ['loglr', 'w']) assert.deepEqual(Array.from(back.update[k].dataSync()), Array.from(meta.update[k].dataSync()));
  assert.deepEqual(back.update.w.shape, [SPEC.dim]);
  const e: Estimate = { grads: meta, weight: 3, metaLoss: NaN, meanLoss: [1.5, Infinity], finite: false };
  const e2 = decodeEstimate(unpackEstimate(packEstimate(encodeEstimate(e))));
  assert.deepEqual(flat(e2), flat(e));
  assert.equal(e2.weight, 3);
  assert.equal(e2.finite, false);
  assert.throws(() => unpackWire(Buffer.from('not wire bytes')), /not symtele wire bytes/);
  const good = packWire(encodeMeta(meta));
  assert.throws(() => unpackWire(good.subarray(0, good.length - 4)), /data bytes, layout needs/);
  disposeMeta(meta);
  disposeMeta(back);
  disposeEstimate(e2);
});

/** Each window's combined estimate over a batch of 8 problems in `shards` shards, 3 windows. */
async function combined(pool: ShardPool, shards: number): Promise<number[][]> {
  const meta = initToyMeta(SPEC);
  const ids = [0, 1, 2, 3, 4, 5, 6, 7];
  await pool.begin({ seed: 5, batch: 0, shards: shardIds(ids, shards) }, meta);
  const out: number[][] = [];
  for (let w = 0; w < 3; w++) {
    const es = await pool.window(meta, w, 4);
    const c = combineEstimates(es);
    out.push(flat(c));
    es.forEach(disposeEstimate);
    disposeEstimate(c);
  }
  await pool.end();
  disposeMeta(meta);
  return out;
}

const maxRelDiff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((r, i) => r.map((v, j) => Math.abs(v - b[i][j]) / Math.max(1e-6, Math.abs(b[i][j])))));

test('thread pool: 1, 2 and 4 worker threads give localShards\' estimates (identical for the same shards; within 1e-5 relative of one shard)', async (t) => {
  const parts = buildToyParts(SPEC);
  const oneShard = await combined(localShards(parts), 1);
  const fourShards = await combined(localShards(parts), 4);
  const before = tf.memory().numTensors;
  for (const n of [1, 2, 4]) {
    const pool = await threadShards({ workers: n, spec: SPEC, parts: TOY_PARTS });
    try {
      // the same 4 shards over n threads: the same float32 operations, so the same bits
      assert.deepEqual(await combined(pool, 4), fourShards, `${n} thread(s), 4 shards`);
      // one shard per thread (what the learner does): only the order of float sums differs
      const perThread = await combined(pool, n);
      const d = maxRelDiff(perThread, oneShard);
      assert.ok(d <= 1e-5, `${n} thread(s): max relative difference ${d} to one shard`);
      t.diagnostic(`${n} thread(s), ${n} shard(s): max relative difference to one shard ${d.toExponential(2)}`);
      assert.deepEqual(await pool.tensors(), Array(n).fill(0), 'tensors left in the threads after end()');
    } finally {
      await pool.close();
    }
  }
  assert.equal(tf.memory().numTensors, before, 'tensors leaked on the learner side');
});

/** A tiny LSTM(update,tele) meta-training run (tuned recipe) on 4x4x4 regression problems. */
function tinyRun(trajectoryLength = 6, unroll = 3) {
  const p = paperPreset('LSTM(update,tele)');
  const train = { ...p.train, batch: 4, trajectories: 16, epochs: 1, trajectoryLength, unroll, evalEvery: 0 };
  const task: TaskConfig = { kind: 'regression', widths: [4, 4, 4], samples: 4, slope: 0.1, seedScheme: 'stream' };
  const variant = { ...p.variant, update: { ...p.variant.update!, hidden: 8 }, tele: p.variant.tele ? { ...p.variant.tele, hidden: 4 } : p.variant.tele };
  const spec: RunSpec = { task, learned: { kind: 'paper', ...variant }, estimator: { kind: 'tbptt' }, lossWeighting: train.lossWeighting };
  return { spec, train, parts: buildRunParts(spec) };
}

/**
 * `batches` batches of the learner (trainBatch) on `pool`: final meta-parameters and window
 * losses (the numbers), and where each shard's window ran (`shards`, worker pools only).
 */
async function trainBatches(pool: ShardPool, parts: ReturnType<typeof buildRunParts>, train: ReturnType<typeof tinyRun>['train'], batches: number, shards = 2) {
  let st = initTrainState(parts.learned, parts.family, train);
  const losses: number[] = [];
  const logs: ShardLog[][] = [];
  for (let b = 0; b < batches; b++) {
    const r = await trainBatch(st, train, pool, shards);
    st = r.state;
    losses.push(...r.windows.map((w) => w.metaLoss));
    logs.push(...r.windows.map((w) => w.shards ?? []));
  }
  const out = Object.fromEntries(Object.entries(flattenMeta(st.meta)).map(([k, v]) => [k, Array.from(v.dataSync())]));
  disposeTrainState(st);
  return { numbers: { out, losses }, shards: logs };
}

test('thread pool with the real parts: LSTM(update,tele) on a tiny regression task, 2 threads equal one process', async (t) => {
  const { spec, parts, train } = tinyRun();
  const batchOn = (pool: ShardPool, shards: number) => trainBatches(pool, parts, train, 1, shards);
  const local2r = await batchOn(localShards(parts), 2);
  const local1 = (await batchOn(localShards(parts), 1)).numbers;
  const local2 = local2r.numbers;
  assert.ok(local2r.shards.every((s) => s.length === 0), 'in this process: no worker figures');
  const pool = await createShardPool({ workers: 2, spec });
  try {
    const threadsr = await batchOn(pool, 2);
    const threads = threadsr.numbers;
    assert.deepEqual(threads, local2, 'the same 2 shards in 2 threads and in this process');
    // every window: one figure per shard, from two distinct threads, timed, 2 trajectories each
    for (const w of threadsr.shards) {
      assert.equal(w.length, 2);
      assert.ok(w.every((s) => /^thread \d+$/.test(s.worker) && s.seconds > 0 && s.trajectories === 2), JSON.stringify(w));
      assert.notEqual(w[0].worker, w[1].worker);
    }
    const stats = workerStats(
      threadsr.shards.map((shards) => ({ batch: 0, window: 0, metaLoss: 0, gradNorms: {}, meanLoss: [0, 0, 0], skipped: false, shards })),
      train.trajectoryLength,
    );
    assert.equal(stats.size, 2);
    for (const s of stats.values()) assert.ok(s.trajectoriesPerSecond > 0 && s.estimates === threadsr.shards.length && s.maxStaleness === undefined);
    const d = Math.max(...Object.keys(local1.out).flatMap((k) => local1.out[k].map((v, i) => Math.abs(v - threads.out[k][i]) / Math.max(1e-3, Math.abs(v)))));
    t.diagnostic(`2 shards vs 1 shard after one batch: max relative difference of the meta-parameters ${d.toExponential(2)}`);
    assert.ok(d <= 1e-4, `2 shards vs 1: ${d}`);
  } finally {
    await pool.close();
  }
});

test('workerStats: per worker, trajectories per second of its own compute and its largest staleness', () => {
  const w = (meanLoss: number[], shards: ShardLog[]) => ({ batch: 0, window: 0, metaLoss: 0, gradNorms: {}, meanLoss, skipped: false, shards });
  const stats = workerStats(
    [
      w([1, 1], [{ worker: 'a', trajectories: 4, seconds: 2, staleness: 0 }, { worker: 'b', trajectories: 4, seconds: 1, staleness: 1 }]),
      w([1, 1, 1, 1], [{ worker: 'a', trajectories: 4, seconds: 2, staleness: 2 }]),
      w([1], []),
    ],
    8,
  );
  // a: 4 x 2/8 + 4 x 4/8 = 3 trajectories in 4 s; b: 1 trajectory in 1 s
  assert.deepEqual([...stats], [
    ['a', { trajectoriesPerSecond: 0.75, estimates: 2, maxStaleness: 2 }],
    ['b', { trajectoriesPerSecond: 1, estimates: 1, maxStaleness: 1 }],
  ]);
  assert.equal(workerLine(stats), 'a 0.75/s (stale <= 2), b 1.00/s (stale <= 1)');
});

test('a unit trained on worker threads logs TensorBoard scalars and a progress figure per worker', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-workers-'));
  const { spec, train } = tinyRun();
  const p = paperPreset('LSTM(update,tele)');
  const exp = decodeOrThrow(MetaExperimentCodec, {
    seed: 1,
    metaSeeds: [0],
    heldout: { trajectories: 2, steps: 6 },
    tableSteps: [1, 6],
    variants: [{ preset: 'tuned/LSTM(update,tele)' }],
    task: spec.task,
    logdir: path.join(root, 'logs'),
    checkpointDir: path.join(root, 'ckpt'),
    checkpointEvery: 0,
  });
  const rv: LearnedEntry = paperEntry('LSTM(update,tele)', { ...p.variant, update: { ...p.variant.update!, hidden: 8 }, tele: { ...p.variant.tele!, hidden: 4 } }, { ...train, trajectories: 8, evalEvery: 1, valTrajectories: 2, valSteps: 6 });
  const lines: string[] = [];
  try {
    const tv = await trainVariant(rv, exp, 0, { pool: (s) => createShardPool({ workers: 2, spec: s }), shards: 2, log: (l) => lines.push(l) });
    disposeMeta(tv.meta);
    const [file] = eventFiles(unitLogDirOf(exp.logdir, rv.label, 0));
    const tags = new Set(readEventFile(file).flatMap((e) => e.values.map((v) => v.tag)));
    const perWorker = [...tags].filter((t) => /^workers\/thread-\d+\/trajectories_per_second$/.test(t));
    assert.equal(perWorker.length, 2, `worker tags: ${[...tags].filter((t) => t.startsWith('workers/'))}`);
    assert.ok(lines.some((l) => /workers: thread \d+ [\d.]+\/s, thread \d+ [\d.]+\/s/.test(l)), lines.join('\n'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('thread pool: a bad parts module is a clear error and leaves no threads behind', async () => {
  await assert.rejects(threadShards({ workers: 1, spec: SPEC, parts: { module: TOY_PARTS.module, export: 'nope' } }), /no function export "nope"/);
  await assert.rejects(threadShards({ workers: 0, spec: SPEC, parts: TOY_PARTS }), /workers: expected a positive integer/);
});

test('checkpoint directory lock: a second holder is refused naming dir and pid; a dead pid\'s lock is taken over', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-lock-'));
  try {
    const a = lockDir(dir);
    assert.throws(() => lockDir(dir), (e: unknown) => e instanceof DirLockedError && e.message.includes(dir) && e.message.includes(`pid ${process.pid}`));
    a.release();
    const b = lockDir(dir);
    b.release();
    // a lock left by a process that is gone
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    fs.writeFileSync(path.join(dir, '.lock'), JSON.stringify({ pid: deadPid, host: os.hostname(), since: 'then', nonce: 'x' }));
    const c = lockDir(dir);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, '.lock'), 'utf8')).pid, process.pid);
    c.release();
    assert.equal(fs.existsSync(path.join(dir, '.lock')), false);
    // another process holding it: refused with its pid
    const holder = spawn(process.execPath, ['--import', 'tsx', '-e', `import('${new URL('../../src/run/dir-lock.ts', import.meta.url).href}').then(m => { m.lockDir(${JSON.stringify(dir)}); console.log('locked'); setTimeout(() => {}, 20000); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => {
        try {
          assert.throws(() => lockDir(dir), new RegExp(`in use by pid ${holder.pid}`));
          resolve();
        } catch (e) {
          reject(e);
        } finally {
          holder.kill('SIGKILL');
        }
      });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('redis: URL and queue checks come before any connection', async () => {
  assert.throws(() => redisOptions('http://x'), /redis:\/\/ or rediss:\/\//);
  assert.throws(() => redisOptions('nonsense'), /expected a URL/);
  assert.deepEqual(redisOptions('redis://127.0.0.1:7001/2').db, 2);
  await assert.rejects(redisShards({ redis: 'redis://127.0.0.1:6379', queue: 'a:b', spec: SPEC, shards: 2 }), /queue: expected/);
  await assert.rejects(redisShards({ redis: 'redis://127.0.0.1:6379', spec: SPEC, shards: 2, staleness: 1 }), /schedule/);
});

const WORKER_ARGS = (url: string, parts: string) => ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--redis', url, '--parts', parts, '--lease-ms', '1500', '--lock-ms', '1500'];
const TIMINGS = { leaseMs: 1500, lockMs: 1500, stalledIntervalMs: 500 };

function startWorkers(url: string, n: number, parts = 'toy'): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(process.execPath, WORKER_ARGS(url, parts), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SYMTELE_BACKEND: 'wasm' } }),
  );
}

async function stopAll(ps: ChildProcess[]): Promise<void> {
  await Promise.all(
    ps.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => (p.once('exit', r), p.kill('SIGTERM'))))),
  );
}

const skipRedis = redisMissing();
if (skipRedis) process.stdout.write(`# redis tests skipped: ${skipRedis}\n`);

test('redis: kill -9 a worker process mid-job; meta-training completes with the uninterrupted numbers', { skip: skipRedis || false, timeout: 300_000 }, async () => {
  const { spec, train, parts } = tinyRun(20, 5);
  // the uninterrupted run: the same 2 shards in this process
  const reference = await trainBatches(localShards(parts), parts, train, 3);
  const server = await startRedis();
  const workers = startWorkers(server.url, 2, 'builtin');
  const logs = workers.map(() => [] as string[]);
  workers.forEach((w, i) => w.stderr!.on('data', (d: Buffer) => logs[i].push(d.toString())));
  const pool = await redisShards({ redis: server.url, spec, shards: 2, timings: TIMINGS });
  const queues = [0, 1].map((s) => new Queue(shardQueueName('symtele', s), { connection: redisOptions(server.url) as never, prefix: BULL_PREFIX }));
  let killed = false, stop = false;
  // watch the queues: once batch 1 is under way, kill the worker holding an active job
  const watcher = (async () => {
    for (let i = 0; i < 5000 && !killed && !stop; i++) {
      for (const q of queues) {
        for (const job of await q.getActive()) {
          const victim = workers.find((w) => job.data.batch >= 1 && job.processedBy?.includes(`:${w.pid}:`));
          if (victim && !killed) {
            victim.kill('SIGKILL');
            killed = true;
          }
        }
      }
      await sleep(10);
    }
  })();
  try {
    const got = await trainBatches(pool, parts, train, 3);
    stop = true;
    await watcher;
    assert.ok(killed, 'no worker was killed mid-job');
    assert.deepEqual(got.numbers, reference.numbers);
    assert.ok(got.shards.flat().every((s) => s.staleness === 0 && s.seconds > 0), 'synchronous: every estimate fresh, and timed');
    // Whether the survivor must replay windows depends on where in the job the kill lands (at a
    // window it already holds, nothing is replayed), so only what holds in every case is
    // asserted: the shard was finished elsewhere with the uninterrupted run's numbers.
  } finally {
    stop = true;
    await watcher;
    await Promise.all(queues.map((q) => q.close()));
    await pool.close();
    await stopAll(workers);
    await server.stop();
  }
});

test('redis: asynchronous mode runs ahead within the staleness bound', { skip: skipRedis || false, timeout: 180_000 }, async () => {
  const spec = { ...SPEC, workMs: 30 };
  const server = await startRedis();
  const workers = startWorkers(server.url, 2);
  const schedule = [3, 3, 3, 3];
  const pool = await redisShards({ redis: server.url, spec, shards: 2, staleness: 1, schedule, timings: TIMINGS });
  try {
    const stale: number[] = [];
    const meta = initToyMeta(spec);
    for (let b = 0; b < 2; b++) {
      await pool.begin({ seed: 1, batch: b, shards: shardIds([0, 1, 2, 3].map((i) => i + 4 * b), 2) }, meta);
      for (let w = 0; w < schedule.length; w++) {
        const es = await pool.window(meta, b * 10 + w, schedule[w]);
        assert.equal(es.length, 2);
        assert.ok(es.every((e) => Number.isFinite(e.metaLoss)));
        stale.push(...es.map((e) => e.staleness!));
        es.forEach(disposeEstimate);
      }
      await pool.end();
    }
    disposeMeta(meta);
    assert.ok(Math.max(...stale) <= 1, `staleness ${Math.max(...stale)} over the bound 1`);
    assert.ok(stale.some((s) => s === 1), 'no window ran ahead');
    await assert.rejects(
      (async () => {
        const m = initToyMeta(spec);
        await pool.begin({ seed: 1, batch: 9, shards: [[0], [1]] }, m);
        try {
          await pool.window(m, 0, 5);
        } finally {
          disposeMeta(m);
        }
      })(),
      /asynchronous schedule says 3/,
    );
  } finally {
    await pool.close();
    await stopAll(workers);
    await server.stop();
  }
});

test('redis: a second learner on the same queue is refused, naming the holder; a dead one\'s queue is taken at once', { skip: skipRedis || false, timeout: 60_000 }, async () => {
  const server = await startRedis();
  const a = await redisShards({ redis: server.url, spec: SPEC, shards: 1, timings: TIMINGS });
  try {
    await assert.rejects(redisShards({ redis: server.url, spec: SPEC, shards: 1, timings: TIMINGS }), new RegExp(`in use by the learner pid ${process.pid}`));
    await a.close();
    // a learner of this host that was killed: the next one (a resume) takes its queue at once
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const c = new Redis(redisOptions(server.url));
    await c.set('symtele:learner', JSON.stringify({ pid: deadPid, host: os.hostname(), run: 'old' }), 'PX', 60_000);
    c.disconnect();
    const b = await redisShards({ redis: server.url, spec: SPEC, shards: 1, timings: TIMINGS });
    await b.close();
  } finally {
    await a.close().catch(() => undefined);
    await server.stop();
  }
});

test('symtele worker: a bad URL, queue or parts flag, or an unreachable server, is a clear error (exit 1)', async () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', ...args], { encoding: 'utf8', timeout: 60_000 });
  const cases: [string[], RegExp][] = [
    [['--redis', 'http://x'], /--redis: expected a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/x"/],
    [['--redis', 'redis://127.0.0.1:6379', '--queue', 'a b'], /queue: expected/],
    [['--redis', 'redis://127.0.0.1:6379', '--parts', 'nope'], /--parts: expected builtin, toy or <module-url>#<export>/],
    [['--redis', 'redis://127.0.0.1:1'], /cannot reach the server \(connect ECONNREFUSED/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('learner flags: --workers/--redis/--staleness become pool options, checked before any work', () => {
  assert.deepEqual(poolOptions({ workers: 3 }), { workers: 3 });
  assert.deepEqual(poolOptions({ redis: 'redis://h:1', workers: 4, staleness: 1 }), { workers: 4, redis: 'redis://h:1', queue: undefined, staleness: 1 });
  assert.throws(() => poolOptions({ staleness: 2 }), /--staleness needs --redis/);
  assert.throws(() => poolOptions({ redis: 'ftp://h' }), /redis:\/\//);
  assert.throws(() => poolOptions({ redis: 'redis://h', workers: 0 }), /at least one shard/);
});

test("redis units: a study's units as jobs for Redis workers; the learner stopped and resumed, the worker training a unit killed -9 and replaced; results and logs equal one run in-process", { skip: skipRedis || false, timeout: 400_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-units-'));
  const exp = (d: string) => decodeOrThrow(MetaExperimentCodec, { ...FAULT_STUDY, logdir: path.join(dir, d, 'logs'), checkpointDir: path.join(dir, d, 'ckpt') });
  const one = exp('one');
  await trainAndEvaluate(one, 'test', { log: () => {} });
  const server = await startRedis();
  const workers = startWorkers(server.url, 1, 'builtin');
  const units = { redis: server.url, queue: 'symtele' };
  const progress = (l: string) => /^\[[^\]]+\] /.test(l); // a line of a unit training on a worker
  try {
    const two = exp('two');
    // the learner stops at the first progress line; its units go on on the worker
    let asked = false;
    const stop = { get requested() { return asked ? ('SIGTERM' as const) : null; } };
    await assert.rejects(trainAndEvaluate(two, 'test', { units, stop, log: (l) => void (asked ||= progress(l)) }), (e: Error) => e instanceof Interrupted);
    // resumed: at the next progress line the worker is killed mid-unit and another one started
    let killed = false;
    const r = await trainAndEvaluate(two, 'test', {
      units,
      start: 'resume',
      log: (l) => {
        if (killed || !progress(l)) return;
        killed = true;
        workers[0]!.kill('SIGKILL');
        workers.push(...startWorkers(server.url, 1, 'builtin'));
      },
    });
    assert.ok(killed, 'a worker was killed mid-unit');
    assert.deepEqual(compareRuns(runRecord(one.logdir), runRecord(two.logdir)), []);
    assert.ok(Object.keys(r.variants).length >= 3);
    // --units is --redis's: an error before any work without it
    await assert.rejects(trainAndEvaluate(exp('three'), 'test', { units, jobs: 2 }), /do not combine with --jobs/);
  } finally {
    await stopAll(workers);
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('meta train --units without --redis: a clear error before the backend starts (exit 1)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'meta', 'train', '--units'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /--units needs --redis/);
  assert.doesNotMatch(r.stderr, /backend:/, 'no backend was started');
});
