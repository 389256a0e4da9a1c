/**
 * TensorBoard event-file writer.
 *
 * An event file is a sequence of TFRecords (see {@link frameRecord}), each holding one
 * `tensorboard.Event` protobuf. The first record carries `file_version: "brain.Event:2"`;
 * later records carry summaries: scalars as `simple_value`, histograms as `HistogramProto`,
 * text as a string tensor tagged for the text plugin.
 *
 * The messages below are the subset of tensorboard's `event.proto`, `summary.proto`,
 * `histogram.proto`, `tensor.proto` and `tensor_shape.proto` that we write, with the field
 * numbers of those files (checked against the descriptors of the `tensorboard` Python package).
 *
 * Writes are buffered in memory and appended synchronously to the file when the buffer grows
 * past a size limit, periodically (a timer that does not keep the process alive), on
 * `flush()`, on `close()`, and when the process exits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import CRC32C from 'crc-32/crc32c.js';
import protobuf from 'protobufjs';
import { appendBuffer, openContinued } from './append.js';
import { makeDirs } from '../run/atomic.js';

// ---------------------------------------------------------------------------------------------
// TFRecord framing

const MASK_DELTA = 0xa282ead8;

/** Unsigned crc32c (Castagnoli) of `data`. */
export function crc32c(data: Uint8Array): number {
  return CRC32C.buf(data) >>> 0;
}

/** The TFRecord "masked" crc32c: `((crc >>> 15) | (crc << 17)) + 0xa282ead8` mod 2^32. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/**
 * Frame one payload as a TFRecord: uint64 LE length, masked crc32c of the 8 length bytes,
 * the payload, masked crc32c of the payload (both crcs uint32 LE).
 */
export function frameRecord(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + payload.length + 4);
  out.writeBigUInt64LE(BigInt(payload.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(payload, 12);
  out.writeUInt32LE(maskedCrc32c(payload), 12 + payload.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Protobuf messages

/** The proto3 schema of the messages we write (field numbers as in tensorboard's protos). */
export const EVENT_PROTO = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}

message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      HistogramProto histo = 5;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
  DataClass data_class = 4;
}

enum DataClass {
  DATA_CLASS_UNKNOWN = 0;
  DATA_CLASS_SCALAR = 1;
  DATA_CLASS_TENSOR = 2;
  DATA_CLASS_BLOB_SEQUENCE = 3;
}

message HistogramProto {
  double min = 1;
  double max = 2;
  double num = 3;
  double sum = 4;
  double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true];
  repeated double bucket = 7 [packed = true];
}

message TensorShapeProto {
  message Dim {
    int64 size = 1;
    string name = 2;
  }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}

message TensorProto {
  DataType dtype = 1;
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
  repeated double double_val = 6 [packed = true];
  repeated bytes string_val = 8;
}

