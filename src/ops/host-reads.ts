// Counting host reads: every call that copies a tensor's values back to JavaScript
// (dataSync, data, arraySync, array, bufferSync, buffer, bytes) during a function call. A
// loop meant to stay on the device (one read per window, say) is tested by counting them.
// The Tensor prototype methods are wrapped only while a count runs; a read made by another
// read (arraySync calls dataSync) counts once.
import * as tf from '@tensorflow/tfjs';

const METHODS = ['dataSync', 'data', 'arraySync', 'array', 'bufferSync', 'buffer', 'bytes'] as const;
export type HostReadMethod = (typeof METHODS)[number];

export interface HostReadCount {
  /** Outermost read calls, all methods together. */
  total: number;
  /** Outermost read calls per method (methods not called are absent). */
  byMethod: Partial<Record<HostReadMethod, number>>;
}

type Proto = Record<HostReadMethod, (...args: unknown[]) => unknown>;

const counters: HostReadCount[] = [];
let originals: Proto | undefined;
let depth = 0;

function install(): void {
  const proto = tf.Tensor.prototype as unknown as Proto;
  originals = {} as Proto;
  for (const m of METHODS) {
    const original = proto[m];
    originals[m] = original;
    proto[m] = function (this: unknown, ...args: unknown[]) {
      if (depth === 0) {
        for (const c of counters) {
          c.total++;
          c.byMethod[m] = (c.byMethod[m] ?? 0) + 1;
        }
      }
      depth++;
      let result: unknown;
      try {
        result = original.apply(this, args);
      } finally {
        depth--;
      }
      return result;
    };
  }
}

function uninstall(): void {
  if (originals === undefined) return;
  const proto = tf.Tensor.prototype as unknown as Proto;
  for (const m of METHODS) proto[m] = originals[m];
  originals = undefined;
}

function start(): HostReadCount {
  if (counters.length === 0) install();
  const c: HostReadCount = { total: 0, byMethod: {} };
  counters.push(c);
  return c;
}

function stop(c: HostReadCount): void {
  counters.splice(counters.indexOf(c), 1);
  if (counters.length === 0) uninstall();
}

/** Run fn and count the host reads it makes (synchronously). Counts may nest. */
export function countHostReads<T>(fn: () => T): { value: T; reads: HostReadCount } {
  const c = start();
  try {
    const value = fn();
    if (value instanceof Promise) throw new Error('countHostReads: fn returned a promise; use countHostReadsAsync');
    return { value, reads: c };
  } finally {
    stop(c);
  }
}

/**
 * Await fn and count the host reads made until it settles. Reads by other code running
 * concurrently in the same process count too: run it alone.
 */
export async function countHostReadsAsync<T>(fn: () => Promise<T>): Promise<{ value: T; reads: HostReadCount }> {
  const c = start();
  try {
    const value = await fn();
    return { value, reads: c };
  } finally {
    stop(c);
  }
}
