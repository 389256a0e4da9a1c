// The learned optimizers of paper section 5.2 as one LearnedOptimizer per VariantConfig,
// composed of up to three parts that all read the whole flattened gradient:
//
//   update module  (LSTM m1):  f_t = outputScale * head(LSTM1(pre(grad_t))) - eta_t grad_t
//   step-size head (on m2):    f_t = -eta_t grad_t, eta_t in [min, max]     (no update module)
//   teleport module (LSTM m2): T_t per hidden layer, rescaled, g_t = I + T_t
//   w_{t+1} = g_t . (w_t + f_t)    (the task's group action; or, tele.order 'before',
//   w_{t+1} = g_t . w_t + f_t with f_t from the gradient at g_t . w_t; 'first': 'before' at
//   step 0, 'after' from then on)
//
// The whole-vector LSTMs size themselves by the task's parameter count, so trained
// meta-parameters apply to problems of that shape only (./coordinatewise.ts does not).
import * as tf from '@tensorflow/tfjs';
import { initLstm, lstmPairEnabled, lstmPairStep, lstmStep, lstmStateTensors, pairState, unpairState, zeroLstmState, type LstmSpec, type LstmState, type Params } from '../../nn/lstm.js';
import { detach } from '../../ops/activations.js';
import { invNearIdentity } from '../../ops/near-identity.js';
import type { Optimizer } from '../../optim/types.js';
import type { Stream } from '../../rng/index.js';
import { directionOf, type Task } from '../../tasks/task.js';
import type { MetaParams } from '../params.js';
import { logitOfLr, preprocess, VariantCodec, type TeleModuleConfig, type VariantConfig } from '../variant.js';
import type { PartSize, TaskShapeInfo } from '../../config/parts.js';
import { identityPlus, rescaleFrobenius } from '../../symmetry/action.js';
import { shareBuffer } from '../../ops/tape-overrides.js';
import type { LearnedOptimizer, LearnedState, Sinks, StepStats, TaskShape } from './learned.js';


export interface PaperState extends LearnedState {
  readonly update: LstmState | null;
  readonly tele: LstmState | null;
  /** Both LSTMs' state as one (lstmPairStep), in place of update and tele while they run as a pair. */
  readonly pair?: LstmState | null;
}


const count = (shapes: readonly (readonly number[])[]) => shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

export function moduleSpecs(c: VariantConfig, task: TaskShapeInfo): { update: LstmSpec | null; tele: LstmSpec | null } {
  const n = count(task.paramShapes);
  const input = c.preprocess.kind === 'logsign' ? 2 * n : n;
  const groups = task.symmetry?.groupSizes ?? [];
  if (c.tele && groups.length === 0) throw new Error(`${c.name ?? 'paper'}: the teleport module needs a task with a symmetry`);
  const layers = groups.length;
  const update = c.update ? { input, hidden: c.update.hidden, heads: { f: n, ...(c.update.lrScaleRange > 0 ? { s: 1 } : {}) } as Record<string, number> } : null;
  const tele = c.tele
    ? {
        input,
        hidden: c.tele.hidden,
        heads: {
          T: groups.reduce((a, d) => a + d * d, 0),
          ...(c.tele.lrHead ? { lr: 1 } : {}),
          ...(c.tele.direction !== 'none' ? { c: layers } : {}),
          ...(c.tele.learnedMagnitude ? { m: layers } : {}),
        } as Record<string, number>,
      }
    : null;
  return { update, tele };
}

/**
 * Scalar control heads start at zero, so an untrained optimizer uses exactly the configured
 * step (lr scale 1), no direction term (c = 0) and half the maximal teleport size.
 */
const ZERO_HEADS: Record<string, string[]> = { update: ['head.s'], tele: ['head.c', 'head.m', 'head.lr'] };

function zeroHeads(c: VariantConfig, mod: string, p: Params): Params {
  for (const h of ZERO_HEADS[mod]) {
    // the reference's clamped step-size head keeps PyTorch's init
    if (h === 'head.lr' && c.tele?.lrHead?.param !== 'logsigmoid') continue;
    for (const k of [`${h}.w`, `${h}.b`]) {
      if (p[k]) {
        const z = tf.zerosLike(p[k]);
        p[k].dispose();
        p[k] = z;
      }
    }
  }
  return p;
}

/**
 * Shapes [d_i, ...rest] with one rest (e.g. the paper's 20x20 layers): then flattening and
 * concatenating is concatenating along the first axis and flattening once, and splitting back
 * is the reverse (one kernel fewer each way, the same entries in the same order).
 */
