// symtele's tfjs environment flags: boolean switches between paths that give the same numbers
// (for A/B timing and tests), each defaulting from an environment variable of the same name.
import * as tf from '@tensorflow/tfjs';

/** Registers a boolean flag whose default is the environment variable `name` (`'1'` on, `'0'` off). */
export function registerSwitch(name: string, byDefault: boolean): () => boolean {
  tf.env().registerFlag(name, () => (process.env[name] === undefined ? byDefault : process.env[name] === '1'));
  return () => tf.env().getBool(name);
}

/** `fn` with flag `name` set to `on`, the value before restored after (also on a throw). */
export async function withSwitch<T>(name: string, on: boolean, fn: () => Promise<T>): Promise<T> {
  const before = tf.env().getBool(name);
  tf.env().set(name, on);
  try {
    return await fn();
  } finally {
    tf.env().set(name, before);
  }
}
