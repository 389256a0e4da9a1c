// `symtele worker --redis redis://host:6379`: a worker for learners that meta-train through
// Redis: gradient windows (`meta train --redis ...`) and whole units of a study (`meta train
// --redis ... --units`). Runs until interrupted.
import { InvalidArgumentError, type Command } from 'commander';
import { BUILTIN_PARTS, DEFAULT_QUEUE, TOY_PARTS, startRedisWorker, type PartsSource } from '../../distributed/workers/index.js';
import { checkQueueName, probeRedis, redisOptions } from '../../distributed/workers/redis-protocol.js';
import { runCommand, useBackend } from '../run.js';
import { startUnitWorker } from '../../distributed/jobs/redis-unit-worker.js';

function parseParts(v: string): PartsSource {
  if (v === 'builtin') return BUILTIN_PARTS;
  if (v === 'toy') return TOY_PARTS;
  const i = v.lastIndexOf('#');
  if (i <= 0 || i === v.length - 1) throw new Error(`--parts: expected builtin, toy or <module-url>#<export>, got "${v}"`);
  return { module: v.slice(0, i), export: v.slice(i + 1) };
}

function parseMs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100) throw new InvalidArgumentError('expected an integer >= 100 (milliseconds).');
  return n;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('compute meta-gradient windows, or train whole units, for a learner that trains through Redis')
    .requiredOption('--redis <url>', 'Redis server, e.g. redis://host:6379')
    .option('--queue <name>', 'queue name (the learner\'s --queue)', DEFAULT_QUEUE)
    .option('--parts <how>', 'how to build the task family and estimator: builtin, toy or <module-url>#<export>', 'builtin')
    .option('--lease-ms <n>', 'shard lease TTL: a dead worker\'s shards move after this', parseMs)
    .option('--lock-ms <n>', 'job lock: a dead worker\'s job is handed on after this', parseMs)
    .action(
      runCommand(async (opts: { redis: string; queue: string; parts: string; leaseMs?: number; lockMs?: number }, cmd: Command) => {
        // flags first: a bad URL or queue name is an error before the backend starts
        redisOptions(opts.redis);
        checkQueueName(opts.queue);
        const parts = parseParts(opts.parts);
        await probeRedis(opts.redis);
        await useBackend(cmd);
        const timings = {
          ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
          ...(opts.lockMs ? { lockMs: opts.lockMs, stalledIntervalMs: Math.max(100, Math.floor(opts.lockMs / 3)) } : {}),
        };
        const log = (line: string) => process.stderr.write(`worker ${process.pid}: ${line}\n`);
        const w = await startRedisWorker({
          redis: opts.redis,
          queue: opts.queue,
          parts,
          timings,
          log,
        });
        const units = await startUnitWorker({ redis: opts.redis, queue: opts.queue, timings, log });
        process.stderr.write(`worker ${w.id}: serving queue "${opts.queue}" (gradient windows and whole units) on ${opts.redis}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        const s = w.stats();
        await Promise.all([w.close(), units.close()]);
        process.stderr.write(`worker ${w.id}: stopped after ${s.windows} window(s), ${s.replayed} replayed, ${units.units()} unit(s)\n`);
      }),
    );
}