const stackable = (shapes: readonly (readonly number[])[]): boolean =>
  shapes.length > 1 && shapes.every((s) => s.length === shapes[0].length && s.length >= 2 && s.slice(1).every((d, i) => d === shapes[0][i + 1]));

const flat = (ts: readonly tf.Tensor[]): tf.Tensor2D =>
  (stackable(ts.map((t) => t.shape.slice(1)))
    ? tf.reshape(tf.concat([...ts], 1), [ts[0].shape[0], -1])
    : tf.concat(ts.map((t) => tf.reshape(t, [t.shape[0], -1])), 1)) as tf.Tensor2D;

/** Split [B, n] back into tensors of the given shapes (each [B, ...shape]). */
function unflat(f: tf.Tensor2D, shapes: readonly (readonly number[])[]): tf.Tensor[] {
  if (stackable(shapes)) {
    const rows = shapes.map((s) => s[0]);
    return tf.split(tf.reshape(f, [f.shape[0], rows.reduce((a, b) => a + b, 0), ...shapes[0].slice(1)]), rows, 1);
  }
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const parts = sizes.length === 1 ? [f] : tf.split(f, sizes, 1);
  return parts.map((p, i) => tf.reshape(p, [f.shape[0], ...shapes[i]]));
}

/** The teleport module's group elements from its heads: T per hidden layer (g = I + T) and ||T||. */
function groupElements(
  t: TeleModuleConfig,
  heads: Record<string, tf.Tensor2D>,
  dirs: tf.Tensor3D[] | null,
  groups: readonly number[],
  firstOrder: boolean,
): { ts: tf.Tensor3D[]; dist: tf.Tensor1D } {
  if (groups.length === 1 && firstOrder) {
    const T = groupElementOp(t, groups[0], heads, dirs?.[0] ?? null);
    return { ts: [T], dist: tf.sqrt(tf.sum(tf.square(T), [1, 2])) as tf.Tensor1D };
  }
  const B = heads.T.shape[0];
  const raws = unflat(heads.T, groups.map((d) => [d, d])) as tf.Tensor3D[];
  const ts = raws.map((r, m) => {
    let raw = t.headScale !== 1 ? (tf.mul(r, t.headScale) as tf.Tensor3D) : r;
    if (dirs) {
      const c = tf.reshape(tf.slice(heads.c, [0, m], [B, 1]), [B, 1, 1]);
      raw = tf.add(raw, tf.mul(c, dirs[m])) as tf.Tensor3D;
    }
    if (!t.learnedMagnitude) return rescaleFrobenius(raw, t.magnitude);
    const size = tf.reshape(tf.sigmoid(tf.slice(heads.m, [0, m], [B, 1])), [B, 1, 1]);
    return tf.mul(rescaleFrobenius(raw, t.magnitude), size) as tf.Tensor3D;
  });
  const sq = ts.map((x) => tf.sum(tf.square(x), [1, 2]));
  const dist = tf.sqrt(sq.length === 1 ? sq[0] : tf.addN(sq)) as tf.Tensor1D;
  return { ts, dist };
}

/**
 * One hidden layer's T from the heads as one op with a hand-written backward (first order: it
 * saves intermediates, and is used only where the meta-gradient differentiates it once, i.e.
 * with a constant direction). The forward is groupElements' op by op on rows [B, d*d] (the same
 * entries, sums over the same d*d entries in the same order):
 *   raw = headScale T_head + c D,  R = raw * magnitude / sqrt(sum raw^2 + 1e-30),  T = R sigmoid(m).
 * The backward is the one tfjs's autodiff takes through those ops, kernel for kernel in the
 * same order on the same operands (the same numbers), less the kernels that change no value
 * (products with ones, slices' pads, reshapes): per problem, with n = sqrt(q), q = sum raw^2 + 1e-30,
 *   dR = dT size,  dm = sum(dT R) (size (1 - size)),  dk = sum(dR raw),
 *   dq = -(dk magnitude / n^2) / (2 n),  draw = dR k + dq (2 raw),  dT_head = draw headScale,
 *   dc = sum(draw D)   (k = magnitude / n, size = sigmoid(m)).
 * Checked against float64 finite differences in test/meta/meta.test.ts.
 */
