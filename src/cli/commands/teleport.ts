// `symtele teleport`: teleport a generated or saved MLP and report what changed.
// Without a config it runs the paper's 20x20 regression problem (section 5.2): loss and
// gradient norm before and after, one TensorBoard scalar per round, a JSON report.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import * as t from 'io-ts';
import * as tf from '@tensorflow/tfjs';
import { strict, withDefaults, optional, PositiveInt, oneOf } from '../../config/codec.js';
import { Backend, Seed, OutDir, MlpSpec } from '../../config/common.js';
import { registerConfig, registerPreflight } from '../../config/registry.js';
import { defaultLimits, describeEstimate, estimateProblems, formatBytes, outputPathProblems, throwProblems, type Estimate } from '../../config/preflight.js';
import { TeleportSettings, teleportOptions } from '../../teleport/config.js';
import { teleport } from '../../teleport/teleport.js';
import { gradNormSq, mlpLoss } from '../../nn/mlp.js';
import { stream } from '../../rng/index.js';
import { createSummaryWriter } from '../../logging/index.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { runCommand, loadConfigOrExit, useBackend, globalOptions } from '../run.js';

export const TeleportRunConfig = withDefaults(
  strict(
    {
      backend: optional(Backend),
      seed: Seed,
      out: OutDir,
      model: MlpSpec,
      /** 'uniform01': entries uniform in [0, 1) (the paper's regression); 'fanIn': U(-1/sqrt(fan_in), +). */
      init: oneOf(['uniform01', 'fanIn']),
      /** Columns of the generated data X (uniform [0, 1)) and regression targets Y. */
      samples: PositiveInt,
      /** A saved problem instead: JSON with weights, x, target (a case of shared/reference works). */
      from: optional(strict({ file: OutDir, case: optional(t.string) })),
      teleport: TeleportSettings,
    },
    'TeleportRunConfig',
  ),
  {
    seed: 0,
    out: 'logs/teleport',
    model: { dims: [20, 20, 20] },
    init: 'uniform01',
    samples: 20,
    // a fixed-size step on the group: the gradient of this problem's gradient norm is ~1e10
    teleport: { objective: 'gradNorm', steps: 10, lr: 1, stepNorm: 0.05, kind: 'pinv' },
  },
);
export type TeleportRunConfig = t.TypeOf<typeof TeleportRunConfig>;
registerConfig('teleport', TeleportRunConfig, 'symtele teleport: a teleport on a generated or saved MLP');

/** Float32 copies alive at once in a teleport, per weight (weights, gradients, the moved ones, updates) and per group entry (g, its inverse, expm terms, pinv). */
const COPIES_PER_WEIGHT = 6;
const COPIES_PER_GROUP_ENTRY = 10;
/** tfjs indexes a tensor's data with int32. */
const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Memory of a teleport on the generated MLP, from `model.dims` and `samples` (a problem read from a file has its own sizes). */
export function teleportEstimate(cfg: TeleportRunConfig): Estimate {
  const d = cfg.model.dims;
  const weights = d.slice(1).reduce((a, n, i) => a + n * d[i]!, 0);
  const group = d.slice(1, -1).reduce((a, n) => a + n * n, 0);
  const activations = d.reduce((a, n) => a + n, 0) * cfg.samples;
  const parts: [string, number][] = [
    [`weights ${weights.toExponential(2)} x ${COPIES_PER_WEIGHT} copies`, 4 * weights * COPIES_PER_WEIGHT],
    [`group elements ${group.toExponential(2)} x ${COPIES_PER_GROUP_ENTRY} copies`, 4 * group * COPIES_PER_GROUP_ENTRY],
    [`activations ${activations.toExponential(2)} x 4 copies`, 4 * activations * 4],
  ];
  const flops = cfg.teleport.steps * (6 * weights * cfg.samples + 10 * group * Math.max(...d));
  return {
    bytes: parts.reduce((a, [, b]) => a + b, 0),
    seconds: flops / 1e9,
    memory: parts.map(([what, b]) => `${what} = ${formatBytes(b)}`),
    time: [`teleport: ${cfg.teleport.steps} steps`],
  };
}

/** The problems of a generated model's sizes (none for a problem read from a file). */
function teleportSizeProblems(cfg: TeleportRunConfig, e: Estimate): string[] {
  if (cfg.from) return [];
  const d = cfg.model.dims;
  const largest = Math.max(...d.slice(1).map((n, i) => n * d[i]!), ...d.slice(1, -1).map((n) => n * n), d[0]! * cfg.samples);
  const tooLarge = largest > MAX_TENSOR_ELEMENTS ? [`model.dims: a ${largest.toExponential(2)}-entry matrix, above the ${MAX_TENSOR_ELEMENTS} entries one tensor can hold`] : [];
  return [...tooLarge, ...estimateProblems(e, defaultLimits()).map((p) => p.replace(/^sizes:/, `model.dims: ${JSON.stringify(d)} with ${cfg.samples} samples,`))];
}

registerPreflight<TeleportRunConfig>('teleport', (cfg, source) => {
  const e = teleportEstimate(cfg);
  throwProblems(source, [...outputPathProblems([{ field: 'out', path: cfg.out, kind: 'dir' }]), ...teleportSizeProblems(cfg, e)]);
  return cfg.from ? '' : describeEstimate(e);
});

interface Problem {
  ws: tf.Tensor2D[];
  x: tf.Tensor2D;
  target: tf.Tensor;
  loss: 'mse' | 'ce';
  slope: number;
}

