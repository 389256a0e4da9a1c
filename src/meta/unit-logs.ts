// The log files of one meta-training unit (a variant at one meta-seed): a TensorBoard event file
// and a JSONL file of the same records, in the unit's log directory. They are committed (flushed,
// fsynced, lengths taken) with every checkpoint; a resumed unit cuts them back to the lengths its
// checkpoint recorded and appends, so after any number of crashes the files hold every step
// once, like an uninterrupted run's.
import fs from 'node:fs';
import path from 'node:path';
import { makeDirs } from '../run/atomic.js';
import { createJsonlWriter, type JsonlWriter } from '../logging/jsonl.js';
import { createSummaryWriter, eventFiles, type SummaryWriter } from '../logging/tensorboard.js';
import { readableLength } from '../logging/recover.js';
import type { LogMark } from './checkpoint.js';

export const JSONL_FILE = 'train.jsonl';

export interface UnitLogs {
  /** TensorBoard writer (null when TensorBoard is off). */
  readonly tb: SummaryWriter | null;
  readonly jsonl: JsonlWriter;
  /** Flush and fsync both files; their lengths, for the checkpoint. */
  commit(): LogMark[];
  close(): void;
}

/**
 * The checkpoint's marks that can be continued: a file cut short or with damaged records is
 * continued from its last intact record; a deleted one (or one with nothing intact) is started
 * again. Every loss is one line naming the file and the bytes.
 */
export function recoverMarks(dir: string, marks: readonly LogMark[], log: (line: string) => void): LogMark[] {
  const out: LogMark[] = [];
  for (const m of marks) {
    const file = path.join(dir, m.file);
    if (!fs.existsSync(file)) {
      log(`log file ${file} is missing: its ${m.bytes} bytes of records are lost; it starts again from here`);
      continue;
    }
    const r = readableLength(file, m.bytes, m.file === JSONL_FILE ? 'jsonl' : 'events');
    if (r.bytes < m.bytes) log(`log file ${file} is damaged (${r.why}): kept its first ${r.bytes} bytes, ${m.bytes - r.bytes} bytes of records are lost`);
    if (r.bytes > 0) out.push({ file: m.file, bytes: r.bytes });
  }
  return out;
}

/**
 * A finished unit's logs checked: each file against the length its last checkpoint recorded (a
 * file the checkpoint does not know, started after it, against its whole length). A file damaged
 * since is cut back to its last intact record, so TensorBoard reads it again, or removed when
 * nothing in it is intact; one line names what was lost. Nothing is written when the files are whole.
 */
export function repairUnitLogs(dir: string, marks: readonly LogMark[], log: (line: string) => void): void {
  const present = fs.existsSync(dir) ? [...eventFiles(dir).map((p) => path.basename(p)), ...(fs.existsSync(path.join(dir, JSONL_FILE)) ? [JSONL_FILE] : [])] : [];
  const expected = [...marks, ...present.filter((f) => !marks.some((m) => m.file === f)).map((f) => ({ file: f, bytes: fs.statSync(path.join(dir, f)).size }))];
  const kept = new Map(recoverMarks(dir, expected, log).map((m) => [m.file, m.bytes]));
  for (const m of expected) {
    const file = path.join(dir, m.file);
    if (!fs.existsSync(file)) continue;
    const bytes = kept.get(m.file) ?? 0; // nothing intact: the file goes (its loss is said above)
    if (bytes === 0) fs.rmSync(file);
    else if (fs.statSync(file).size > bytes) fs.truncateSync(file, bytes);
  }
}

/**
 * Open the unit's logs in `dir`. `from` null: a fresh unit, whose earlier files (a killed run's
 * that never checkpointed) are removed. Otherwise the lengths of a checkpoint: those files are
 * continued from there (from their last intact record where they were damaged since, see
 * recoverMarks) and files created after it are removed.
 */
export function openUnitLogs(dir: string, marks: readonly LogMark[] | null, tensorboard = true, log: (line: string) => void = () => {}): UnitLogs {
  makeDirs(dir);
  const from = marks && recoverMarks(dir, marks, log);
  const kept = new Set((from ?? []).map((m) => m.file));
  for (const f of [...eventFiles(dir).map((p) => path.basename(p)), JSONL_FILE]) {
    if (!kept.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  const at = (pred: (f: string) => boolean) => from?.find((m) => pred(m.file));
  const tbMark = at((f) => f !== JSONL_FILE);
  const jsonlMark = at((f) => f === JSONL_FILE);
  const tb = tensorboard ? createSummaryWriter(dir, tbMark ? { continueAt: tbMark } : {}) : null;
  const jsonl = createJsonlWriter(path.join(dir, JSONL_FILE), jsonlMark ? { continueAt: jsonlMark.bytes } : {});
  return {
    tb,
    jsonl,
    commit: () => [
      ...(tb ? [{ file: path.basename(tb.path), bytes: tb.commit() }] : []),
      { file: JSONL_FILE, bytes: jsonl.commit() },
    ],
    close() {
      tb?.close();
      jsonl.close();
    },
  };
}
