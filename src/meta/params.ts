// Meta-parameters, namespaced by module: { update: {cell0.wx: ...}, tele: {...} }. Each module
// is trained at its own meta learning rate; checkpoints and the wire format flatten the record
// to "module/name" keys only at the I/O boundary.
import * as tf from '@tensorflow/tfjs';
import type { Params } from '../nn/lstm.js';

export type MetaParams = Record<string, Params>;

export const metaTensors = (m: MetaParams): tf.Tensor[] =>
  Object.keys(m).sort().flatMap((mod) => Object.keys(m[mod]).sort().map((k) => m[mod][k]));

export function flattenMeta(m: MetaParams): Params {
  const out: Params = {};
  for (const mod of Object.keys(m).sort()) for (const k of Object.keys(m[mod]).sort()) out[`${mod}/${k}`] = m[mod][k];
  return out;
}

export function unflattenMeta(p: Params): MetaParams {
  const out: MetaParams = {};
  for (const [key, t] of Object.entries(p)) {
    const i = key.indexOf('/');
    if (i <= 0) throw new Error(`meta-parameter "${key}": expected "module/name"`);
    (out[key.slice(0, i)] ??= {})[key.slice(i + 1)] = t;
  }
  return out;
}

export const mapMeta = (m: MetaParams, f: (t: tf.Tensor, mod: string, name: string) => tf.Tensor): MetaParams =>
  Object.fromEntries(Object.entries(m).map(([mod, ps]) => [mod, Object.fromEntries(Object.entries(ps).map(([k, t]) => [k, f(t, mod, k)]))]));

export const cloneMeta = (m: MetaParams): MetaParams => mapMeta(m, (t) => tf.clone(t));

export const disposeMeta = (m: MetaParams | null | undefined): void => {
  if (m) tf.dispose(metaTensors(m));
};
