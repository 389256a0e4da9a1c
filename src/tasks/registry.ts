// Every task family by its config `kind`. A new family is one file exporting a part entry
// { kind, codec, create } plus one `registerTaskFamily` line (here for the built-in ones, in a
// plugin for a user's own).
import type { TaskFamily } from './task.js';
import { PartRegistry, type PartConfig, type PartEntry } from '../config/parts.js';
import { regressionTask } from './regression.js';
import { classificationTask } from './classification.js';
import { mixtureTask } from './mixture.js';

export const taskFamilies = new PartRegistry<TaskFamily>('task family');

export const registerTaskFamily = <C>(entry: PartEntry<TaskFamily, C>): void => taskFamilies.register(entry);

registerTaskFamily(regressionTask);
registerTaskFamily(classificationTask);
registerTaskFamily(mixtureTask(taskFamilies));

/** A task config: `{ kind, ...the family's fields }`. */
export const TaskConfig = taskFamilies.codec;
export type TaskConfig = PartConfig;

export const taskFamily = (cfg: TaskConfig): TaskFamily => taskFamilies.create(cfg);
