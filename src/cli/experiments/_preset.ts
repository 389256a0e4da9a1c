// Loading an experiment config on top of a preset: preset defaults, then the config file, then
// flags. Any problem (a bad preset name included) exits with code 2 before anything runs.
import type * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { decodeConfig } from '../../config/codec.js';
import { exitWithError, loadConfigOrExit } from '../run.js';
import { Preset } from '../../optim-experiments/config.js';

export async function loadPresetConfigOrExit<A>(
  codecFor: (p: Preset) => t.Type<A, unknown, unknown>,
  preset: string | undefined,
  file: string | undefined,
  overrides: unknown,
): Promise<{ preset: Preset; config: A }> {
  const p = decodeConfig(Preset, preset ?? 'full', '--preset');
  if (E.isLeft(p)) exitWithError(p.left);
  return { preset: p.right, config: await loadConfigOrExit(codecFor(p.right), file, overrides) };
}
