// Every learned optimizer by its config `kind`. A new learned optimizer is one file exporting a
// part entry { kind, codec, create } plus one `registerLearnedOptimizer` line (here for the
// built-in ones, in a plugin for a user's own). 'paper' is the whole-vector LSTM family of paper
// section 5.2 (update module m1, teleport module m2, step-size head); 'coordinatewise' the
// size-agnostic per-parameter LSTM update, '+tele' with the learned teleport.
import { PartRegistry, type PartConfig, type PartEntry } from '../../config/parts.js';
import type { LearnedOptimizer } from './learned.js';
import { paperEntry } from './paper.js';
import { coordinatewiseEntry } from './coordinatewise.js';
import { teleportingEntry } from './teleport.js';

export const learnedOptimizers = new PartRegistry<LearnedOptimizer>('learned optimizer');

export const registerLearnedOptimizer = <C>(entry: PartEntry<LearnedOptimizer, C>): void => learnedOptimizers.register(entry);

registerLearnedOptimizer(paperEntry);
registerLearnedOptimizer(coordinatewiseEntry);
registerLearnedOptimizer(teleportingEntry(coordinatewiseEntry));

/** A learned-optimizer config: `{ kind, ...its fields }`. */
export const LearnedConfig = learnedOptimizers.codec;
export type LearnedConfig = PartConfig;

export const makeLearned = (cfg: LearnedConfig): LearnedOptimizer => learnedOptimizers.create(cfg);
