// `symtele run teleport-generalization`: teleport once to change sharpness or curvature (Figure 4).
import type { Command } from 'commander';
import { TeleportGeneralizationConfig, runTeleportGeneralization } from '../../studies/generalization/teleport-generalization.js';
import { runCommand, useBackend } from '../run.js';
import { loadPresetConfigOrExit, RUN_DEFAULT_PRESET } from './_preset.js';
import { studyOptions, studyOverrides, type StudyFlags } from './_study.js';

const EXPERIMENT = 'teleport-generalization';

export function register(run: Command): void {
  const command = run
    .command(EXPERIMENT)
    .description('SGD with one teleport near convergence to raise / lower sharpness φ or curvature ψ; five arms × runs (paper Figure 4)');
  studyOptions(command, EXPERIMENT, {
    dataset: 'mnist | fashion-mnist | cifar10 (the paper uses CIFAR-10)',
    preset: 'the paper, CIFAR-10, 5 runs, teleport at epoch 20 with 5 batches of 2000',
    out: 'output directory (results.json, plots, TensorBoard)',
  }).action(
    runCommand(async (o: StudyFlags, cmd: Command) => {
      const cfg = await loadPresetConfigOrExit(TeleportGeneralizationConfig, EXPERIMENT, RUN_DEFAULT_PRESET, o, studyOverrides(EXPERIMENT, o, cmd));
      // the arms x runs lockstep after the teleport is the largest
      await useBackend(cmd, cfg.backend, { kind: 'classifierEpoch', batch: cfg.arms.length * cfg.runs });
      await runTeleportGeneralization(cfg);
    }),
  );
}
