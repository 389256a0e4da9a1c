/**
 * Progress reporting for long loops.
 *
 * On an interactive terminal (the stream is a TTY and `CI` is not set) it draws a
 * `cli-progress` bar. Elsewhere (logs, CI, pipes) a redrawn bar would only fill the log with
 * control characters, so it prints one plain line each time another `everyPercent` percent is
 * done, and a last line on `stop()`. Mode `quiet` prints nothing.
 */
import cliProgress from 'cli-progress';

/** Extra values shown after the counts, e.g. `{ loss: 0.12 }`. */
export type ProgressPayload = Record<string, string | number>;

/** A running progress report. */
export interface Progress {
  /** Advance by `n` (default 1) and optionally update the payload shown. */
  tick(n?: number, payload?: ProgressPayload): void;
  /** Finish the report (draws the final state). Stopping twice is a no-op. */
  stop(): void;
}

/** How to report: `auto` picks `bar` on an interactive terminal and `lines` elsewhere. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'quiet';

/** Options of {@link progress}. */
export interface ProgressOptions {
  /** Default `auto`. */
  mode?: ProgressMode;
  /** Output stream (default `process.stderr`). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** In `lines` mode, print a line every this many percent (default 10). */
  everyPercent?: number;
  /** Environment consulted for `CI` (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Steps already done (a resumed run): the count starts there and the ETA counts from here on. */
  start?: number;
}

/** Format a payload as ` key=value` pairs; numbers get 4 significant digits. */
function formatPayload(payload: ProgressPayload): string {
  return Object.entries(payload)
    .map(([k, v]) => ` ${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : v}`)
    .join('');
}

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function formatEta(s: number): string {
  const t = Math.round(s);
  const [h, m, sec] = [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60];
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** Decide the effective mode for `auto`. */
export function resolveProgressMode(
  mode: ProgressMode,
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined> = process.env,
): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const ci = env['CI'];
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
  return stream.isTTY === true && !inCi ? 'bar' : 'lines';
}

/** Start reporting progress of `label` over `total` steps. */
export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  if (!Number.isFinite(total) || total < 0) throw new Error(`progress total must be a finite number >= 0, got ${total}`);
  const stream = options.stream ?? process.stderr;
  const mode = resolveProgressMode(options.mode ?? 'auto', stream, options.env);
  const start = Math.min(total, Math.max(0, options.start ?? 0));
  let done = start;
  let payload: ProgressPayload = {};
  let stopped = false;

  if (mode === 'quiet') {
    return {
      tick(n = 1) {
        done += n;
      },
      stop() {
        stopped = true;
      },
    };
  }

  if (mode === 'bar') {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}{extra}`,
        stream,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { extra: '' });
    return {
      tick(n = 1, p) {
        if (stopped) return;
        if (p !== undefined) payload = { ...payload, ...p };
        done = Math.min(total, done + n);
        bar.update(done, { extra: formatPayload(payload) });
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.stop();
      },
    };
  }

  // lines
  const every = options.everyPercent ?? 10;
  if (!(every > 0)) throw new Error(`progress everyPercent must be > 0, got ${every}`);
  const started = Date.now();
  let lastBucket = total === 0 ? 0 : Math.floor((100 * start) / total / every);
  const line = (): void => {
    const pct = total === 0 ? 100 : Math.floor((100 * done) / total);
    const secs = (Date.now() - started) / 1000;
    const eta = done > start && done < total ? ` ETA ${formatEta((secs / (done - start)) * (total - done))}` : '';
    stream.write(`${label}: ${pct}% (${done}/${total}) ${secs.toFixed(1)}s${eta}${formatPayload(payload)}\n`);
  };
  return {
    tick(n = 1, p) {
      if (stopped) return;
      if (p !== undefined) payload = { ...payload, ...p };
      done = Math.min(total, done + n);
      const bucket = total === 0 ? 0 : Math.floor((100 * done) / total / every);
      if (bucket > lastBucket && done < total) {
        lastBucket = bucket;
        line();
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      line();
    },
  };
}
