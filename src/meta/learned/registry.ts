// Every learned optimizer by its config `kind`: a new learned optimizer is one file exporting
// { kind, codec, create } plus one entry here. 'paper' is the whole-vector family of paper
// section 5.2 (GD, LSTM(update), LSTM(lr,tele), LSTM(update,tele) and anything between);
// 'coordinatewise' the size-agnostic per-parameter LSTM update, '+tele' with the learned teleport.
import * as t from 'io-ts';
import { taggedUnion } from '../../config/codec.js';
import { VariantCodec, type VariantConfig } from '../variant.js';
import type { LearnedOptimizer } from './learned.js';
import { paperLearned } from './paper.js';
import { coordinatewiseEntry } from './coordinatewise.js';
import { teleportingEntry } from './teleport.js';

const coordinatewiseTele = teleportingEntry(coordinatewiseEntry);

const LEARNED = {
  paper: { codec: VariantCodec, create: (c: VariantConfig) => paperLearned(c) as LearnedOptimizer },
  coordinatewise: coordinatewiseEntry,
  'coordinatewise+tele': coordinatewiseTele,
} as const;

type Members = { [K in keyof typeof LEARNED]: (typeof LEARNED)[K]['codec'] };
export const LearnedConfig = taggedUnion('kind', Object.fromEntries(Object.entries(LEARNED).map(([k, v]) => [k, v.codec])) as Members);
export type LearnedConfig = t.TypeOf<typeof LearnedConfig>;

export function makeLearned(cfg: LearnedConfig): LearnedOptimizer {
  const { kind, ...rest } = cfg;
  const entry = LEARNED[kind] as { create: (c: typeof rest) => LearnedOptimizer } | undefined;
  if (!entry) throw new Error(`learned.kind: expected one of ${Object.keys(LEARNED).join(', ')}, got "${kind}"`);
  return entry.create(rest);
}

/** The learned-optimizer config of a paper variant. */
export const paperConfig = (v: VariantConfig): LearnedConfig => ({ kind: 'paper', ...v });
