// Crash safety of meta-training runs: checkpoint slots that cannot tear and fall back when
// damaged, studies that resume as a whole, logs continued without a step twice, run locks,
// SIGINT, and the fault-injection loop (SIGKILL at random file writes, resumed until done).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { symteleBuilt } from '../helpers/cli.js';
import { repairUnitLogs } from '../../src/meta/unit-logs.js';
import { initBackend } from '../../src/backend/index.js';
import { checkpointBackend } from '../../src/backend/resume-check.js';
import { testBackend } from '../helpers/backend.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import { MetaExperimentCodec, resolveAll, trainedEntry, type MetaExperiment } from '../../src/meta/config.js';
import { trainAndEvaluate, evaluateFromCheckpoints } from '../../src/meta/experiment.js';
import { initTrainState, disposeTrainState, type MetaTrainState } from '../../src/meta/train.js';
import { buildRunParts } from '../../src/meta/build.js';
import { runSpec } from '../../src/meta/run.js';
import { checkpointDirOf } from '../../src/meta/paths.js';
import { loadCheckpoint, saveCheckpoint, CheckpointError, hasCheckpoint, importSlot, newestSlot } from '../../src/meta/checkpoint.js';
import { packSlot, unpackSlot } from '../../src/distributed/jobs/redis-units.js';
import { cloneMeta, disposeMeta, mapMeta, metaTensors } from '../../src/meta/params.js';
import { lockDir, DirLockedError } from '../../src/run/dir-lock.js';
import { StudyError } from '../../src/meta/study.js';
import { Interrupted } from '../../src/meta/interrupt.js';
import { leftovers } from '../../src/meta/run-dirs.js';
import { createSummaryWriter, readEventFile } from '../../src/logging/tensorboard.js';
import { compareRuns, runRecord, soak } from '../../src/faults/soak.js';
import { FAULT_SINGLE, FAULT_STUDY } from '../../src/faults/configs.js';
import * as E from 'fp-ts/lib/Either.js';

await initBackend(testBackend());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST_CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const PRELOAD = path.join(ROOT, 'dist', 'faults', 'kill-at-write.js');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-crash-'));
const experiment = (config: Record<string, unknown>, dir: string): MetaExperiment =>
  decodeOrThrow(MetaExperimentCodec, { ...config, logdir: path.join(dir, 'logs'), checkpointDir: path.join(dir, 'ckpt') });
const quiet = { log: () => {} };

function unitState(exp: MetaExperiment) {
  const r = resolveAll(exp, 'test');
  assert.ok(E.isRight(r));
  const rv = trainedEntry(r.right, 'LSTM(update)', 'test');
  const parts = buildRunParts(runSpec(rv, exp));
  return { rv, cfg: { learned: rv.learned, estimator: rv.estimator, train: rv.train, task: exp.task }, st: initTrainState(parts.learned, parts.family, rv.train) };
}

const bytesOf = (st: MetaTrainState) => metaTensors(st.meta).map((t) => Array.from(t.dataSync()));

