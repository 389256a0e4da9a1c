// The io-ts codec of teleport settings, shared by every config that teleports (the teleport
// command, the optimizer wrapper, the generalization experiments).
import type * as t from 'io-ts';
import { strict, withDefaults, optional, oneOf, PositiveInt, NonNegativeInt, Finite, PositiveNumber, arrayOf } from '../config/codec.js';
import { TeleportObjective, ActionKind } from '../config/common.js';
import { registerConfig } from '../config/registry.js';
import type { TeleportOptions } from './teleport.js';
import type { Stream } from '../rng/index.js';
import { PAPER_DISPLACEMENTS } from '../symmetry/metrics.js';

export const TeleportSettings = withDefaults(
  strict(
    {
      objective: TeleportObjective,
      steps: NonNegativeInt,
      lr: PositiveNumber,
      direction: oneOf(['increase', 'decrease']),
      kind: ActionKind,
      /** hidden layers to move; all when absent */
      layers: optional(arrayOf(NonNegativeInt, { min: 1 })),
      cap: optional(Finite),
      stepNorm: optional(PositiveNumber),
      sharpness: withDefaults(strict({ displacements: arrayOf(Finite, { min: 1 }), directions: PositiveInt }), {
        displacements: PAPER_DISPLACEMENTS,
        directions: 200,
      }),
      curvature: withDefaults(strict({ curves: PositiveInt, layer: optional(NonNegativeInt) }), { curves: 1 }),
    },
    'TeleportSettings',
  ),
  { objective: 'gradNorm', steps: 10, lr: 0.05, direction: 'increase', kind: 'pinv', sharpness: {}, curvature: {} },
);
export type TeleportSettings = t.TypeOf<typeof TeleportSettings>;

registerConfig('teleport-settings', TeleportSettings, 'how a teleport runs: objective, steps, lr, direction, action kind');

/** TeleportOptions for `teleport()` from validated settings. */
export function teleportOptions(s: TeleportSettings, extra: { loss: 'mse' | 'ce'; slope: number; rng: Stream }): TeleportOptions {
  return {
    objective: s.objective,
    steps: s.steps,
    lr: s.lr,
    direction: s.direction,
    kind: s.kind,
    layers: s.layers,
    cap: s.cap,
    stepNorm: s.stepNorm,
    loss: extra.loss,
    slope: extra.slope,
    rng: extra.rng,
    sharpness: { displacements: s.sharpness.displacements, count: s.sharpness.directions },
    curvature: { count: s.curvature.curves, layer: s.curvature.layer },
  };
}
