import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tmpDirs } from '../helpers/tmp.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import CRC32C from 'crc-32/crc32c.js';
import protobuf from 'protobufjs';
import {
  createSummaryWriter,
  makeHistogram,
  LogDirError,
  createJsonlWriter,
  readJsonl,
  progress,
  formatEta,
  resolveProgressMode,
} from '../../src/logging/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const tmpDir = tmpDirs('symtele-logging');

// ---------------------------------------------------------------------------------------------
// An independent reader: TFRecord framing checked byte by byte, Events decoded with a schema
// written here (only the fields read back), not the writer's.

const readerSchema = protobuf.parse(
  `syntax = "proto3";
  message Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
  message Summary { repeated Value value = 1; }
  message Value { string tag = 1; float simple_value = 2; Histo histo = 5; Tensor tensor = 8; Meta metadata = 9; }
  message Histo { double min = 1; double max = 2; double num = 3; double sum = 4; double sum_squares = 5;
                  repeated double bucket_limit = 6; repeated double bucket = 7; }
  message Tensor { int32 dtype = 1; repeated bytes string_val = 8; }
  message Meta { Plugin plugin_data = 1; int32 data_class = 4; }
  message Plugin { string plugin_name = 1; bytes content = 2; }`,
  { keepCase: true },
).root;
const ReaderEvent = readerSchema.lookupType('Event');

function masked(data: Uint8Array): number {
  const crc = CRC32C.buf(data) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

interface DecodedEvent {
  wall_time?: number;
  step?: number;
  file_version?: string;
  summary?: {
    value: Array<{
      tag: string;
      simple_value?: number;
      histo?: { min: number; max: number; num: number; sum: number; sum_squares: number; bucket_limit: number[]; bucket: number[] };
      tensor?: { dtype: number; string_val: Uint8Array[] };
      metadata?: { plugin_data?: { plugin_name: string }; data_class?: number };
    }>;
  };
}

function readEvents(file: string): DecodedEvent[] {
  const buf = fs.readFileSync(file);
  const events: DecodedEvent[] = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 12 <= buf.length, `truncated record header at ${off}`);
    const lenBytes = buf.subarray(off, off + 8);
    const len = Number(buf.readBigUInt64LE(off));
    assert.equal(buf.readUInt32LE(off + 8), masked(lenBytes), `length crc of record at ${off}`);
    assert.ok(off + 12 + len + 4 <= buf.length, `truncated record at ${off}`);
    const payload = buf.subarray(off + 12, off + 12 + len);
    assert.equal(buf.readUInt32LE(off + 12 + len), masked(payload), `payload crc of record at ${off}`);
    const msg = ReaderEvent.decode(payload);
    events.push(ReaderEvent.toObject(msg, { longs: Number, arrays: true }) as DecodedEvent);
    off += 12 + len + 4;
  }
  return events;
}

function onlyEventFile(dir: string): string {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  assert.equal(files.length, 1, `expected one event file in ${dir}, found ${files.join(', ')}`);
  return path.join(dir, files[0]!);
}

// ---------------------------------------------------------------------------------------------
// TensorBoard writer

test('a fresh event file starts with the golden header bytes', () => {
  const dir = tmpDir();
  const w = createSummaryWriter(dir);
  // The header is on disk before anything else is written or flushed.
  const head = fs.readFileSync(w.path).subarray(0, 12);
  assert.equal(head.toString('hex'), '1800000000000000a37f4b22');
  w.close();
  const events = readEvents(w.path);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.file_version, 'brain.Event:2');
});

test('event file name follows TensorFlow: events.out.tfevents.<secs>.<host>.<pid>.<n>', () => {
  const dir = tmpDir();
  const a = createSummaryWriter(dir, { now: () => 1_700_000_000_123 });
  const b = createSummaryWriter(dir, { now: () => 1_700_000_000_123 });
  a.close();
  b.close();
  const re = new RegExp(`^events\\.out\\.tfevents\\.1700000000\\.${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.${process.pid}\\.\\d+$`);
  assert.match(path.basename(a.path), re);
  assert.match(path.basename(b.path), re);
  assert.notEqual(a.path, b.path);
});

