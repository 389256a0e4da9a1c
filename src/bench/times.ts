// Bench section "times": where the time of one inner step of meta-training goes (timeKernels,
// src/bench/kernels.ts): wall time against the kernels' own, by kernel and by output size, per
// variant, recipe and B (default 1 and 16), and the learner's step per window. Figures only.
import type { Section, Figures } from './section.js';
import { timeKernels, timeLearnerStep, type Recipe, type VariantName } from './kernels.js';

const RUNS: [VariantName, Recipe][] = [
  ['LSTM(update,tele)', 'tuned'],
  ['LSTM(update,tele)', 'reference'],
  ['LSTM(update)', 'tuned'],
];

export const section: Section = {
  name: 'times',
  async run({ quick, batches }): Promise<Figures> {
    const byVariant: Record<string, Record<string, unknown>> = {};
    const learnerStepMs: Record<string, number> = {};
    for (const [variant, recipe] of quick ? RUNS.slice(2) : RUNS) {
      const key = `${variant} (${recipe})`;
      byVariant[key] = {};
      for (const B of batches ?? (quick ? [1] : [1, 16])) {
        const t = await timeKernels(variant, B, recipe);
        byVariant[key][String(B)] = t;
        process.stdout.write(`  ${key} B=${B}: ${t.wallMs} ms per inner step, kernels ${t.kernelMs}, products ${t.productMs}\n`);
      }
      learnerStepMs[key] = timeLearnerStep(variant, recipe);
    }
    return { windows: 2, repeats: 3, byVariant, learnerStepMs };
  },
};
