// Every task family by its config `kind`: the config's task is a tagged union of the members'
// codecs. A new family is one file exporting { kind, codec, family } plus one line here.
import * as t from 'io-ts';
import { taggedUnion } from '../config/codec.js';
import type { TaskFamily } from './task.js';
import { regressionTask } from './regression.js';
import { classificationTask } from './classification.js';

const TASKS = {
  [regressionTask.kind]: regressionTask,
  [classificationTask.kind]: classificationTask,
} as const;

export const TaskConfig = taggedUnion('kind', Object.fromEntries(Object.entries(TASKS).map(([k, v]) => [k, v.codec])) as { [K in keyof typeof TASKS]: (typeof TASKS)[K]['codec'] });
export type TaskConfig = t.TypeOf<typeof TaskConfig>;

export function taskFamily(cfg: TaskConfig): TaskFamily {
  const { kind, ...rest } = cfg;
  const entry = TASKS[kind] as { family: (c: typeof rest) => TaskFamily } | undefined;
  if (!entry) throw new Error(`task.kind: expected one of ${Object.keys(TASKS).join(', ')}, got "${kind}"`);
  return entry.family(rest);
}