test('scalars, histograms and text round-trip through an independent decoder', () => {
  const dir = path.join(tmpDir(), 'nested', 'run');
  const w = createSummaryWriter(dir, { maxBufferBytes: 200 }); // force several flushes
  const hist = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
  for (let step = 0; step < 20; step++) {
    w.scalar('loss/train', 1 / (step + 1), step);
    w.scalar('zero', 0, step);
  }
  w.histogram('weights/w1', hist, 5);
  w.histogram('weights/const', [2, 2, 2], 6);
  w.histogram('weights/empty', [], 7);
  w.text('notes', '# Run\n*teleport* every 10 steps — ünïcode', 3);
  w.close();
  w.close(); // idempotent
  assert.throws(() => w.scalar('late', 1, 1), /closed/);

  const events = readEvents(onlyEventFile(dir));
  assert.equal(events[0]!.file_version, 'brain.Event:2');
  const values = events.slice(1).map((e) => {
    assert.equal(e.summary!.value.length, 1);
    assert.ok(e.wall_time! > 1.6e9 && e.wall_time! < 1e10, 'wall_time in seconds');
    return { step: e.step ?? 0, ...e.summary!.value[0]! };
  });

  const loss = values.filter((v) => v.tag === 'loss/train');
  assert.deepEqual(loss.map((v) => v.step), [...Array(20).keys()]);
  loss.forEach((v, i) => assert.equal(v.simple_value, Math.fround(1 / (i + 1))));
  const zero = values.filter((v) => v.tag === 'zero');
  assert.equal(zero.length, 20);
  zero.forEach((v) => assert.equal(v.simple_value, 0));

  const h = values.find((v) => v.tag === 'weights/w1')!;
  assert.equal(h.step, 5);
  const hp = h.histo!;
  assert.equal(hp.num, 1000);
  assert.equal(hp.min, Math.min(...hist));
  assert.equal(hp.max, Math.max(...hist));
  assert.ok(Math.abs(hp.sum - hist.reduce((a, b) => a + b, 0)) < 1e-9);
  assert.equal(hp.bucket.reduce((a, b) => a + b, 0), 1000);
  assert.equal(hp.bucket.length, hp.bucket_limit.length);
  assert.equal(hp.bucket_limit.at(-1), hp.max);
  for (let i = 1; i < hp.bucket_limit.length; i++) assert.ok(hp.bucket_limit[i]! > hp.bucket_limit[i - 1]!);

  const c = values.find((v) => v.tag === 'weights/const')!.histo!;
  assert.deepEqual([c.num, c.min, c.max, c.bucket, c.bucket_limit], [3, 2, 2, [3], [2]]);
  const e = values.find((v) => v.tag === 'weights/empty')!.histo!;
  assert.equal(e.num ?? 0, 0);

  const t = values.find((v) => v.tag === 'notes')!;
  assert.equal(t.step, 3);
  assert.equal(t.metadata!.plugin_data!.plugin_name, 'text');
  assert.equal(t.tensor!.dtype, 7); // DT_STRING
  assert.equal(Buffer.from(t.tensor!.string_val[0]!).toString('utf8'), '# Run\n*teleport* every 10 steps — ünïcode');
});

test('makeHistogram puts every finite value in exactly one bucket and skips non-finite ones', () => {
  const h = makeHistogram([0, 1, 2, 3, 4, NaN, Infinity, -Infinity], 4);
  assert.deepEqual([h.num, h.min, h.max, h.sum, h.sum_squares], [5, 0, 4, 10, 30]);
  // Buckets (0,1] with min included, (1,2], (2,3], (3,4].
  assert.deepEqual(h.bucket_limit, [1, 2, 3, 4]);
  assert.deepEqual(h.bucket, [2, 1, 1, 1]);
});

test('an unwritable or invalid log directory gives an error naming the path', () => {
  const base = tmpDir();
  const file = path.join(base, 'not-a-dir');
  fs.writeFileSync(file, 'x');
  const bad = path.join(file, 'logs');
  assert.throws(
    () => createSummaryWriter(bad),
    (e: unknown) => e instanceof LogDirError && e.message.includes(bad) && e.logdir === bad,
  );
  assert.throws(() => createSummaryWriter(file), (e: unknown) => e instanceof LogDirError && e.message.includes(file));
  assert.throws(() => createSummaryWriter(''), LogDirError);
});