function loadProblem(file: string, caseName: string | undefined, cfg: TeleportRunConfig): Problem {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read problem file ${file}: ${(e as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : [raw];
  const c = (caseName ? list.find((q) => q && q.name === caseName) : list[0]) as Record<string, unknown> | undefined;
  if (!c) throw new Error(`${file}: no case named "${caseName}"`);
  const need = (k: string) => {
    if (!(k in c)) throw new Error(`${file}: expected a field "${k}" (weights: number[][][], x: number[][], target)`);
    return c[k];
  };
  const loss = (c.loss as 'mse' | 'ce' | undefined) ?? cfg.model.loss;
  const target = need('target') as number[][] | number[];
  return {
    ws: (need('weights') as number[][][]).map((w) => tf.tensor2d(w)),
    x: tf.tensor2d(need('x') as number[][]),
    target: loss === 'ce' ? tf.tensor1d(target as number[], 'int32') : tf.tensor2d(target as number[][]),
    loss,
    slope: (c.activation as { leakyReluSlope?: number } | undefined)?.leakyReluSlope ?? cfg.model.activation.leakyReluSlope,
  };
}

function generateProblem(cfg: TeleportRunConfig): Problem {
  const dims = cfg.model.dims;
  const r = stream(cfg.seed, 'teleport', 'init');
  const ws = dims.slice(0, -1).map((d, i) => {
    const b = cfg.init === 'uniform01' ? [0, 1] : [-1 / Math.sqrt(d), 1 / Math.sqrt(d)];
    return tf.tensor2d(r.uniformArray(dims[i + 1] * d, b[0], b[1]), [dims[i + 1], d]);
  });
  const k = cfg.samples;
  const x = tf.tensor2d(r.uniformArray(dims[0] * k), [dims[0], k]);
  const out = dims[dims.length - 1];
  const target =
    cfg.model.loss === 'ce'
      ? tf.tensor1d(Array.from({ length: k }, () => r.int(out)), 'int32')
      : tf.tensor2d(r.uniformArray(out * k), [out, k]);
  return { ws, x, target, loss: cfg.model.loss, slope: cfg.model.activation.leakyReluSlope };
}

/** Run one teleport as configured; writes report.json, weights.json and TensorBoard scalars. */
export function runTeleport(cfg: TeleportRunConfig, log: (s: string) => void = (s) => process.stdout.write(s + '\n')) {
  const p = cfg.from ? loadProblem(cfg.from.file, cfg.from.case, cfg) : generateProblem(cfg);
  const o = { loss: p.loss, slope: p.slope };
  const gn = (ws: tf.Tensor[]) => tf.tidy(() => gradNormSq(ws, p.x, p.target, o).dataSync()[0]);
  const loss = (ws: tf.Tensor[]) => tf.tidy(() => mlpLoss(ws, p.x, p.target, o).dataSync()[0]);
  const before = { loss: loss(p.ws), gradNormSq: gn(p.ws) };
  const t0 = performance.now();
  const r = teleport(p.ws, p.x, p.target, teleportOptions(cfg.teleport, { ...o, rng: stream(cfg.seed, 'teleport', 'objective') }));
  const seconds = (performance.now() - t0) / 1000;
  const after = { loss: loss(r.weights), gradNormSq: gn(r.weights) };

  fs.mkdirSync(cfg.out, { recursive: true });
  const tb = createSummaryWriter(cfg.out);
  tb.text('config', '```json\n' + JSON.stringify(cfg, null, 2) + '\n```', 0);
  r.rounds.forEach((q, i) => {
    tb.scalar('teleport/objective', q.objective, i);
    if (Number.isFinite(q.loss)) tb.scalar('teleport/loss', q.loss, i);
    tb.scalar('teleport/drift', q.drift, i);
    q.distanceFromIdentity.forEach((d, m) => tb.scalar(`teleport/g_minus_I/layer${m}`, d, i));
  });
  tb.close();
  const report = {
    objective: cfg.teleport.objective,
    direction: cfg.teleport.direction,
    seconds,
    before,
    after,
    objectiveBefore: r.objectiveBefore,
    objectiveAfter: r.objectiveAfter,
    stoppedEarly: r.stoppedEarly,
    rounds: r.rounds,
  };
  writeJsonAtomic(path.join(cfg.out, 'report.json'), report);
  writeJsonAtomic(path.join(cfg.out, 'weights.json'), { weights: r.weights.map((w) => w.arraySync()), x: p.x.arraySync(), target: p.target.arraySync(), loss: p.loss });
  log(`teleport (${cfg.teleport.objective}, ${cfg.teleport.direction}, ${r.rounds.length} rounds, ${seconds.toFixed(2)} s)`);
  log(`  loss            ${before.loss.toPrecision(6)} -> ${after.loss.toPrecision(6)}`);
  log(`  ||grad L||^2    ${before.gradNormSq.toPrecision(6)} -> ${after.gradNormSq.toPrecision(6)}`);
  log(`  objective       ${r.objectiveBefore.toPrecision(6)} -> ${r.objectiveAfter.toPrecision(6)}`);
  log(`  report: ${path.join(cfg.out, 'report.json')}; TensorBoard: tensorboard --logdir ${cfg.out}`);
  tf.dispose([...p.ws, p.x, p.target, ...r.weights]);
  return report;
}

export function register(program: Command): void {
  program
    .command('teleport')
    .description('teleport an MLP (generated, or loaded with from.file) and report loss / gradient norm before and after')
    .option('--config <file>', 'JSON config (symtele config defaults teleport shows every field)')
    .option('--out <dir>', 'output directory for the report and TensorBoard logs')
    .action(
      runCommand(async (opts: { config?: string; out?: string }, cmd: Command) => {
        const cfg = await loadConfigOrExit(TeleportRunConfig, opts.config, { out: opts.out, seed: globalOptions(cmd).seed });
        await useBackend(cmd, cfg.backend);
        runTeleport(cfg);
      }),
    );
}