enum DataType {
  DT_INVALID = 0;
  DT_FLOAT = 1;
  DT_DOUBLE = 2;
  DT_STRING = 7;
}
`;

const root = protobuf.parse(EVENT_PROTO, { keepCase: true }).root;
/** The `tensorboard.Event` message type (exported for decoders and tests). */
export const EventType: protobuf.Type = root.lookupType('tensorboard.Event');

/** Data-class and dtype enum values used below. */
const DATA_CLASS_TENSOR = 2;
const DT_STRING = 7;

/** The `file_version` of the first record of every event file. */
export const FILE_VERSION = 'brain.Event:2';

/** Encode one Event object (snake_case field names) to protobuf bytes. */
export function encodeEvent(event: Record<string, unknown>): Uint8Array {
  const err = EventType.verify(event);
  if (err !== null) throw new Error(`invalid TensorBoard event: ${err}`);
  return EventType.encode(EventType.fromObject(event)).finish();
}

// ---------------------------------------------------------------------------------------------
// Histograms

/** Fields of a `HistogramProto`, in the snake_case of the proto. */
export interface HistogramData {
  min: number;
  max: number;
  num: number;
  sum: number;
  sum_squares: number;
  bucket_limit: number[];
  bucket: number[];
}

/**
 * Bucket `values` into `bins` equal-width buckets between their min and max.
 *
 * TensorBoard reads bucket i as spanning `(bucket_limit[i-1], bucket_limit[i]]`, the first
 * starting at `min`, so the last limit is `max`. Non-finite values (NaN, ±Infinity) are left
 * out: they have no place on the axis, and one NaN weight must not stop a training run.
 */
export function makeHistogram(values: ArrayLike<number>, bins = 30): HistogramData {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new Error(`histogram bins must be a positive integer, got ${bins}`);
  }
  let min = Infinity;
  let max = -Infinity;
  let num = 0;
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    num++;
    sum += v;
    sumSquares += v * v;
  }
  if (num === 0) {
    return { min: 0, max: 0, num: 0, sum: 0, sum_squares: 0, bucket_limit: [0], bucket: [0] };
  }
  if (min === max) {
    return { min, max, num, sum, sum_squares: sumSquares, bucket_limit: [max], bucket: [num] };
  }
  const width = (max - min) / bins;
  const bucket = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    // Bucket i holds (min + i*width, min + (i+1)*width]; the minimum goes to bucket 0.
    const k = Math.min(bins - 1, Math.max(0, Math.ceil((v - min) / width) - 1));
    bucket[k]!++;
  }
  const bucketLimit = bucket.map((_, i) => (i === bins - 1 ? max : min + (i + 1) * width));
  return { min, max, num, sum, sum_squares: sumSquares, bucket_limit: bucketLimit, bucket };
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Error raised when the log directory cannot be created or written. */
export class LogDirError extends Error {
  constructor(
    readonly logdir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LogDirError';
  }
}

/** A TensorBoard summary writer bound to one event file. */
export interface SummaryWriter {
  /** Path of the event file being written. */
  readonly path: string;
  /** Log a scalar (stored as float32, like TensorFlow's `simple_value`). */
  scalar(tag: string, value: number, step: number): void;
  /** Log a histogram of `values` (non-finite values are left out). */
  histogram(tag: string, values: Float32Array | Float64Array | readonly number[], step: number): void;
  /** Log a markdown text summary (TensorBoard's text plugin). */
  text(tag: string, markdown: string, step: number): void;
  /** Append buffered records to the file. */
  flush(): void;
  /** Flush and fsync; returns the file's length (a checkpoint records it, see `continueAt`). */
  commit(): number;
  /** Flush and close the file; later writes throw. Closing twice is a no-op. */
  close(): void;
}

/** Options of {@link createSummaryWriter}. */
export interface SummaryWriterOptions {
  /** Flush when this many bytes are buffered (default 64 KiB). */
  maxBufferBytes?: number;
  /** Flush buffered records at least this often, in ms (default 5000; 0 disables the timer). */
  flushIntervalMs?: number;
  /** Buckets per histogram (default 30). */
  histogramBins?: number;
  /** Extra suffix appended to the file name (e.g. `.v2`), default none. */
  filenameSuffix?: string;
  /** Clock in ms since the epoch (default `Date.now`); used for wall_time and the file name. */
  now?: () => number;
  /**
   * Continue this event file (a basename in `logdir`) cut back to `bytes` instead of starting a
   * new one: a resumed run goes on with the same file, without the records written after the
   * checkpoint it resumes from (TensorBoard would show those steps twice).
   */
  continueAt?: { file: string; bytes: number };
}

let fileCounter = 0;
/** Create `logdir` (recursively) and check that files can be created in it. */
function prepareLogDir(logdir: string): string {
  if (typeof logdir !== 'string' || logdir.trim() === '') {
    throw new LogDirError(String(logdir), `invalid TensorBoard log directory ${JSON.stringify(logdir)}: expected a non-empty path`);
  }
  if (logdir.includes('\0')) {
    throw new LogDirError(logdir, `invalid TensorBoard log directory ${JSON.stringify(logdir)}: path contains a NUL byte`);
  }
  const dir = path.resolve(logdir);
  try {
    makeDirs(dir);
    if (!fs.statSync(dir).isDirectory()) throw new Error('not a directory');
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw new LogDirError(
      logdir,
      `cannot use TensorBoard log directory "${dir}": ${(e as Error).message}`,
      { cause: e },
    );
  }
  return dir;
}

function checkTag(tag: string): void {
  if (typeof tag !== 'string' || tag === '') {
    throw new Error(`summary tag must be a non-empty string, got ${JSON.stringify(tag)}`);
  }
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step)) {
    throw new Error(`summary step must be a safe integer, got ${step}`);
  }
}

/**
 * Create a new event file `events.out.tfevents.<secs>.<hostname>.<pid>.<counter>` in `logdir`
 * (created if missing) and return a writer for it.
 *
 * @throws LogDirError naming the path when the directory is invalid or cannot be written.
 */
export function createSummaryWriter(logdir: string, options: SummaryWriterOptions = {}): SummaryWriter {
  const dir = prepareLogDir(logdir);
  const now = options.now ?? Date.now;
  const maxBufferBytes = options.maxBufferBytes ?? 64 * 1024;
  const flushIntervalMs = options.flushIntervalMs ?? 5000;
  const bins = options.histogramBins ?? 30;
  const suffix = options.filenameSuffix ?? '';

  let fd = -1;
  let filePath = '';
  if (options.continueAt) {
    filePath = path.join(dir, options.continueAt.file);
    try {
      fd = openContinued(filePath, options.continueAt.bytes, 'TensorBoard event file');
    } catch (e) {
      throw new LogDirError(logdir, (e as Error).message, { cause: e });
    }
  }
  // Otherwise open a fresh file exclusively; on the (unlikely) clash, take the next counter.
  const secs = Math.floor(now() / 1000);
  for (let attempt = 0; fd < 0; attempt++) {
    const name = `events.out.tfevents.${String(secs).padStart(10, '0')}.${os.hostname()}.${process.pid}.${fileCounter++}${suffix}`;
    filePath = path.join(dir, name);
    try {
      fd = fs.openSync(filePath, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
      throw new LogDirError(logdir, `cannot create event file "${filePath}": ${(e as Error).message}`, { cause: e });
    }
  }

  const buf = appendBuffer(fd, filePath, 'TensorBoard event file', maxBufferBytes);
  let timer: NodeJS.Timeout | undefined;
  let timerError: Error | undefined; // a failed background flush, rethrown by the next call

  const append = (event: Record<string, unknown>): void => {
    if (buf.closed) throw new Error(`TensorBoard writer for "${filePath}" is closed`);
    buf.push(frameRecord(encodeEvent(event)));
  };

  const summaryEvent = (step: number, value: Record<string, unknown>): void => {
    append({ wall_time: now() / 1000, step, summary: { value: [value] } });
  };

  const writer: SummaryWriter = {
    path: filePath,

    scalar(tag, value, step) {
      checkTag(tag);
      checkStep(step);
      if (typeof value !== 'number') throw new Error(`scalar "${tag}" must be a number, got ${typeof value}`);
      summaryEvent(step, { tag, simple_value: value });
    },

    histogram(tag, values, step) {
      checkTag(tag);
      checkStep(step);
      summaryEvent(step, { tag, histo: makeHistogram(values, bins) });
    },

    text(tag, markdown, step) {
      checkTag(tag);
      checkStep(step);
      summaryEvent(step, {
        tag,
        metadata: { plugin_data: { plugin_name: 'text', content: new Uint8Array(0) }, data_class: DATA_CLASS_TENSOR },
        tensor: { dtype: DT_STRING, tensor_shape: {}, string_val: [Buffer.from(String(markdown), 'utf8')] },
      });
    },

    flush() {
      if (timerError !== undefined) {
        const e = timerError;
        timerError = undefined;
        throw e;
      }
      buf.flush();
    },

    commit() {
      writer.flush();
      return buf.commit();
    },

    close() {
      if (buf.closed) return;
      try {
        writer.flush();
      } finally {
        if (timer !== undefined) clearInterval(timer);
        buf.close();
      }
    },
  };

  if (!options.continueAt) {
    // Like TensorFlow, the header event leaves step at its default (0) and so out of the bytes.
    append({ wall_time: now() / 1000, file_version: FILE_VERSION });
    writer.flush(); // the header is on disk as soon as the writer exists
  }
  if (flushIntervalMs > 0) {
    timer = setInterval(() => {
      try {
        writer.flush();
      } catch (e) {
        timerError = e as Error;
      }
    }, flushIntervalMs);
    timer.unref();
  }
  return writer;
}

// ---------------------------------------------------------------------------------------------
// Reader

/** One decoded event: its step and, for summaries, the tags with their scalar values. */
export interface ReadEvent {
  step: number;
  wallTime: number;
  values: { tag: string; simpleValue?: number }[];
}

/**
 * The whole TFRecords at the start of `buf` (length, its CRC, payload, its CRC), where they end,
 * and what stops them there when it is not the end of `buf` (a torn or corrupt record).
 */
export function intactRecords(buf: Buffer): { payloads: Buffer[]; bytes: number; why?: string } {
  const payloads: Buffer[] = [];
  let off = 0;
  const stop = (what: string) => ({ payloads, bytes: off, why: `${what} at byte ${off}` });
  while (off < buf.length) {
    if (off + 12 > buf.length) return stop('a truncated record header');
    if (buf.readUInt32LE(off + 8) !== maskedCrc32c(buf.subarray(off, off + 8))) return stop('a bad length CRC');
    const len = Number(buf.readBigUInt64LE(off));
    if (off + 16 + len > buf.length) return stop('a truncated record');
    const payload = buf.subarray(off + 12, off + 12 + len);
    if (buf.readUInt32LE(off + 12 + len) !== maskedCrc32c(payload)) return stop('a bad payload CRC');
    payloads.push(payload);
    off += 16 + len;
  }
  return { payloads, bytes: off };
}

/**
 * Read an event file back, checking every record's framing and CRCs (a torn or corrupt file is
 * an error naming the offset): for checks of what a run logged, e.g. that no step is missing or
 * written twice after a crash and resume.
 */
export function readEventFile(file: string): ReadEvent[] {
  const r = intactRecords(fs.readFileSync(file));
  if (r.why !== undefined) throw new Error(`${file}: ${r.why}`);
  return r.payloads.map((payload) => {
    const e = EventType.toObject(EventType.decode(payload), { longs: Number }) as {
      step?: number;
      wall_time?: number;
      summary?: { value?: { tag: string; simple_value?: number }[] };
    };
    return {
      step: e.step ?? 0,
      wallTime: e.wall_time ?? 0,
      values: (e.summary?.value ?? []).map((v) => ({ tag: v.tag, ...(v.simple_value !== undefined ? { simpleValue: v.simple_value } : {}) })),
    };
  });
}

/** The event files in `dir` (none if it does not exist), sorted by name. */
export function eventFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('events.out.tfevents.'))
    .sort()
    .map((f) => path.join(dir, f));
}
