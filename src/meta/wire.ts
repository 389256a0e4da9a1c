// Meta-parameters and estimates on the wire: the run's tensor container (src/run/tensors.ts) with
// an estimate's JSON fields beside its gradients.
import { decodeTensors, encodeTensors, packWire, unpackWire, type WireTensors } from '../run/tensors.js';
export { decodeTensors, encodeTensors, packWire, unpackWire, type WireEntry, type WireTensors } from '../run/tensors.js';
import type { Estimate } from './estimator.js';
import { flattenMeta, unflattenMeta, type MetaParams } from './params.js';

/** `shared`: the data in a SharedArrayBuffer, which worker threads receive without a copy each. */
export const encodeMeta = (m: MetaParams, shared = false): WireTensors => encodeTensors(flattenMeta(m), shared);
export const decodeMeta = (w: WireTensors, where = 'wire'): MetaParams => unflattenMeta(decodeTensors(w, where));

/** An estimate on the wire: its gradients as tensors, the rest as JSON. */
export interface WireEstimate extends Omit<Estimate, 'grads'> {
  grads: WireTensors;
}

/** The JSON fields of an estimate (everything but its gradients). */
const infoOf = ({ grads: _g, ...info }: Estimate | WireEstimate): Omit<Estimate, 'grads'> => ({ ...info, meanLoss: info.meanLoss.slice() });

export function encodeEstimate(e: Estimate): WireEstimate {
  return { ...infoOf(e), grads: encodeMeta(e.grads) };
}

export function decodeEstimate(w: WireEstimate, where = 'wire'): Estimate {
  return { ...infoOf(w), grads: decodeMeta(w.grads, where) };
}

export const packEstimate = (e: WireEstimate): Buffer => packWire(e.grads, infoOf(e));

export function unpackEstimate(buf: Buffer, where = 'wire'): WireEstimate {
  const { wire, extra } = unpackWire(buf, where);
  return { ...(extra as Omit<WireEstimate, 'grads'>), grads: wire };
}
