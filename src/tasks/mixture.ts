// A mixture of task families: each batch of problems comes from one member (lockstep needs one
// shape), picked by the batch's first problem id, so a problem id names the same member on
// every call. Trains a size-agnostic learned optimizer on several shapes at once.
import { arrayOf, strict } from '../config/codec.js';
import type { PartConfig, PartRegistry, PartSize } from '../config/parts.js';
import { stream } from '../rng/index.js';
import type { TaskFamily } from './task.js';

/** One family over several (see above). */
export function mixtureFamily(members: readonly TaskFamily[]): TaskFamily {
  if (members.length === 0) throw new Error('mixtureFamily: no member families');
  return {
    name: `mixture of ${members.map((m) => m.name).join('; ')}`,
    sample: (seed, split, ns) => members[stream(seed, 'mixture', split, ns[0]!).int(members.length)]!.sample(seed, split, ns),
  };
}

/** The registration entry; its members are configs of the families of `registry` (itself included). */
export const mixtureTask = (registry: PartRegistry<TaskFamily>) => ({
  kind: 'mixture',
  codec: strict({ members: arrayOf(registry.codec, { min: 1 }) }, 'Mixture'),
  create: (c: { members: PartConfig[] }) => mixtureFamily(c.members.map((m) => registry.create(m))),
  description: 'a mixture of task families: each batch from one member, picked by its first problem id',
  // the largest member bounds the sizes; a learned optimizer sized by shapes must fit every member
  size: (c: { members: PartConfig[] }): PartSize => {
    const sizes = c.members.map((m) => registry.size(m));
    const largest = sizes.reduce((a, b) => ((b.floats ?? 0) > (a.floats ?? 0) ? b : a));
    return { ...largest, largestTensor: Math.max(...sizes.map((z) => z.largestTensor ?? 0)) };
  },
});
