// A size-agnostic learned teleport around any learned optimizer. After the inner update, each
// hidden layer m gets a group element g_m = I + T_m, applied with the task's own group action:
//
//   T_m = size_m * S_m / ||S_m||,   S_m = sum_j c_mj D_mj,   size_m = cap * sigmoid(head_s(h_m))
//
// where D_mj are the task's unit candidate directions for that layer (D_m0 the ascent direction
// of the squared gradient norm) and h_m the state of one small LSTM shared over layers (rows of
// a [B * layers, features] batch). Its inputs never depend on a width: log-RMS of the gradients
// and weights of the two adjacent layers and the step fraction. The coefficient of direction j is
// <head_c(h_m), (1[j = 0], <D_mj, D_m0>, 1)>, so the number of directions need not be fixed
// either. At init head_c gives c = (1, 0, ...): the untrained module teleports along the
// gradient-norm ascent direction at initSize x cap. Unless `secondOrder`, directions and features
// are constants for the meta-gradient; the coefficients, sizes and the action are on the tape.
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { decodeOrThrow, PositiveInt, PositiveNumber, numberIn, strict, withDefaults } from '../../config/codec.js';
import { initLstm, lstmStateTensors, lstmStep, zeroLstmState, type LstmSpec, type LstmState, type Params } from '../../nn/lstm.js';
import { stopGradient } from '../../ops/activations.js';
import type { Optimizer } from '../../optim/types.js';
import type { Stream } from '../../rng/index.js';
import type { Task, TaskSymmetry } from '../../tasks/task.js';
import type { MetaParams } from '../params.js';
import type { LearnedOptimizer, LearnedState, StepStats, TaskShape } from './learned.js';

export const LearnedTeleportShape = strict(
  {
    hidden: PositiveInt,
    /** Largest ||T_m||_F; below 1 so that I + T is always invertible. */
    cap: numberIn({ gt: 0, lt: 1 }),
    /** Log-RMS features are divided by this. */
    p: PositiveNumber,
    /**
     * ||T|| of the untrained module as a fraction of the cap (the size head's bias is its logit).
     * Small: a teleport along the gradient-norm ascent direction every step sharpens the problem,
     * and at half the cap (0.1 per step) meta-training diverged within its first batches.
     */
    initSize: numberIn({ gt: 0, lt: 1 }),
    /** Steps over which the step-fraction feature goes from 0 to 1 (then stays at 1). */
    horizon: PositiveInt,
    /** true: features and directions stay on the tape (the exact meta-gradient); false: constants. */
    secondOrder: t.boolean,
  },
  'LearnedTeleportConfig',
);
export const LearnedTeleportConfig = withDefaults(LearnedTeleportShape, { hidden: 10, cap: 0.2, initSize: 0.05, p: 5, horizon: 100, secondOrder: false });
export type LearnedTeleportConfig = t.TypeOf<typeof LearnedTeleportConfig>;

export const TELEPORT_MODULE = 'tele';
/** Per-layer features: log-RMS of grad and weight of the layers below and above, step fraction. */
export const LAYER_FEATURES = 5;
/** Per-direction features: is it the gradient-norm direction, its cosine with it, a constant. */
export const DIRECTION_FEATURES = 3;

export const teleportSpec = (c: LearnedTeleportConfig): LstmSpec => ({
  input: LAYER_FEATURES,
  hidden: c.hidden,
  heads: { s: 1, c: DIRECTION_FEATURES },
});

export interface TeleportingLearnedState<S extends LearnedState> extends LearnedState {
  readonly inner: S;
  readonly tele: LstmState;
}

/** Size head: zero weights, bias logit(initSize); coefficient head pointed at the gradient-norm direction. */
export function initTeleportModule(c: LearnedTeleportConfig, rng: Stream): Params {
  const p = initLstm(teleportSpec(c), rng);
  const set = (k: string, v: tf.Tensor) => {
    p[k].dispose();
    p[k] = v;
  };
  set('head.s.w', tf.zeros(p['head.s.w'].shape));
  set('head.s.b', tf.fill(p['head.s.b'].shape, Math.log(c.initSize / (1 - c.initSize))));
  set('head.c.w', tf.zeros(p['head.c.w'].shape));
  set('head.c.b', tf.tensor1d([1, 0, 0]));
  return p;
}

const logRms = (x: tf.Tensor, p: number): tf.Tensor2D => {
  const B = x.shape[0];
  const ms = tf.mean(tf.square(tf.reshape(x, [B, -1])), 1, true);
  return tf.div(tf.log(tf.add(tf.sqrt(ms), 1e-12)), p) as tf.Tensor2D;
};

/** Rows of the layers, in order (tfjs's split into one part has no gradient: kept whole then). */
const splitLayers = (x: tf.Tensor, L: number): tf.Tensor[] => (L === 1 ? [x] : tf.split(x, L, 0));

function checkSymmetry(task: TaskShape, who: string): TaskSymmetry {
  const sym = task.symmetry;
  if (!sym) throw new Error(`${who}: the task has no symmetry (task.symmetry is needed to teleport)`);
  if (sym.groupSizes.length !== task.paramShapes.length - 1) {
    throw new Error(
      `${who}: expected one group per hidden layer between consecutive weight matrices (${task.paramShapes.length - 1}), got groupSizes of length ${sym.groupSizes.length}`,
    );
  }
  return sym;
}