function groupElementOp(t: TeleModuleConfig, d: number, heads: Record<string, tf.Tensor2D>, dir: tf.Tensor3D | null): tf.Tensor3D {
  const B = heads.T.shape[0];
  const withDir = dir !== null;
  const lm = t.learnedMagnitude;
  const inputs: tf.Tensor[] = [heads.T, ...(withDir ? [heads.c] : []), ...(lm ? [heads.m] : [])];
  const rows = (x: tf.Tensor) => shareBuffer(x, [B, d * d]);
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [th, ...rest] = args.slice(0, -1) as tf.Tensor2D[];
    const c = withDir ? rest[0] : null;
    const m = lm ? rest[withDir ? 1 : 0] : null;
    const D = withDir ? rows(dir) : null;
    let raw: tf.Tensor = t.headScale !== 1 ? tf.mul(th, t.headScale) : th;
    if (c && D) raw = tf.add(raw, tf.mul(c, D));
    const n = tf.sqrt(tf.add(tf.sum(tf.square(raw), 1, true), 1e-30));
    const k = tf.div(t.magnitude, n);
    const R = tf.mul(raw, k);
    const size = m ? tf.sigmoid(m) : null;
    const T = size ? tf.mul(R, size) : R;
    save([raw, n, k, R, ...(size ? [size] : []), ...(D ? [D] : [])]);
    return {
      value: shareBuffer(T, [B, d, d]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [rawS, nS, kS, RS] = saved;
        const sizeS = size ? saved[4] : null;
        const DS = D ? saved[size ? 5 : 4] : null;
        const dT = rows(dy);
        // T = R size
        const dR = sizeS ? tf.mul(dT, sizeS) : dT;
        const dm = sizeS ? tf.mul(tf.sum(tf.mul(dT, RS), 1, true), tf.mul(sizeS, tf.sub(1, sizeS))) : null;
        // R = raw k, k = magnitude / n, n = sqrt(q), q = sum raw^2 + 1e-30
        const draw1 = tf.mul(dR, kS);
        const dk = tf.sum(tf.mul(dR, rawS), 1, true);
        const dn = tf.neg(tf.div(tf.mul(dk, t.magnitude), tf.square(nS)));
        const dq = tf.div(dn, tf.mul(nS, 2));
        const draw = tf.add(draw1, tf.mul(dq, tf.mul(rawS, 2)));
        // raw = T_head headScale + c D
        const grads: tf.Tensor[] = [t.headScale !== 1 ? tf.mul(draw, t.headScale) : draw];
        if (DS) grads.push(tf.sum(tf.mul(draw, DS), 1, true));
        if (dm) grads.push(dm);
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...ts: tf.Tensor[]) => tf.Tensor3D;
  return op(...inputs);
}

/** Exported for the tests: the fused group element (one hidden layer) and its op-by-op original. */
export const groupElementForTests = (t: TeleModuleConfig, d: number, heads: Record<string, tf.Tensor2D>, dir: tf.Tensor3D | null, fused: boolean): tf.Tensor3D =>
  groupElements(t, heads, dir ? [dir] : null, [d], fused).ts[0];

const DIRECTION_KIND = { w2: 'w2', gradNorm: 'gradNorm' } as const;

/** The learned optimizer a variant describes (GD included: then it has no modules). */
export function paperLearned(c: VariantConfig): LearnedOptimizer<PaperState> {
  const modules = [...(c.update ? ['update'] : []), ...(c.tele ? ['tele'] : [])];
  return {
    name: c.name ?? 'paper',
    modules,
    usesSinks: true,
    init(rng: Stream, task: TaskShape): MetaParams {
      const s = moduleSpecs(c, task);
      const out: MetaParams = {};
      // update first: LSTM(update) and LSTM(update,tele) then start from the same update LSTM
      if (s.update) out.update = zeroHeads(c, 'update', initLstm(s.update, rng));
      if (s.tele) out.tele = zeroHeads(c, 'tele', initLstm(s.tele, rng));
      return out;
    },
    optimizer(meta: MetaParams, task: Task, sinks: Sinks = {}): Optimizer<PaperState> {
      const specs = moduleSpecs(c, task);
      const groups = task.symmetry?.groupSizes ?? [];
      const dirKind = c.tele && c.tele.direction !== 'none' ? DIRECTION_KIND[c.tele.direction] : null;
      if (dirKind !== null && !task.symmetry!.directionKinds.includes(dirKind)) throw new Error(`${c.name ?? 'paper'}: the task has no "${dirKind}" direction`);
      if (c.tele?.inverse === 'device' && c.tele.action === 'inverse' && !(c.tele.magnitude < 1)) {
        throw new Error(`${c.name ?? 'paper'}: tele.inverse "device" needs tele.magnitude < 1 (Newton-Schulz converges for ||g - I|| < 1), got ${c.tele.magnitude}`);
      }
      return {
        name: c.name ?? 'paper',
        init(params) {
          const B = params[0].shape[0];
          const update = specs.update ? zeroLstmState(specs.update, B) : null;
          const tele = specs.tele ? zeroLstmState(specs.tele, B) : null;
          return { step: 0, update, tele, tensors: [...(update ? lstmStateTensors(update) : []), ...(tele ? lstmStateTensors(tele) : [])] };
        },
        step(params, rawGrads, st) {
          const stats: StepStats = {};
          if (!specs.update && !specs.tele) {
            const next = params.map((w, i) => tf.sub(w, tf.mul(c.lr, rawGrads[i])));
            return { params: next, state: { ...st, step: st.step + 1, tensors: [] } };
          }
          // first order: the gradient input is a constant, and the backward never visits what made it
          const constant = (gs: readonly tf.Tensor[]) => (c.secondOrder ? [...gs] : gs.map((g) => detach(g)));
          let grads = constant(rawGrads);
          let gflat = flat(grads);
          let features = preprocess(gflat, c.preprocess);
          let ws: tf.Tensor[] = [...params];
          const order = c.tele?.order;
          const before = order === 'before' || (order === 'first' && st.step === 0);
          // Both LSTMs on the same features (first order, with sinks, teleport after the update),
          // when the pair flag is on: one step of the pair (src/nn/lstm.ts lstmPairStep: the same
          // numbers, half the elementwise kernels); otherwise each alone.
          const usePair = lstmPairEnabled() && !!(specs.update && specs.tele && c.update && !c.secondOrder && sinks.update && sinks.tele && !before);
          let update = st.update;
          let tele = st.tele;
          let pair: LstmState | null = null;
          if (st.pair && !usePair) [update, tele] = unpairState(st.pair, specs.update!.hidden, specs.tele!.hidden);
          let teleHeads: Record<string, tf.Tensor2D> | null = null;
          let updateHeads: Record<string, tf.Tensor2D> | null = null;
          if (usePair) {
            const r = lstmPairStep(
              { params: meta.update, spec: specs.update!, sink: sinks.update! },
              { params: meta.tele, spec: specs.tele!, sink: sinks.tele! },
              features,
              st.pair ?? pairState(st.update!, st.tele!),
            );
            [updateHeads, teleHeads] = r.heads;
            pair = r.state;
            update = null;
            tele = null;
          } else if (specs.tele && tele) {
            const r = lstmStep(meta.tele, specs.tele, features, tele, '', !c.secondOrder, sinks.tele);
            tele = r.state;
            teleHeads = r.heads;
          }
          // g_t from the gradient at w_t, applied to `at`: w_t ('before') or w_t + f_t ('after')
          const teleport = (at: readonly tf.Tensor[]): tf.Tensor[] => {
            const sym = task.symmetry!;
            const dirs =
              dirKind !== null ? directionOf(sym, params, grads, st.step, dirKind).map((d) => (c.secondOrder ? d : detach(d))) : null;
            // the fused group element where the meta-gradient differentiates it once (first order)
            const { ts, dist } = groupElements(c.tele!, teleHeads!, dirs, groups, !c.secondOrder);
            const B = ts[0].shape[0];
            const gs = ts.map((t) => identityPlus(t) as tf.Tensor3D);
            stats.teleDist = dist;
            // 'linear': the reference's first-order stand-in W (I - T) for W g^-1; 'device': an
            // on-device Newton-Schulz inverse (the task's own is a float64 host inverse)
            const tc = c.tele!;
            const inverses =
              tc.action === 'linear'
                ? ts.map((t, m) => tf.sub(tf.eye(groups[m], groups[m], [B]), t) as tf.Tensor3D)
                : tc.inverse === 'device'
                  ? gs.map((g) => invNearIdentity(g, { maxNorm: tc.magnitude }) as tf.Tensor3D)
                  : undefined;
            return sym.act(at, gs, st.step, inverses);
          };
          if (before && teleHeads) {
            ws = teleport(ws);
            grads = constant(task.lossAndGrads(ws, st.step).grads);
            gflat = flat(grads);
            features = preprocess(gflat, c.preprocess);
          }
          if (c.update && specs.update && (update || updateHeads)) {
            const u = c.update;
            let heads = updateHeads;
            if (!heads) {
              const r = lstmStep(meta.update, specs.update, features, update!, '', !c.secondOrder, sinks.update);
              update = r.state;
              heads = r.heads;
            }
            let f: tf.Tensor2D = heads.f;
            if (u.outputScale !== 1) f = tf.mul(f, u.outputScale);
            if (u.clamp > 0) f = tf.clipByValue(f, -u.clamp, u.clamp);
            if (u.gdSkip !== 0) {
              const eta = u.lrScaleRange > 0 ? tf.mul(u.gdSkip, tf.exp(tf.mul(u.lrScaleRange, tf.tanh(heads.s)))) : tf.scalar(u.gdSkip);
              if (u.lrScaleRange > 0) stats.eta = tf.reshape(eta, [-1]) as tf.Tensor1D;
              f = tf.sub(f, tf.mul(gflat, eta));
            }
            stats.updateNorm = tf.sqrt(tf.sum(tf.square(f), 1)) as tf.Tensor1D;
            const fs = unflat(f, task.paramShapes);
            ws = ws.map((w, i) => tf.add(w, fs[i]));
          } else if (c.tele?.lrHead && teleHeads) {
            const h = c.tele.lrHead;
            const z = tf.reshape(teleHeads.lr, [-1]);
            const eta =
              h.param === 'clamp'
                ? tf.clipByValue(z, h.min, h.max)
                : tf.exp(tf.add(Math.log(h.min), tf.mul(tf.sigmoid(tf.add(z, logitOfLr(c.lr, h))), Math.log(h.max / h.min))));
            stats.eta = eta as tf.Tensor1D;
            const e = eta.reshape([-1, ...grads[0].shape.slice(1).map(() => 1)]);
            ws = ws.map((w, i) => tf.sub(w, tf.mul(e, grads[i])));
          }
          if (!before && teleHeads) ws = teleport(ws);
          const tensors = [...(update ? lstmStateTensors(update) : []), ...(tele ? lstmStateTensors(tele) : []), ...(pair ? lstmStateTensors(pair) : [])];
          return { params: ws, state: { step: st.step + 1, update, tele, pair, tensors, stats } };
        },
      };
    },
  };
}

/** Floats of an LSTM's parameters and of its largest tensor (the head or gate weights). */
function lstmFloats(s: LstmSpec): { floats: number; largest: number } {
  const H = s.hidden;
  const cells = (s.input + 3 * H + 2) * 4 * H;
  const heads = Object.values(s.heads).reduce((a, n) => a + (H + 1) * n, 0);
  return { floats: cells + heads, largest: Math.max(s.input * 4 * H, H * 4 * H, ...Object.values(s.heads).map((n) => H * n)) };
}

// Measured figures of the built-in variants (scripts/measure-preflight.ts on wasm, the paper's
// 20x20x20 regression, preset hidden sizes): seconds per held-out trajectory-step (forward),
// seconds per meta-training trajectory-step (B = 16, 100-step trajectories), and peak tensor
// bytes of one held-out step per problem parameter. They scale with the task only through its
// parameter count, so an estimate from them is an order of magnitude, not a promise.
const MEASURED = {
  GD: { evalSecondsPerStep: 1.9e-4, trainSecondsPerStep: 0, stepBytesPerParameter: 36 },
  update: { evalSecondsPerStep: 1.4e-3, trainSecondsPerStep: 1 / 721, stepBytesPerParameter: 198 },
  tele: { evalSecondsPerStep: 1.1e-3, trainSecondsPerStep: 1 / 1339, stepBytesPerParameter: 195 },
  'update+tele': { evalSecondsPerStep: 3.1e-3, trainSecondsPerStep: 1 / 292, stepBytesPerParameter: 375 },
};

/** Registration entry of the paper's family (config: VariantConfig without its name). */
export const paperEntry = {
  kind: 'paper',
  codec: VariantCodec,
  create: (c: VariantConfig): LearnedOptimizer => paperLearned(c) as unknown as LearnedOptimizer,
  description: 'paper section 5.2: whole-vector LSTM update (m1), LSTM teleport (m2), step-size head; GD when both are null',
  size: (c: VariantConfig, task: TaskShapeInfo): PartSize => {
    const s = moduleSpecs(c, task);
    const mods = [s.update, s.tele].filter((m): m is LstmSpec => m !== null).map(lstmFloats);
    const kind = c.update && c.tele ? 'update+tele' : c.update ? 'update' : c.tele ? 'tele' : 'GD';
    return { floats: mods.reduce((a, m) => a + m.floats, 0), largestTensor: Math.max(0, ...mods.map((m) => m.largest)), ...MEASURED[kind] };
  },
};
