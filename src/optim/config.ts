/**
 * Configs of the hand-designed optimizers: io-ts codecs whose defaults are exactly PyTorch's
 * (torch.optim 1.13). Keys are torch's keyword arguments in camelCase:
 *
 *     sgd       lr (required), momentum 0, dampening 0, weightDecay 0, nesterov false, maximize false
 *     momentum  SGD with momentum 0.9 by default (otherwise the same keys as sgd; lr required)
 *     adagrad   lr 1e-2, lrDecay 0, weightDecay 0, initialAccumulatorValue 0, eps 1e-10, maximize false
 *     rmsprop   lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered false, maximize false
 *     adam      lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, amsgrad false, maximize false
 *
 * Value checks are torch's (ValueError in its constructors): every rate, decay and eps >= 0,
 * betas in [0, 1), and Nesterov momentum needs momentum > 0 and zero dampening.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import {
  decodeOrThrow,
  describeAs,
  Finite,
  NonNegativeNumber,
  numberIn,
  strict,
  taggedUnion,
  withDefaults,
  withShape,
} from '../config/codec.js';
import { registerConfig } from '../config/registry.js';

const Beta = numberIn({ ge: 0, lt: 1 });

const sgdProps = {
  lr: NonNegativeNumber,
  momentum: NonNegativeNumber,
  dampening: Finite,
  weightDecay: NonNegativeNumber,
  nesterov: t.boolean,
  maximize: t.boolean,
};

const nesterovOk = (c: { momentum: number; dampening: number; nesterov: boolean }) =>
  !c.nesterov || (c.momentum > 0 && c.dampening === 0);

/**
 * SGD's keys; nesterov needs momentum > 0 and dampening 0. The check runs after the keys
 * decode (so their own errors are kept) and is reported at `nesterov`.
 */
const sgdStrict = strict(sgdProps, 'SgdConfig');
const sgdShape = withShape(describeAs(
  new t.Type<t.TypeOf<typeof sgdStrict>, t.OutputOf<typeof sgdStrict>, unknown>(
    'SgdConfig',
    (u): u is t.TypeOf<typeof sgdStrict> => sgdStrict.is(u) && nesterovOk(u),
    (u, c) =>
      pipe(
        sgdStrict.validate(u, c),
        E.chain((v) =>
          nesterovOk(v)
            ? t.success(v)
            : t.failure(
                v.nesterov,
                t.appendContext(c, 'nesterov', t.boolean, v.nesterov),
                `nesterov needs momentum > 0 and dampening 0 (got momentum ${v.momentum}, dampening ${v.dampening})`,
              ),
        ),
      ),
    sgdStrict.encode,
  ),
  'an object',
), sgdStrict);

const SGD_DEFAULTS = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

export const SgdConfig = withDefaults(sgdShape, SGD_DEFAULTS);
export const MomentumConfig = withDefaults(sgdShape, { ...SGD_DEFAULTS, momentum: 0.9 });

export const AdagradConfig = withDefaults(
  strict({
    lr: NonNegativeNumber,
    lrDecay: NonNegativeNumber,
    weightDecay: NonNegativeNumber,
    initialAccumulatorValue: NonNegativeNumber,
    eps: NonNegativeNumber,
    maximize: t.boolean,
  }),
  { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false },
);

export const RmspropConfig = withDefaults(
  strict({
    lr: NonNegativeNumber,
    alpha: NonNegativeNumber,
    eps: NonNegativeNumber,
    weightDecay: NonNegativeNumber,
    momentum: NonNegativeNumber,
    centered: t.boolean,
    maximize: t.boolean,
  }),
  { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false },
);

export const AdamConfig = withDefaults(
  strict({
    lr: NonNegativeNumber,
    betas: t.tuple([Beta, Beta]),
    eps: NonNegativeNumber,
    weightDecay: NonNegativeNumber,
    amsgrad: t.boolean,
    maximize: t.boolean,
  }),
  { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
);

/** Any hand-designed optimizer, told apart by `name`; decoding fills torch's defaults. */
export const OptimizerConfig = taggedUnion('name', {
  sgd: SgdConfig,
  momentum: MomentumConfig,
  adagrad: AdagradConfig,
  rmsprop: RmspropConfig,
  adam: AdamConfig,
});

/** A complete (decoded) optimizer config: every hyper-parameter present. */
export type OptimizerConfig = t.TypeOf<typeof OptimizerConfig>;
export type OptimizerName = OptimizerConfig['name'];
export type OptimizerConfigOf<N extends OptimizerName> = Extract<OptimizerConfig, { name: N }>;

/**
 * What a user writes: the name, and any hyper-parameters (the others take torch's defaults).
 * `lr` is required for sgd and momentum, as in torch.
 */
export type OptimizerInput = {
  [N in OptimizerName]: { name: N } & (N extends 'sgd' | 'momentum' ? { lr: number } : unknown) &
    Partial<Omit<OptimizerConfigOf<N>, 'name'>>;
}[OptimizerName];

/** Decode and complete a config; throws a ConfigError listing every problem. */
export function resolveOptimizerConfig(input: OptimizerInput | unknown, source = 'optimizer'): OptimizerConfig {
  return decodeOrThrow(OptimizerConfig, input, source);
}

registerConfig('optimizer', OptimizerConfig, 'a hand-designed optimizer: sgd | momentum | adagrad | rmsprop | adam');
