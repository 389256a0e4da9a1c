/** Sinks: TensorBoard event files, JSONL metrics, atomic file writes, progress reports. */
export * from './tensorboard.js';
export * from './jsonl.js';
export * from './atomic.js';
export * from './progress.js';