test('the real TensorBoard reader lists the tags and steps written', () => {
  const python = path.join(repoRoot, '.venv', 'bin', 'python');
  assert.ok(
    fs.existsSync(python),
    'Python venv with tensorboard missing: run `bash scripts/setup-python.sh` at the repository root first',
  );
  const dir = tmpDir();
  const w = createSummaryWriter(dir);
  for (let step = 0; step < 5; step++) w.scalar('loss', 10 - step, step * 10);
  w.scalar('meta/lr', 0.001, 7);
  w.histogram('grads', Float32Array.from([-1, 0, 0.5, 2]), 3);
  w.histogram('grads', Float32Array.from([-2, 0, 1, 4, 5]), 4);
  w.text('config', 'lr = **0.1**', 0);
  w.close();

  const out = execFileSync(python, [path.join(repoRoot, 'scripts', 'read_events.py'), dir], { encoding: 'utf8' });
  const seen = JSON.parse(out) as {
    scalars: Record<string, Array<[number, number]>>;
    histograms: Record<string, Array<[number, number, number, number]>>;
    tensors: Record<string, Array<[number, string, string | null]>>;
  };
  assert.deepEqual(Object.keys(seen.scalars).sort(), ['loss', 'meta/lr']);
  assert.deepEqual(seen.scalars['loss'], [[0, 10], [10, 9], [20, 8], [30, 7], [40, 6]]);
  assert.equal(seen.scalars['meta/lr']![0]![0], 7);
  assert.ok(Math.abs(seen.scalars['meta/lr']![0]![1] - 0.001) < 1e-9);
  assert.deepEqual(seen.histograms, { grads: [[3, 4, -1, 2], [4, 5, -2, 5]] });
  assert.deepEqual(seen.tensors, { config: [[0, 'text', 'lr = **0.1**']] });
});

// ---------------------------------------------------------------------------------------------
// JSONL, progress

test('JSONL writer appends one object per line', () => {
  const file = path.join(tmpDir(), 'sub', 'metrics.jsonl');
  const w = createJsonlWriter(file, { now: () => 1_700_000_000_500 });
  w.scalar('loss', 0.5, 1);
  w.scalar('loss', NaN, 2);
  w.write({ event: 'teleport', step: 10, cost: [1, 2] });
  w.write({ val: { score: Infinity, steps: [-Infinity, 1] } }); // non-finite anywhere: strings, not null
  w.close();
  const w2 = createJsonlWriter(file); // appends by default
  w2.scalar('acc', 0.9, 3);
  w2.close();
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 5);
  const recs = readJsonl(file);
  assert.deepEqual(recs.slice(0, 4), [
    { step: 1, tag: 'loss', value: 0.5, wallTime: 1_700_000_000.5 },
    { step: 2, tag: 'loss', value: 'NaN', wallTime: 1_700_000_000.5 },
    { event: 'teleport', step: 10, cost: [1, 2] },
    { val: { score: 'Infinity', steps: ['-Infinity', 1] } },
  ]);
  assert.equal((recs[4] as { tag: string }).tag, 'acc');
});

test('progress prints a line per N% when not on a TTY, nothing when quiet', () => {
  let text = '';
  const sink = {
    isTTY: false,
    write(chunk: string) {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const p = progress('train', 100, { stream: sink, everyPercent: 25 });
  for (let i = 0; i < 100; i++) p.tick(1, { loss: 1 / (i + 1) });
  p.stop();
  p.stop();
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 4, text); // 25%, 50%, 75% and the final line
  assert.match(lines[0]!, /^train: 25% \(25\/100\)/);
  assert.match(lines.at(-1)!, /^train: 100% \(100\/100\) .* loss=0\.01$/);

  text = '';
  const q = progress('quiet', 10, { stream: sink, mode: 'quiet' });
  q.tick(10);
  q.stop();
  assert.equal(text, '');

  assert.equal(resolveProgressMode('auto', { isTTY: true }, {}), 'bar');
  assert.equal(resolveProgressMode('auto', { isTTY: true }, { CI: 'true' }), 'lines');
  assert.equal(resolveProgressMode('auto', { isTTY: false }, {}), 'lines');
});

test('progress lines: a resumed count starts where it was, with an ETA from the pace since then', () => {
  let out = '';
  const stream = { write: (s: string) => ((out += s), true), isTTY: false } as unknown as NodeJS.WritableStream;
  const p = progress('unit 2/3 x seed 0', 10, { mode: 'lines', stream, start: 4, everyPercent: 20 });
  p.tick();
  p.tick();
  p.stop();
  const lines = out.trim().split('\n');
  assert.match(lines[0]!, /^unit 2\/3 x seed 0: 60% \(6\/10\) [\d.]+s ETA \d+s$/);
  assert.match(lines[lines.length - 1]!, /: 60% \(6\/10\)/);
  assert.equal(formatEta(3725), '1h02m');
  assert.equal(formatEta(185), '3m05s');
});