/**
 * `inner` followed by a learned teleport each step (module `tele`, beside the inner modules).
 * The teleport acts on the updated parameters with the data of the step just taken.
 */
export function withLearnedTeleport<S extends LearnedState>(
  inner: LearnedOptimizer<S>,
  input: unknown = {},
): LearnedOptimizer<TeleportingLearnedState<S>> {
  const c = decodeOrThrow(LearnedTeleportConfig, input, 'learned teleport');
  const spec = teleportSpec(c);
  const mod = TELEPORT_MODULE;
  if (inner.modules.includes(mod)) throw new Error(`withLearnedTeleport: the inner optimizer already has a "${mod}" module`);
  const name = `${inner.name}+tele`;
  return {
    name,
    modules: [...inner.modules, mod],
    init(rng, task) {
      checkSymmetry(task, name);
      return { ...inner.init(rng, task), [mod]: initTeleportModule(c, rng) };
    },
    optimizer(meta: MetaParams, task: Task): Optimizer<TeleportingLearnedState<S>> {
      const sym = checkSymmetry(task, name);
      const p = meta[mod];
      if (!p) throw new Error(`${name}: meta-parameters have no "${mod}" module`);
      const innerOpt = inner.optimizer(meta, task);
      const L = sym.groupSizes.length;
      return {
        name,
        init(params) {
          const innerState = innerOpt.init(params);
          const tele = zeroLstmState(spec, params[0].shape[0] * L);
          return { step: innerState.step, inner: innerState, tele, tensors: [...innerState.tensors, ...lstmStateTensors(tele)] };
        },
        step(params, grads, state) {
          const step = state.inner.step;
          const B = params[0].shape[0];
          const r = innerOpt.step(params, grads, state.inner);
          const raw = sym.directions(params, grads, step);
          const dirs = c.secondOrder ? raw : raw.map((ds) => ds.map((d) => stopGradient(d)));
          // Layer-major rows: [layer 0: B rows; layer 1: B rows; ...].
          const frac = tf.fill([B, 1], Math.min(step / c.horizon, 1));
          const feats = tf.concat(
            Array.from({ length: L }, (_, m) =>
              tf.concat([logRms(grads[m], c.p), logRms(grads[m + 1], c.p), logRms(params[m], c.p), logRms(params[m + 1], c.p), frac], 1),
            ),
            0,
          );
          const out = c.secondOrder
            ? lstmStep(p, spec, feats as tf.Tensor2D, state.tele)
            : lstmStep(p, spec, stopGradient(feats) as tf.Tensor2D, state.tele, '', true);
          const sizes = splitLayers(tf.mul(tf.sigmoid(out.heads.s), c.cap), L);
          const coefHeads = splitLayers(out.heads.c, L);
          const ts = dirs.map((ds, m) => {
            if (ds.length === 0) throw new Error(`${name}: the task gave no candidate directions for hidden layer ${m}`);
            const d0 = ds[0];
            const sum = ds
              .map((d, j) => {
                const cos = tf.reshape(tf.sum(tf.mul(d, d0), [1, 2]), [B, 1]);
                const f = tf.concat([tf.fill([B, 1], j === 0 ? 1 : 0), cos, tf.ones([B, 1])], 1);
                const coef = tf.sum(tf.mul(coefHeads[m], f), 1);
                return tf.mul(tf.reshape(coef, [B, 1, 1]), d);
              })
              .reduce((a, b) => tf.add(a, b));
            const norm = tf.sqrt(tf.add(tf.sum(tf.square(sum), [1, 2], true), 1e-12));
            return tf.mul(sum, tf.div(tf.reshape(sizes[m], [B, 1, 1]), norm)) as tf.Tensor3D;
          });
          const gs = ts.map((x) => tf.add(x, tf.eye(x.shape[1], x.shape[1], [B])) as tf.Tensor3D);
          const moved = sym.act(r.params, gs, step);
          const stats: StepStats = {
            ...r.state.stats,
            teleDist: tf.sqrt(tf.addN(ts.map((x) => tf.sum(tf.square(x), [1, 2])))) as tf.Tensor1D,
          };
          return {
            params: moved,
            state: {
              step: r.state.step,
              inner: r.state,
              tele: out.state,
              stats,
              tensors: [...r.state.tensors, ...lstmStateTensors(out.state)],
            },
          };
        },
      };
    },
  };
}

/**
 * The registration entry of `inner` with the learned teleport: kind `<inner>+tele`, config
 * {inner: <inner's config>, tele: LearnedTeleportConfig}.
 */
export function teleportingEntry<K extends string, C extends t.Mixed>(inner: { kind: K; codec: C; create: (cfg: t.TypeOf<C>) => LearnedOptimizer }) {
  type Cfg = { inner: t.TypeOf<C>; tele: LearnedTeleportConfig };
  const codec = withDefaults(strict({ inner: inner.codec, tele: LearnedTeleportConfig }, `${inner.kind}+tele`), { inner: {}, tele: {} } as never) as unknown as t.Type<Cfg, unknown, unknown>;
  return {
    kind: `${inner.kind}+tele` as `${K}+tele`,
    codec,
    create: (cfg: Cfg): LearnedOptimizer => withLearnedTeleport(inner.create(cfg.inner), cfg.tele) as unknown as LearnedOptimizer,
  };
}
