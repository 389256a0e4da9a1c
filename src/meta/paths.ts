// Where a meta-training run keeps each unit's (variant x meta-seed) checkpoints and logs.
import path from 'node:path';
import { slug } from '../run/slug.js';

export const checkpointDirOf = (root: string, label: string, metaSeed: number): string =>
  path.join(root, slug(label), `seed-${metaSeed}`);

export const unitLogDirOf = (logdir: string, label: string, metaSeed: number): string =>
  path.join(logdir, slug(label), `seed-${metaSeed}`);

/** The held-out curves of a variant (TensorBoard), rewritten whole by every report. */
export const heldoutLogDirOf = (logdir: string, label: string): string => path.join(logdir, slug(label), 'heldout');