test("a unit's checkpoint moves between machines (a Redis unit job's result): packed, committed elsewhere, loads the same; damaged bytes refused", () => {
  const dir = tmp();
  try {
    const { cfg, st } = unitState(experiment(FAULT_SINGLE, dir));
    const here = path.join(dir, 'here'), there = path.join(dir, 'there');
    assert.equal(newestSlot(here), null);
    saveCheckpoint(here, { ...st, batchesDone: 1 }, cfg);
    saveCheckpoint(here, { ...st, batchesDone: 2 }, cfg);
    const files = unpackSlot(packSlot(newestSlot(here)!), 'test');
    assert.equal(files.slot, 'ckpt-00000002');
    const bad = Buffer.from(files.tensors);
    bad[0] ^= 1;
    assert.throws(() => importSlot(there, { ...files, tensors: bad }), /do not match their SHA-256/);
    assert.equal(hasCheckpoint(there), false, 'nothing committed from damaged bytes');
    importSlot(there, files);
    const a = loadCheckpoint(here, cfg), b = loadCheckpoint(there, cfg);
    assert.equal(b.state.batchesDone, 2);
    assert.deepEqual(bytesOf(b.state), bytesOf(a.state));
    assert.equal(importSlot(here, files), path.join(here, 'ckpt-00000002'), 'a slot already there is kept');
    [a, b].forEach((r) => disposeTrainState(r.state));
    disposeTrainState(st);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint slots: the newest K are kept, a damaged or unfinished one is skipped for the one before, with a message', () => {
  const dir = tmp();
  try {
    const { cfg, st } = unitState(experiment(FAULT_SINGLE, dir));
    const ck = path.join(dir, 'unit');
    for (const b of [1, 2, 3]) saveCheckpoint(ck, { ...st, batchesDone: b }, cfg, { keep: 2 });
    assert.deepEqual(fs.readdirSync(ck).sort(), ['ckpt-00000002', 'ckpt-00000003']);
    // an unfinished slot (killed before its commit rename) is not a checkpoint
    fs.mkdirSync(path.join(ck, 'ckpt-00000004.999.tmp'));
    fs.writeFileSync(path.join(ck, 'ckpt-00000004.999.tmp', 'tensors.bin'), 'x');
    let r = loadCheckpoint(ck, cfg);
    assert.equal(r.state.batchesDone, 3);
    assert.deepEqual(r.skipped, []);
    assert.equal(r.backend, checkpointBackend(), 'a checkpoint records the backend that wrote it');
    disposeTrainState(r.state);
    // a damaged newest slot: the one before, and why
    const bin = path.join(ck, 'ckpt-00000003', 'tensors.bin');
    fs.truncateSync(bin, 100);
    r = loadCheckpoint(ck, cfg);
    assert.equal(r.state.batchesDone, 2);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0], /ckpt-00000003: tensors.bin has 100 bytes, manifest says \d+/);
    disposeTrainState(r.state);
    // a config mismatch is an error, not a reason to fall back
    assert.throws(() => loadCheckpoint(ck, { ...cfg, train: { ...cfg.train, batch: 3 } }), (e: Error) => e instanceof CheckpointError && /config\.train\.batch differs/.test(e.message));
    // nothing intact: an error listing each slot's damage
    fs.truncateSync(path.join(ck, 'ckpt-00000002', 'tensors.bin'), 0);
    assert.throws(() => loadCheckpoint(ck, cfg), /no intact checkpoint: .*ckpt-00000003.*ckpt-00000002/);
    disposeTrainState(st);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoints store the best parameters once when they equal the current ones, and load both', () => {
  const dir = tmp();
  try {
    const { cfg, st } = unitState(experiment(FAULT_SINGLE, dir));
    const same = { ...st, bestMeta: cloneMeta(st.meta), bestValLoss: 1 };
    const other = { ...st, bestMeta: mapMeta(st.meta, (t) => t.mul(2)), bestValLoss: 1 };
    const a = saveCheckpoint(path.join(dir, 'a'), same, cfg);
    const b = saveCheckpoint(path.join(dir, 'b'), other, cfg);
    const size = (p: string) => fs.statSync(path.join(p, 'tensors.bin')).size;
    const metaBytes = metaTensors(st.meta).reduce((s, t) => s + 4 * t.size, 0);
    assert.equal(size(b) - size(a), metaBytes);
    for (const [d, want] of [['a', same], ['b', other]] as const) {
      const r = loadCheckpoint(path.join(dir, d), cfg);
      assert.deepEqual(metaTensors(r.state.bestMeta!).map((t) => Array.from(t.dataSync())), metaTensors(want.bestMeta).map((t) => Array.from(t.dataSync())));
      assert.deepEqual(bytesOf(r.state), bytesOf(st));
      disposeTrainState(r.state);
    }
    disposeMeta(same.bestMeta);
    disposeMeta(other.bestMeta);
    disposeTrainState(st);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an event file continued at a recorded length drops what was written after it and appends', () => {
  const dir = tmp();
  try {
    const w = createSummaryWriter(dir, { flushIntervalMs: 0 });
    w.scalar('x', 1, 1);
    const mark = w.commit();
    w.scalar('x', 2, 2); // written after the checkpoint: a resumed run writes it again
    w.close();
    const c = createSummaryWriter(dir, { continueAt: { file: path.basename(w.path), bytes: mark }, flushIntervalMs: 0 });
    assert.equal(c.path, w.path);
    c.scalar('x', 2, 2);
    c.scalar('x', 3, 3);
    c.close();
    const steps = readEventFile(w.path).flatMap((e) => e.values.map(() => e.step));
    assert.deepEqual(steps, [1, 2, 3]);
    assert.throws(() => createSummaryWriter(dir, { continueAt: { file: 'missing', bytes: 10 } }), /cannot continue TensorBoard event file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a study stopped between batches resumes as a whole: same results, every TensorBoard step once', async () => {
  const dir = tmp();
  try {
    const whole = experiment(FAULT_STUDY, path.join(dir, 'whole'));
    await trainAndEvaluate(whole, 'test', quiet);
    const parts = experiment(FAULT_STUDY, path.join(dir, 'parts'));
    // stop at the 2nd, then the 6th poll (mid first unit, mid second unit), resuming each time
    for (const at of [2, 4]) {
      let polls = 0;
      const stop = {
        get requested() {
          return ++polls >= at ? ('SIGINT' as const) : null;
        },
      };
      await assert.rejects(trainAndEvaluate(parts, 'test', { ...quiet, stop, start: 'resume' }), (e: Error) => e instanceof Interrupted && /checkpointed/.test(e.message));
    }
    const study = JSON.parse(fs.readFileSync(path.join(parts.checkpointDir, 'study.json'), 'utf8'));
    assert.deepEqual(study.units.map((u: { state: string }) => u.state), ['done', 'running']);
    const log: string[] = [];
    await trainAndEvaluate(parts, 'test', { log: (l) => log.push(l), start: 'resume' });
    assert.ok(log.some((l) => /LSTM\(update\) seed 0: done in an earlier run/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => /LSTM\(lr,tele\) seed 0: resumed at batch \d\/4/.test(l)), log.join('\n'));
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(parts.logdir)), []);
    // without --resume or --fresh an existing run is refused, naming both flags
    await assert.rejects(trainAndEvaluate(parts, 'test', quiet), (e: Error) => e instanceof StudyError && /holds a run \(2 of 2 units done\).*--resume.*--fresh/.test(e.message));
    // resuming with another config names the field
    const changed = { ...parts, heldout: { ...parts.heldout, steps: 5 } };
    await assert.rejects(trainAndEvaluate(changed, 'test', { ...quiet, start: 'resume' }), /config\.heldout\.steps was 6, now 5/);
    // --fresh starts over
    await trainAndEvaluate(parts, 'test', { ...quiet, start: 'fresh' });
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(parts.logdir)), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two runs never share a run directory: the second is refused naming the holder', async () => {
  const dir = tmp();
  try {
    const exp = experiment(FAULT_SINGLE, dir);
    const held = lockDir(exp.checkpointDir);
    await assert.rejects(trainAndEvaluate(exp, 'test', quiet), (e: Error) => e instanceof DirLockedError && e.message.includes(`pid ${process.pid}`));
    held.release();
    const logs = lockDir(exp.logdir);
    await assert.rejects(trainAndEvaluate(exp, 'test', quiet), (e: Error) => e instanceof DirLockedError && e.message.includes(path.resolve(exp.logdir).split(path.sep).pop()!));
    logs.release();
    // and nothing was left locked by the refused runs
    lockDir(exp.checkpointDir).release();
    // a damaged lock (an empty file) and a temporary of a writer killed before it linked the lock
    // do not block the next run, even at once
    fs.writeFileSync(path.join(exp.checkpointDir, '.lock'), '');
    fs.writeFileSync(path.join(exp.checkpointDir, '.lock.0123abcd.tmp'), '{"pid":');
    const l = lockDir(exp.checkpointDir);
    assert.equal(JSON.parse(fs.readFileSync(path.join(exp.checkpointDir, '.lock'), 'utf8')).pid, process.pid);
    l.release();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Run the built CLI; `onLine` may signal the child when a stderr line appears. */
const cli = symteleBuilt;

test('SIGINT: the run checkpoints, flushes and exits 130 with the command that resumes it; a second SIGINT exits at once', async () => {
  const dir = tmp();
  try {
    const config = { ...FAULT_STUDY, logdir: path.join(dir, 'logs'), checkpointDir: path.join(dir, 'ckpt') };
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify(config));
    let sent = false;
    const r = await cli(['meta', 'train', '--config', file], (line, kill) => {
      if (!sent && /LSTM\(update\) seed 0: batch 1\/4/.test(line)) {
        sent = true;
        kill('SIGINT');
      }
    });
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopped by SIGINT in LSTM\(update\) seed 0 at batch [1-4]\/4 \(checkpointed\); logs flushed\. Resume with: symtele meta train --config \S+ --resume/);
    // the validation points before the stop are on disk
    const jsonl = fs.readFileSync(path.join(dir, 'logs', 'LSTM-update', 'seed-0', 'train.jsonl'), 'utf8');
    assert.match(jsonl, /"val":/);
    const done = await cli(['meta', 'train', '--config', file, '--resume', '--quiet']);
    assert.equal(done.code, 0, done.stderr);
    // twice: out at once, still resumable
    let n = 0;
    const twice = await cli(['meta', 'train', '--config', file, '--fresh'], (line, kill) => {
      if (n === 0 && /batch 1\/4/.test(line)) {
        n++;
        kill('SIGINT');
        setTimeout(() => kill('SIGINT'), 20);
      }
    });
    assert.equal(twice.code, 130, twice.stderr);
    const again = await cli(['meta', 'train', '--config', file, '--resume', '--quiet']);
    assert.equal(again.code, 0, again.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('main (npm start) and meta train take --resume and --fresh', async () => {
  for (const cmd of [['main'], ['meta', 'train']]) {
    const r = await cli([...cmd, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--resume \[dir\]/);
    assert.match(r.stdout, /--fresh/);
  }
});

test('units on threads (jobs 2) give the results and logs of one after the other, and stop and resume the same way', async () => {
  const dir = tmp();
  try {
    const one = experiment(FAULT_STUDY, path.join(dir, 'one'));
    await trainAndEvaluate(one, 'test', quiet);
    const two = experiment(FAULT_STUDY, path.join(dir, 'two'));
    let polls = 0;
    const stop = {
      get requested() {
        return ++polls >= 3 ? ('SIGTERM' as const) : null;
      },
    };
    await assert.rejects(trainAndEvaluate(two, 'test', { ...quiet, jobs: 2, stop }), (e: Error) => e instanceof Interrupted && /SIGTERM/.test(e.message));
    await trainAndEvaluate(two, 'test', { ...quiet, jobs: 2, start: 'resume' });
    assert.deepEqual(compareRuns(runRecord(one.logdir), runRecord(two.logdir)), []);
    await assert.rejects(trainAndEvaluate(two, 'test', { ...quiet, jobs: 0 }), /jobs: expected a positive integer, got 0/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const soaks = [
  ['one learned variant', FAULT_SINGLE, []],
  ['a study of two', FAULT_STUDY, []],
  ['a study of two, units on 2 threads', FAULT_STUDY, ['--jobs', '2']],
] as const;
for (const [name, config, args] of soaks) {
  test(`fault injection (${name}): SIGKILL at random file writes, resumed each time, ends equal to the uninterrupted run`, () => {
    const dir = tmp();
    try {
      const r = soak({ config, dir, faults: 3, seed: name.length, cli: DIST_CLI, preload: PRELOAD, args: [...args] });
      assert.equal(r.faults, 3);
      assert.ok(r.runs >= 1);
      assert.deepEqual(r.problems, []);
      assert.equal(r.recovered, r.runs);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a finished unit's checkpoint keeps only the parameters it keeps: a quarter of a full one, and it evaluates the same", async () => {
  const dir = tmp();
  try {
    const exp = experiment(FAULT_SINGLE, dir);
    const r = await trainAndEvaluate(exp, 'test', quiet);
    const unit = checkpointDirOf(exp.checkpointDir, 'LSTM(update)', 0);
    const slots = fs.readdirSync(unit).filter((f) => f.startsWith('ckpt-'));
    assert.deepEqual(slots, ['ckpt-00000004']);
    const m = JSON.parse(fs.readFileSync(path.join(unit, slots[0], 'manifest.json'), 'utf8'));
    assert.equal(m.final, true);
    assert.deepEqual([...new Set(m.tensors.map((t: { name: string }) => t.name.split('/')[0]))], ['meta']);
    const { st } = unitState(exp);
    const metaBytes = metaTensors(st.meta).reduce((s, t) => s + 4 * t.size, 0);
    assert.equal(m.bytes, metaBytes);
    disposeTrainState(st);
    // meta eval reads it and gives the held-out numbers of the run
    const e = await evaluateFromCheckpoints(exp, 'test', quiet);
    assert.deepEqual(e.variants['LSTM(update)'].loss, r.variants['LSTM(update)'].loss);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A stop flag that asks to stop at its `at`-th poll (polled after every batch). */
const stopAt = (at: number) => {
  let polls = 0;
  return {
    get requested() {
      return ++polls >= at ? ('SIGTERM' as const) : null;
    },
  };
};

/** FAULT_SINGLE in `dir`, stopped after its 2nd batch (checkpointed, resumable). */
async function stoppedRun(dir: string): Promise<MetaExperiment> {
  const exp = experiment(FAULT_SINGLE, dir);
  await assert.rejects(trainAndEvaluate(exp, 'test', { ...quiet, stop: stopAt(2) }), Interrupted);
  return exp;
}
const unitLogs = (exp: MetaExperiment) => path.join(exp.logdir, 'LSTM-update', 'seed-0');
const eventFileOf = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).map((f) => path.join(dir, f))[0]!;

test('a cut train.jsonl and a deleted event file do not block a resume: what was lost is named, the results are those of an uninterrupted run', async () => {
  const dir = tmp();
  try {
    const whole = experiment(FAULT_SINGLE, path.join(dir, 'whole'));
    await trainAndEvaluate(whole, 'test', quiet);
    const exp = await stoppedRun(path.join(dir, 'cut'));
    const jsonl = path.join(unitLogs(exp), 'train.jsonl');
    const had = fs.statSync(jsonl).size;
    fs.truncateSync(jsonl, 10);
    const events = eventFileOf(unitLogs(exp));
    fs.rmSync(events);
    const log: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => log.push(l), start: 'resume' });
    const said = log.join('\n');
    assert.match(said, new RegExp(`log file \\S*train\\.jsonl is damaged \\(cut to 10 of ${had} bytes\\): kept its first 0 bytes, ${had} bytes of records are lost`), said);
    assert.match(said, /log file \S*events\.out\.tfevents\.\S+ is missing: its \d+ bytes of records are lost/, said);
    assert.deepEqual(runRecord(exp.logdir).results, runRecord(whole.logdir).results);
    // what is there reads whole: the steps after the checkpoint, each once
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(exp.logdir)).filter((d) => /twice/.test(d)), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('flipped bytes in an event file are found by their CRC at resume: the file is cut to its last good record, said so, and reads whole after', async () => {
  const dir = tmp();
  try {
    const whole = experiment(FAULT_SINGLE, path.join(dir, 'whole'));
    await trainAndEvaluate(whole, 'test', quiet);
    const exp = await stoppedRun(path.join(dir, 'flip'));
    const events = eventFileOf(unitLogs(exp));
    const bytes = fs.readFileSync(events);
    const at = Math.floor(bytes.length / 2);
    bytes[at] ^= 0xff;
    fs.writeFileSync(events, bytes);
    assert.throws(() => readEventFile(events), /CRC|truncated/);
    const log: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => log.push(l), start: 'resume' });
    assert.match(log.join('\n'), /log file \S*events\.out\.tfevents\.\S+ is damaged \(a bad (payload|length) CRC at byte \d+\): kept its first \d+ bytes, \d+ bytes of records are lost/, log.join('\n'));
    assert.ok(readEventFile(events).length > 1, 'TensorBoard can read the file again');
    assert.deepEqual(runRecord(exp.logdir).results, runRecord(whole.logdir).results);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The study run whole in `dir`/whole, and in `dir`/parts stopped with its first unit done (4 batches) and the second after 2 (two slots). */
async function halfStudy(dir: string) {
  const whole = experiment(FAULT_STUDY, path.join(dir, 'whole'));
  await trainAndEvaluate(whole, 'test', quiet);
  const exp = experiment(FAULT_STUDY, path.join(dir, 'parts'));
  await assert.rejects(trainAndEvaluate(exp, 'test', { ...quiet, stop: stopAt(6) }), Interrupted);
  return { whole, exp };
}

test("a finished unit's damaged logs are cut back to their last intact record (or removed when nothing is intact) when the study resumes, said so, and read whole after", async () => {
  const dir = tmp();
  try {
    const { whole, exp } = await halfStudy(dir);
    const events = eventFileOf(unitLogs(exp));
    const bytes = fs.readFileSync(events);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(events, bytes);
    // and the first record of its JSONL file: nothing in it is intact
    const jsonl = path.join(unitLogs(exp), 'train.jsonl');
    const lines = fs.readFileSync(jsonl);
    lines[0] ^= 0xff;
    fs.writeFileSync(jsonl, lines);
    const log: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => log.push(l), start: 'resume' });
    assert.match(log.join('\n'), /LSTM\(update\) seed 0: log file \S*events\.out\.tfevents\.\S+ is damaged \(a bad (payload|length) CRC at byte \d+\): kept its first \d+ bytes/, log.join('\n'));
    assert.match(log.join('\n'), /LSTM\(update\) seed 0: log file \S*train\.jsonl is damaged .*: kept its first 0 bytes/, log.join('\n'));
    assert.ok(readEventFile(events).length > 1, 'TensorBoard can read the file again');
    assert.ok(!fs.existsSync(jsonl), 'a log file with nothing intact is removed');
    assert.deepEqual(runRecord(exp.logdir).results, runRecord(whole.logdir).results);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a unit whose checkpoint slots are all damaged: the refusal names --retrain-unit, which trains that unit again and keeps the others; a garbled study.json says to remove it and resume", async () => {
  const dir = tmp();
  try {
    const { whole, exp } = await halfStudy(dir);
    const second = checkpointDirOf(exp.checkpointDir, 'LSTM(lr,tele)', 0);
    const slots = fs.readdirSync(second).filter((f) => f.startsWith('ckpt-'));
    assert.equal(slots.length, 2);
    for (const s of slots) fs.writeFileSync(path.join(second, s, 'tensors.bin'), 'damaged');
    await assert.rejects(trainAndEvaluate(exp, 'test', { ...quiet, start: 'resume' }), /no intact checkpoint.*--resume --retrain-unit 'LSTM\(lr,tele\)#0'/);
    await assert.rejects(trainAndEvaluate(exp, 'test', { ...quiet, start: 'resume', retrain: ['LSTM(nope)#0'] }), /no such unit; the run's units are LSTM\(update\)#0, LSTM\(lr,tele\)#0/);
    const log: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => log.push(l), start: 'resume', retrain: ['LSTM(lr,tele)#0'] });
    assert.ok(log.some((l) => /LSTM\(update\) seed 0: done in an earlier run/.test(l)), log.join('\n'));
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(exp.logdir)), []);
    // a garbled study.json: the refusal says what to do, and doing it loses no unit
    const study = path.join(exp.checkpointDir, 'study.json');
    fs.writeFileSync(study, '{"format": "symtele-meta-st');
    await assert.rejects(trainAndEvaluate(exp, 'test', { ...quiet, start: 'resume' }), (e: Error) => e instanceof StudyError && /study\.json is corrupt: .*Remove it and run again with --resume/.test(e.message));
    fs.rmSync(study);
    const again: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => again.push(l), start: 'resume' });
    assert.equal(again.filter((l) => /nothing left to train/.test(l)).length, 2, again.join('\n'));
    assert.ok(!again.some((l) => /trained on 0 trajectories/.test(l)), again.join('\n'));
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(exp.logdir)), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a unit whose slots were all deleted says it trains again from the start; a new run refuses a logdir holding another run', async () => {
  const dir = tmp();
  try {
    const whole = experiment(FAULT_SINGLE, path.join(dir, 'whole'));
    await trainAndEvaluate(whole, 'test', quiet);
    const exp = await stoppedRun(path.join(dir, 'gone'));
    const unit = checkpointDirOf(exp.checkpointDir, 'LSTM(update)', 0);
    for (const s of fs.readdirSync(unit).filter((f) => f.startsWith('ckpt-'))) fs.rmSync(path.join(unit, s), { recursive: true });
    const log: string[] = [];
    await trainAndEvaluate(exp, 'test', { log: (l) => log.push(l), start: 'resume' });
    assert.ok(log.some((l) => /LSTM\(update\) seed 0: no checkpoint left in \S+: it trains again from the start/.test(l)), log.join('\n'));
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(exp.logdir)), []);
    // a second run, new checkpointDir, same logdir: refused, the first run's files untouched
    const before = runRecord(whole.logdir);
    const second = { ...whole, checkpointDir: path.join(dir, 'ckpt2') };
    await assert.rejects(trainAndEvaluate(second, 'test', quiet), (e: Error) => e instanceof StudyError && e.message.includes(`${whole.logdir} (logdir) holds the logs of another run`) && /results\.json.*another logdir.*--fresh/.test(e.message));
    await assert.rejects(trainAndEvaluate(second, 'test', { ...quiet, start: 'resume' }), /holds the logs of another run/);
    assert.deepEqual(runRecord(whole.logdir), before);
    assert.ok(fs.existsSync(path.join(whole.logdir, 'heldout-loss.svg')) || fs.existsSync(path.join(whole.logdir, 'heldout-loss.png')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("meta eval with other held-out problems keeps the training run's results.json, plot and held-out logs, and says where it wrote", async () => {
  const dir = tmp();
  try {
    const exp = experiment(FAULT_SINGLE, dir);
    await trainAndEvaluate(exp, 'test', quiet);
    const before = runRecord(exp.logdir);
    const results = fs.readFileSync(path.join(exp.logdir, 'results.json'), 'utf8');
    const log: string[] = [];
    const other = { ...exp, heldout: { ...exp.heldout, trajectories: 3 } };
    await evaluateFromCheckpoints(other, 'test', { log: (l) => log.push(l) });
    assert.equal(fs.readFileSync(path.join(exp.logdir, 'results.json'), 'utf8'), results);
    assert.deepEqual(runRecord(exp.logdir).results, before.results);
    const said = log.find((l) => /holds other held-out results .* kept: this evaluation writes to /.test(l));
    assert.ok(said, log.join('\n'));
    const where = said.slice(said.lastIndexOf(' ') + 1);
    assert.equal(JSON.parse(fs.readFileSync(path.join(where, 'results.json'), 'utf8')).heldout.trajectories, 3);
    // the same held-out problems: the report is the same, written in place
    await evaluateFromCheckpoints(exp, 'test', quiet);
    assert.deepEqual(runRecord(exp.logdir).results, before.results);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a full disk (ENOSPC at a checkpoint write): the error names the file and prints the resume command; the resume finishes with the results of an uninterrupted run', async () => {
  const dir = tmp();
  try {
    const whole = experiment(FAULT_SINGLE, path.join(dir, 'whole'));
    await trainAndEvaluate(whole, 'test', quiet);
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ ...FAULT_SINGLE, logdir: path.join(dir, 'full', 'logs'), checkpointDir: path.join(dir, 'full', 'ckpt') }));
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--import', PRELOAD, DIST_CLI, 'meta', 'train', '--config', file, '--quiet', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, SYMTELE_BACKEND: 'wasm', ...env } });
    // the 2nd write into a tensors.bin: the first checkpoint's tensors
    const full = run([], { SYMTELE_FAULT_ENOSPC: '1', SYMTELE_FAULT_KILL_AT: '2', SYMTELE_FAULT_MATCH: 'tensors\\.bin' });
    assert.equal(full.status, 1, full.stderr);
    assert.match(full.stderr, /cannot write checkpoint file "\S+tensors\.bin": ENOSPC: no space left on device/);
    assert.match(full.stderr, /the disk is full\. Free some space, then resume with: symtele meta train --config \S+ --quiet --resume/);
    const resumed = run(['--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(compareRuns(runRecord(whole.logdir), runRecord(path.join(dir, 'full', 'logs'))), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('leftovers of killed processes (orphan slot, trash, atomic-write temporaries, a stale slot beside a final one) are gone once the run finishes', async () => {
  const dir = tmp();
  try {
    const exp = await stoppedRun(dir);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
    const unit = checkpointDirOf(exp.checkpointDir, 'LSTM(update)', 0);
    const json = path.join(dir, 'out', 'out.json');
    fs.mkdirSync(path.dirname(json));
    const made = [
      path.join(unit, `ckpt-00000003.${dead}.tmp`),
      path.join(unit, `.ckpt-00000001.trash.${dead}.0a1b2c3d.tmp`),
      path.join(exp.logdir, `.results.json.${dead}.0a1b2c3d4e5f.tmp`),
      path.join(path.dirname(json), `.out.json.${dead}.0a1b2c3d4e5f.tmp`),
    ];
    for (const f of made) f.includes('ckpt-') ? fs.mkdirSync(f) : fs.writeFileSync(f, 'x');
    const units = [{ label: 'LSTM(update)', metaSeed: 0 }];
    assert.equal(leftovers(exp, units, [path.dirname(json)]).length, 4);
    await trainAndEvaluate(exp, 'test', { ...quiet, start: 'resume', json });
    for (const f of made) assert.equal(fs.existsSync(f), false, f);
    // a stale slot beside the final one (a kill between the final commit and the pruning)
    const [final] = fs.readdirSync(unit).filter((f) => /^ckpt-\d+$/.test(f));
    fs.cpSync(path.join(unit, final!), path.join(unit, 'ckpt-00000001'), { recursive: true });
    assert.deepEqual(leftovers(exp, units), [path.join(unit, 'ckpt-00000001')]);
    await trainAndEvaluate(exp, 'test', { ...quiet, start: 'resume' });
    assert.deepEqual(leftovers(exp, units, [path.dirname(json)]), []);
    assert.deepEqual(fs.readdirSync(unit).filter((f) => f.startsWith('ckpt-') || f.endsWith('.tmp')), [final]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a finished unit's event file that its last checkpoint does not name (started after it, when the named one was lost) is checked whole: damaged, it is cut back or removed", () => {
  const dir = tmp();
  try {
    const w = createSummaryWriter(dir);
    for (let s = 0; s < 5; s++) w.scalar('x', s, s);
    w.close();
    const bytes = fs.readFileSync(w.path);
    bytes[60] ^= 0xff; // inside the second record
    fs.writeFileSync(w.path, bytes);
    const log: string[] = [];
    repairUnitLogs(dir, [{ file: 'events.out.tfevents.0.lost.0', bytes: 100 }], (l) => log.push(l));
    assert.match(log.join('\n'), /events\.out\.tfevents\.0\.lost\.0 is missing/);
    assert.match(log.join('\n'), /is damaged \(a bad (payload|length) CRC at byte \d+\): kept its first \d+ bytes/);
    assert.ok(readEventFile(w.path).length >= 1, 'the intact records read again');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
