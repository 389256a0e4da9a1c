// The small meta-training runs the crash soak kills and resumes (the test suite and the bench's
// `faults` section): the paper's regression task shrunk to 4x4 layers, a few batches of short
// trajectories, a checkpoint and a validation after every batch so kills land everywhere.
const TRAIN = { trajectories: 4, batch: 2, epochs: 2, trajectoryLength: 4, unroll: 2, evalEvery: 1, valTrajectories: 2 };

const base = {
  seed: 1,
  metaSeeds: [0],
  task: { kind: 'regression', widths: [4, 4, 4], samples: 4, slope: 0.1, seedScheme: 'stream' },
  heldout: { trajectories: 2, steps: 6 },
  checkpointEvery: 1,
  tableSteps: [1, 6],
  histogramEvery: 1,
};

/** One learned variant (and GD for the held-out table). */
export const FAULT_SINGLE: Record<string, unknown> = {
  ...base,
  variants: [{ preset: 'tuned/GD' }, { preset: 'tuned/LSTM(update)', learned: { update: { hidden: 4 } }, train: TRAIN }],
};

/** A study of two learned variants: a kill can land in either unit, or between them. */
export const FAULT_STUDY: Record<string, unknown> = {
  ...base,
  variants: [...(FAULT_SINGLE.variants as unknown[]), { preset: 'tuned/LSTM(lr,tele)', train: TRAIN }],
};
