// Hand-designed baselines of a meta experiment: the optimizers of src/optim/ (sgd, momentum,
// adagrad, rmsprop, adam) with their torch defaults, run on the same held-out problems as the
// learned optimizers. `lr` may be a list: the baseline then runs at the rate whose validation
// problems score best (mean log loss, the learned optimizers' validation score), chosen before
// any held-out problem is seen.
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { arrayOf, describeAs, isPlainObject, PositiveNumber, withShape } from '../config/codec.js';
import { PartRegistry, type PartConfig, type PartEntry } from '../config/parts.js';
import { AdagradConfig, AdamConfig, MomentumConfig, RmspropConfig, SgdConfig } from '../optim/config.js';
import { optimizer as handOptimizer } from '../optim/hand.js';
import type { Optimizer } from '../optim/types.js';
import type { LearnedOptimizer } from './learned/learned.js';

/** An ordinary optimizer as a learned one without meta-parameters, so one evaluation path runs both. */
export const asLearned = (opt: Optimizer<unknown>): LearnedOptimizer =>
  ({ name: opt.name, modules: [], init: () => ({}), optimizer: () => opt }) as unknown as LearnedOptimizer;

const Lrs = describeAs(t.union([PositiveNumber, arrayOf(PositiveNumber, { min: 1 })]), 'a positive number, or a non-empty list of them (tuned on validation)');

/** The optimizer's own codec, with `lr` a rate or a list of rates. */
function withLrList(name: string, codec: t.Type<any, any, unknown>): t.Type<Record<string, unknown>, Record<string, unknown>, unknown> {
  const lrList = describeAs(
    new t.Type<Record<string, unknown>, Record<string, unknown>, unknown>(
      name,
      (u): u is Record<string, unknown> => isPlainObject(u),
      (u, c) => {
        if (!isPlainObject(u)) return t.failure(u, c);
        const { lr, ...rest } = u;
        const lrs = lr === undefined ? E.right(undefined) : Lrs.validate(lr, t.appendContext(c, 'lr', Lrs, lr));
        const one = Array.isArray(lr) ? lr[0] : lr;
        // the optimizer's own checks see one valid rate; the list is checked above
        const own = codec.validate(lr === undefined ? rest : { ...rest, lr: typeof one === 'number' && one > 0 ? one : 1 }, c);
        const errors = [...(E.isLeft(lrs) ? lrs.left : []), ...(E.isLeft(own) ? own.left : [])];
        if (errors.length > 0 || E.isLeft(own) || E.isLeft(lrs)) return t.failures(errors);
        return t.success({ ...own.right, lr: lrs.right ?? own.right.lr });
      },
      (a) => a,
    ),
    'an object',
  );
  return withShape(lrList, codec);
}

const entry = (kind: 'sgd' | 'momentum' | 'adagrad' | 'rmsprop' | 'adam', codec: t.Type<any, any, unknown>, description: string): PartEntry<LearnedOptimizer, Record<string, unknown>> => ({
  kind,
  codec: withLrList(kind, codec),
  create: (c) => {
    if (typeof c.lr !== 'number') throw new Error(`baseline ${kind}: one lr is needed to build it (a list is tuned first)`);
    return asLearned(handOptimizer({ ...c, name: kind } as never) as Optimizer<unknown>);
  },
  description,
  size: () => ({ floats: 0, largestTensor: 0, evalSecondsPerStep: 1.9e-4, trainSecondsPerStep: 0, stepBytesPerParameter: 36 }),
});

export const baselines = new PartRegistry<LearnedOptimizer>('baseline');

export const registerBaseline = <C>(e: PartEntry<LearnedOptimizer, C>): void => baselines.register(e);

registerBaseline(entry('sgd', SgdConfig, 'gradient descent (torch.optim.SGD; lr required)'));
registerBaseline(entry('momentum', MomentumConfig, 'SGD with momentum 0.9 (torch.optim.SGD; lr required)'));
registerBaseline(entry('adagrad', AdagradConfig, 'torch.optim.Adagrad'));
registerBaseline(entry('rmsprop', RmspropConfig, 'torch.optim.RMSprop'));
registerBaseline(entry('adam', AdamConfig, 'torch.optim.Adam'));

/** A baseline config: `{ kind, lr: rate | [rates], ...the optimizer's fields }`. */
export const BaselineConfig = baselines.codec;
export type BaselineConfig = PartConfig;

/** The rates a baseline config tries (one when `lr` is a number). */
export const baselineLrs = (c: BaselineConfig): number[] => (Array.isArray(c.lr) ? (c.lr as number[]) : [c.lr as number]);

/** The baseline at one rate. */
export const makeBaseline = (c: BaselineConfig, lr: number): LearnedOptimizer => baselines.create({ ...c, lr });
