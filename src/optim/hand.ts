/**
 * Hand-designed optimizers as values of the `Optimizer` interface: `optimizer(config)` gives
 * a pair of pure functions over an explicit `OptimizerState`.
 *
 *     const opt = optimizer({ name: 'adam', lr: 1e-3 });
 *     let state = opt.init(params);
 *     const next = opt.step(params, grads, state);   // new tensors; inputs untouched
 *     tf.dispose(params); disposeState(state);        // the caller disposes what it no longer needs
 *     ({ params, state } = next);
 */
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from './types.js';
import { resolveOptimizerConfig, type OptimizerConfig, type OptimizerInput } from './config.js';
import { SLOTS, slotNames, type OptimizerState, type SlotName } from './state.js';
import { adagradRule, adamRule, rmspropRule, sgdRule, type Rule, type Slots } from './rules.js';

/** A hand-designed optimizer; `config` is the complete config (torch's defaults filled in). */
export interface HandOptimizer extends Optimizer<OptimizerState> {
  readonly name: OptimizerConfig['name'];
  readonly config: OptimizerConfig;
}

function ruleOf(c: OptimizerConfig): Rule {
  switch (c.name) {
    case 'sgd':
    case 'momentum':
      return sgdRule(c);
    case 'adagrad':
      return adagradRule(c);
    case 'rmsprop':
      return rmspropRule(c);
    case 'adam':
      return adamRule(c);
  }
}

function checkShapes(what: string, params: readonly tf.Tensor[], others: readonly tf.Tensor[]): void {
  if (others.length !== params.length) {
    throw new Error(`${what}: expected ${params.length} tensors (one per parameter), got ${others.length}`);
  }
  others.forEach((x, i) => {
    if (!tf.util.arraysEqual(x.shape, params[i]!.shape)) {
      throw new Error(`${what}[${i}]: expected shape [${params[i]!.shape}], got [${x.shape}]`);
    }
  });
}

/**
 * The optimizer a config describes. The config is decoded first (a ConfigError lists every bad
 * or unknown key); hyper-parameters left out take PyTorch's defaults.
 */
export function optimizer(input: OptimizerInput): HandOptimizer {
  const config = resolveOptimizerConfig(input);
  const rule = ruleOf(config);
  const slotOrder = Object.keys(SLOTS) as SlotName[];

  const init = (params: tf.Tensor[]): OptimizerState => {
    const perParam = params.map((p) => rule.init(p));
    const slots: { [K in SlotName]?: tf.Tensor[] } = {};
    for (const k of slotOrder) if (perParam.length > 0 && perParam[0]![k] !== undefined) slots[k] = perParam.map((s) => s[k]!);
    return { step: 0, slots };
  };

  const step = (params: tf.Tensor[], grads: tf.Tensor[], state: OptimizerState) => {
    checkShapes(`${config.name}: grads`, params, grads);
    const names = slotNames(state);
    for (const k of names) checkShapes(`${config.name}: state.slots.${k}`, params, state.slots[k]!);
    const n = state.step + 1;
    const inputs = new Set<tf.Tensor>([...params, ...grads, ...names.flatMap((k) => state.slots[k]!)]);
    // Every returned tensor must be new: the caller disposes the old params and state.
    const fresh = (x: tf.Tensor) => (inputs.has(x) ? tf.clone(x) : x);
    const out = tf.tidy(() =>
      params.map((p, i) => {
        const s: Slots = {};
        for (const k of names) s[k] = state.slots[k]![i];
        const r = rule.update(p, grads[i]!, s, n);
        const slots: Slots = {};
        for (const k of slotOrder) if (r.slots[k] !== undefined) slots[k] = fresh(r.slots[k]!);
        return { param: fresh(r.param), slots } as { param: tf.Tensor; slots: Record<string, tf.Tensor> };
      }),
    );
    const slots: { [K in SlotName]?: tf.Tensor[] } = {};
    for (const k of slotOrder) if (out.length > 0 && out[0]!.slots[k] !== undefined) slots[k] = out.map((o) => o.slots[k]!);
    return { params: out.map((o) => o.param), state: { step: n, slots } };
  };

  return { name: config.name, config, init, step };
}
